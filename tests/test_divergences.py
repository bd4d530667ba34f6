"""gan_lessons.theory, numeric part (KL, JSD, W1), and the divergences experiment (chapter "Divergences")."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_lessons import data, fixed_game, theory
from gan_lessons.experiments import divergences

X = theory.grid(-20.0, 20.0)


@pytest.mark.parametrize("m1, s1, m2, s2", [(0, 1, 1, 2), (0, 1, 0, 1), (-1, 0.5, 2, 1.5), (3, 2, 0, 0.7)])
def test_kl_of_gaussians_integrated_matches_closed_form(m1, s1, m2, s2):
    got = theory.kl_divergence(data.gaussian_1d(m1, s1), data.gaussian_1d(m2, s2), X)
    assert got == pytest.approx(theory.kl_gaussians(m1, s1, m2, s2), abs=1e-7)


def test_kl_gaussians_by_hand():
    assert theory.kl_gaussians(0, 1, 2, 1) == pytest.approx(2.0)  # theta^2 / 2
    assert theory.kl_gaussians(0, 1, 0, 2) == pytest.approx(math.log(2) + 1 / 8 - 0.5)
    assert theory.kl_gaussians(0, 1, 0, 1) == 0.0


@pytest.mark.parametrize("m1, s1, m2, s2", [(0, 1, 1, 2), (0, 1, 3, 1), (-1, 0.5, 2, 1.5), (0, 1, 0, 2)])
def test_w1_integrated_matches_closed_form(m1, s1, m2, s2):
    got = theory.wasserstein1(data.gaussian_1d(m1, s1), data.gaussian_1d(m2, s2), X)
    assert got == pytest.approx(theory.wasserstein1_gaussians(m1, s1, m2, s2), abs=1e-6)


def test_w1_gaussians_by_hand():
    assert theory.wasserstein1_gaussians(0, 1, 3, 1) == 3.0  # equal widths: |shift|
    assert theory.wasserstein1_gaussians(0, 1, 0, 2) == pytest.approx(math.sqrt(2 / math.pi))  # E|Z|
    # folded normal by Monte Carlo: E|1 + Z| with Z ~ N(0, 1)
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert theory.wasserstein1_gaussians(0, 1, 1, 2) == pytest.approx(np.abs(1 + z).mean(), abs=3e-3)


def test_jsd_bounds_symmetry_and_limits():
    p, q = data.gaussian_1d(0, 1), data.gaussian_1d(1, 0.5)
    pq, qp = theory.js_divergence(p, q, X), theory.js_divergence(q, p, X)
    assert pq == pytest.approx(qp, abs=1e-12) and 0 < pq < math.log(2)
    assert theory.js_divergence(p, p, X) == pytest.approx(0.0, abs=1e-12)
    far = theory.js_divergence(p, data.gaussian_1d(60, 1), theory.grid(-20, 80, 100_001))
    assert far == pytest.approx(math.log(2), abs=1e-9)
    # JSD <= min(KL(p||q), KL(q||p)) / ... a known bound: JSD <= KL(p||q) / 4 + KL(q||p) / 4
    assert pq <= (theory.kl_divergence(p, q, X) + theory.kl_divergence(q, p, X)) / 4 + 1e-9


def test_discrete_divergences_by_hand():
    assert theory.kl_divergence_discrete([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert theory.kl_divergence_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert theory.kl_divergence_discrete([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert theory.js_divergence_discrete([1, 0], [0, 1]) == pytest.approx(math.log(2))
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): m = (1/4, 1/2, 1/4): JSD = 1/2 (1/2 log 2) * 2 = log 2 / 2
    assert theory.js_divergence_discrete([0.5, 0.5, 0], [0, 0.5, 0.5]) == pytest.approx(math.log(2) / 2)


def test_shifted_uniform_closed_forms():
    x = theory.grid(-1.0, 4.0, 50_001)
    p = lambda t: ((t >= 0) & (t <= 1)).astype(float)
    for theta in (0.5, 2.0):
        q = lambda t, s=theta: ((t >= s) & (t <= s + 1)).astype(float)
        assert theory.js_divergence(p, q, x) == pytest.approx(min(theta, 1) * math.log(2), abs=2e-3)
        assert theory.wasserstein1(p, q, x) == pytest.approx(theta, abs=2e-3)


def test_sample_estimates_converge():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 200_000), rng.normal(1, 1, 200_000)
    assert theory.wasserstein1_samples(x, y) == pytest.approx(1.0, abs=0.01)
    assert theory.wasserstein1_samples([0.0, 1.0], [2.0, 5.0]) == pytest.approx((2 + 4) / 2)  # sorted pairs
    exact = theory.js_divergence(data.gaussian_1d(0, 1), data.gaussian_1d(1, 1), X)
    assert theory.js_divergence_samples(x, y, bins=200) == pytest.approx(exact, abs=0.01)
    assert theory.js_divergence_samples(torch.zeros(10), torch.ones(10), bins=2) == pytest.approx(math.log(2))


@pytest.mark.parametrize("call, error, match", [
    (lambda: theory.kl_gaussians(0, 0, 0, 1), ValueError, "positive number"),
    (lambda: theory.wasserstein1_gaussians(0, 1, 0, -1), ValueError, "positive number"),
    (lambda: theory.kl_divergence_discrete([0.5, 0.4], [0.5, 0.5]), ValueError, "sum to 1"),
    (lambda: theory.js_divergence_discrete([0.5, 0.5], [1.0]), ValueError, "same number of outcomes"),
    (lambda: theory.js_divergence_discrete([[0.5, 0.5]], [[0.5, 0.5]]), ValueError, "1D vector"),
    (lambda: theory.js_divergence_samples([], [1.0]), ValueError, "non-empty"),
    (lambda: theory.js_divergence_samples([1.0], [1.0], bins=0), ValueError, "bins"),
    (lambda: theory.wasserstein1_samples([np.nan], [1.0]), ValueError, "finite"),
    (lambda: theory.kl_divergence(data.gaussian_1d(), lambda x: -np.ones_like(x), X), ValueError, "non-negative"),
    (lambda: theory.js_divergence(data.gaussian_1d(), 3.0, X), TypeError, "density"),
    (lambda: theory.wasserstein1(data.gaussian_1d(), data.gaussian_1d(), [0.0, 1.0]), ValueError, "at least 3"),
    (lambda: theory.grid(1.0, 0.0), ValueError, "lo < hi"),
    (lambda: theory.grid(0.0, 1.0, 2), ValueError, ">= 3"),
])
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_forward_kl_fit_is_moment_matching_and_reverse_seeks_a_mode():
    mu, sigma = divergences.fit_gaussian(divergences.BIMODAL, "forward")
    assert mu == pytest.approx(0.0, abs=1e-3) and sigma == pytest.approx(math.sqrt(4.25), abs=1e-3)
    mu, sigma = divergences.fit_gaussian(divergences.BIMODAL, "reverse")
    assert mu == pytest.approx(2.0, abs=0.01) and sigma == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="direction"):
        divergences.fit_gaussian(divergences.BIMODAL, "sideways")


def test_maximum_likelihood_fit_is_mean_and_biased_std():
    x = np.array([1.0, 2.0, 4.0, 5.0])
    mu, sigma = divergences.maximum_likelihood_fit(x)
    assert mu == pytest.approx(3.0, abs=1e-5) and sigma == pytest.approx(math.sqrt(2.5), abs=1e-5)


def test_jsd_properties_and_parallel_lines():
    props = divergences.jsd_properties(seed=0, pairs=200)
    assert props["max_asymmetry"] < 1e-12 and props["max_jsd_of_equal"] < 1e-12
    assert 0 < props["min_jsd"] and props["max_jsd"] < math.log(2)
    assert props["jsd_disjoint"] == pytest.approx(math.log(2))
    assert divergences.parallel_lines(0.0) == {"w1": 0.0, "jsd": 0.0, "kl": 0.0}
    assert divergences.parallel_lines(-0.1) == {"w1": 0.1, "jsd": math.log(2), "kl": math.inf}
    with pytest.raises(ValueError, match="finite"):
        divergences.parallel_lines(math.inf)


def test_narrow_family_saturates():
    fam = divergences.shifted_family(np.array([0.0, 2.0, -2.5]), 0.05)
    assert fam["jsd"][0] == pytest.approx(0.0, abs=1e-12)
    assert fam["jsd"][1:] == pytest.approx([math.log(2)] * 2, abs=1e-9)
    assert list(fam["w1"]) == [0.0, 2.0, 2.5] and fam["kl"][1] == pytest.approx(2.0**2 / (2 * 0.05**2))


@pytest.mark.slow
def test_trained_discriminator_measures_the_jsd(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    D, _ = fixed_game.train_discriminator(*divergences.shifted_pair(2.0), "test-shift-2", divergences.budget("quick"))
    row = divergences.jsd_estimate(2.0, D)
    assert row["value"] <= row["max_value"] + 1e-6  # no discriminator beats D*
    assert abs(row["jsd_estimate"] - row["jsd"]) < 0.02
    assert row["jsd"] == pytest.approx(theory.js_divergence(data.gaussian_1d(0, 1), data.gaussian_1d(2, 1), X))


def test_js_distance_is_a_metric_and_the_jsd_is_not():
    from scipy.spatial.distance import jensenshannon

    tri = divergences.triangle_inequality(seed=1, triples=300)
    assert tri["jsd_violations"] > 0 and tri["jsd_worst_gap"] < 0
    assert tri["js_distance_violations"] == 0 and tri["js_distance_worst_gap"] >= -1e-12
    p, q, r = (np.array(v) for v in divergences.COUNTER_EXAMPLE)
    jsd = theory.js_divergence_discrete
    assert tri["jsd_counter_example_gap"] == pytest.approx(jsd(p, q) + jsd(q, r) - jsd(p, r))
    # scipy's jensenshannon is the distance: the square root of the divergence (natural log)
    assert jensenshannon(p, q) == pytest.approx(math.sqrt(jsd(p, q)))
    assert theory.js_distance_discrete(p, q) == pytest.approx(jensenshannon(p, q))
    assert theory.js_distance_discrete(q, q) == 0.0
    with pytest.raises(ValueError, match="triples"):
        divergences.triangle_inequality(triples=0)
    with pytest.raises(ValueError, match="outcomes"):
        divergences.triangle_inequality(outcomes=1)
