"""gan_lessons.theory, symbolic part, and the optimal-discriminator experiment (chapter "The optimal discriminator")."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from gan_lessons import data, fixed_game, theory
from gan_lessons.experiments import optimal_d

a, b = sp.symbols("a b", positive=True)


def test_derivation_steps():
    d = theory.optimal_discriminator_derivation()
    D = sp.Symbol("D", positive=True)
    assert sp.simplify(d.solution - a / (a + b)) == 0
    assert sp.simplify(d.first_derivative - (a / D - b / (1 - D))) == 0
    assert sp.simplify(d.second_derivative_at_solution + (a + b) ** 3 / (a * b)) == 0
    # hand value at a = 1, b = 3: log(1/4) + 3 log(3/4)
    assert float(d.value_at_solution.subs({a: 1, b: 3})) == pytest.approx(math.log(0.25) + 3 * math.log(0.75))


@pytest.mark.parametrize("candidate, expected", [
    (a / (a + b), True),
    (lambda a, b: a / (a + b), True),
    (b / (a + b), False),          # the probability of "fake"
    (a / (a + 2 * b), False),      # wrong weights
    (sp.Rational(1, 2), False),    # a constant guess
    (a / b, False),                # the density ratio
])
def test_verify_optimal_discriminator_can_fail(candidate, expected):
    assert theory.verify_optimal_discriminator(candidate) is expected


def test_verify_optimal_discriminator_accepts_plain_symbols():
    x, y = sp.symbols("a b")  # no assumptions: matched by name
    assert theory.verify_optimal_discriminator(x / (x + y))
    assert not theory.verify_optimal_discriminator(y / (x + y))


def test_verify_optimal_discriminator_bad_input():
    with pytest.raises(ValueError, match="only use the symbols a and b"):
        theory.verify_optimal_discriminator(sp.Symbol("c") / (a + b))
    with pytest.raises(TypeError, match="sympy expression"):
        theory.verify_optimal_discriminator([a])


def test_virtual_training_criterion_is_exact():
    checks = theory.verify_virtual_training_criterion()
    assert checks["pointwise_difference"] == 0
    assert checks["d_star_at_equal_densities"] == sp.Rational(1, 2)
    assert sp.simplify(checks["value_at_equal_densities"] + sp.log(2)) == 0
    assert checks["discrete_difference"] == 0
    # by hand: p = (1/2, 1/3, 1/6), q = (1/6, 1/3, 1/2): C = 2 (1/2 log 3/4 + 1/6 log 1/4) + 2/3 log 1/2
    hand = 2 * (0.5 * math.log(0.75) + math.log(0.25) / 6) + 2 / 3 * math.log(0.5)
    assert float(checks["discrete_C"]) == pytest.approx(hand, abs=1e-12)


def test_discrete_value_at_optimum_by_hand_and_altered():
    c, jsd = theory.discrete_value_at_optimum([1, 0], [0, 1])  # disjoint: C = 0, JSD = log 2
    assert c == 0 and sp.simplify(jsd - sp.log(2)) == 0
    c, jsd = theory.discrete_value_at_optimum([sp.Rational(1, 2)] * 2, [sp.Rational(1, 2)] * 2)
    assert sp.simplify(c + sp.log(4)) == 0 and jsd == 0
    # an altered identity (C = -log 4 + JSD, without the 2) fails on the example
    c, jsd = theory.discrete_value_at_optimum([sp.Rational(1, 2), sp.Rational(1, 2)], [sp.Rational(1, 4), sp.Rational(3, 4)])
    assert sp.simplify(c - (-sp.log(4) + 2 * jsd)) == 0
    assert sp.simplify(c - (-sp.log(4) + jsd)) != 0


@pytest.mark.parametrize("p, q, match", [([0.5, 0.5], [1.0], "equal length"), ([0.5, 0.6], [0.5, 0.5], "sum to exactly 1"),
                                         ([1.5, -0.5], [0.5, 0.5], "non-negative")])
def test_discrete_value_at_optimum_bad_input(p, q, match):
    with pytest.raises(ValueError, match=match):
        theory.discrete_value_at_optimum(p, q)


def test_optimal_discriminator_values_by_hand():
    out = theory.optimal_discriminator_values(np.array([0.3, 0.0, 0.2, 0.0]), np.array([0.1, 0.5, 0.2, 0.0]))
    np.testing.assert_allclose(out, [0.75, 0.0, 0.5, 0.5])
    x = np.array([-1.0, 0.0, 1.0])
    d = theory.optimal_discriminator(data.gaussian_1d(0, 1), data.gaussian_1d(0, 1), x)
    np.testing.assert_allclose(d, 0.5)
    # N(0,1) vs N(1,1): logit of D* = log p - log q = (1 - 2x)/2 ... at x = 0: sigmoid(1/2)
    d = theory.optimal_discriminator(data.gaussian_1d(0, 1), data.gaussian_1d(1, 1), x)
    assert d[1] == pytest.approx(1 / (1 + math.exp(-0.5)))


def test_optimal_discriminator_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        theory.optimal_discriminator_values(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        theory.optimal_discriminator_values(np.array([-1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="increasing grid"):
        theory.optimal_discriminator(data.gaussian_1d(), data.gaussian_1d(), np.array([1.0, 0.0, 2.0]))
    with pytest.raises(TypeError, match="density"):
        theory.optimal_discriminator("p", data.gaussian_1d(), np.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="1D distribution"):
        theory.optimal_discriminator(data.ring(), data.gaussian_1d(), np.linspace(0, 1, 5))


def test_value_of_discriminator_at_d_star_is_the_jsd_formula():
    p, q = data.gaussian_1d(0, 1), data.gaussian_1d(1.5, 0.7)
    x = theory.grid(-12, 12)
    logit = (p.log_prob(x) - q.log_prob(x)).numpy()  # the logit of D* = log p_data - log p_g
    best = theory.value_of_discriminator(logit, p, q, x)
    assert best == pytest.approx(-math.log(4) + 2 * theory.js_divergence(p, q, x), abs=1e-8)
    assert theory.value_of_discriminator(logit + 0.3, p, q, x) < best  # any other D is worse
    assert theory.value_of_discriminator(np.zeros_like(x), p, q, x) == pytest.approx(-math.log(4), abs=1e-8)
    with pytest.raises(ValueError, match="one value per grid point"):
        theory.value_of_discriminator(np.zeros(3), p, q, x)


def test_fixed_distribution_generator_never_changes():
    G = fixed_game.FixedDistribution()
    z = torch.randn(5, 1)
    assert torch.equal(G(z), z)
    G(z).sum().backward()
    assert G.unused.grad is not None and float(G.unused.grad) == 0.0


def test_max_abs_error_only_where_the_data_live():
    p, q = optimal_d.PAIRS["gaussians"]
    x = np.array([-20.0, 0.0, 20.0])
    exact = theory.optimal_discriminator(p, q, x)
    wrong_in_tails = exact + np.array([0.5, 0.01, -0.5])
    assert optimal_d.max_abs_error(wrong_in_tails, p, q, x) == pytest.approx(0.01)


def test_train_discriminator_bad_steps():
    p, q = optimal_d.PAIRS["gaussians"]
    with pytest.raises(ValueError, match="multiple of 50"):
        fixed_game.train_discriminator(p, q, "x", {"explore_steps": 75, "refine_steps": 50, "batch_size": 8,
                                                   "refine_batch_size": 8})
    with pytest.raises(TypeError, match="budget must be"):
        fixed_game.train_discriminator(p, q, "x", {"explore_steps": 50})


@pytest.mark.slow
def test_trained_discriminator_approaches_d_star(tmp_path, monkeypatch):
    """The headline claim, on the Gaussian pair with a shortened budget: error well below the untrained one."""
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    p, q = optimal_d.PAIRS["gaussians"]
    x = optimal_d.GRID.double().numpy()
    b = optimal_d.budget(explore_steps=1000, refine_steps=200)
    D, history = fixed_game.train_discriminator(p, q, "test-gaussians", b, snapshots=2, grid=optimal_d.GRID)
    error = optimal_d.max_abs_error(optimal_d._sigmoid(fixed_game.discriminator_logits(D, x)), p, q, x)
    first = optimal_d.max_abs_error(optimal_d._sigmoid(history[0][1]), p, q, x)
    assert error < 0.05 < first
    again, _ = fixed_game.train_discriminator(p, q, "test-gaussians", b, snapshots=2,
                                              grid=optimal_d.GRID)  # from the run cache: bit-identical
    assert all(torch.equal(u, v) for u, v in zip(D.state_dict().values(), again.state_dict().values()))


# -- what each generator loss becomes against D* ---------------------------------------------------------------

def test_generator_losses_at_optimum_are_exact():
    checks = theory.verify_generator_losses_at_optimum()
    a, b = sp.symbols("a b", positive=True)
    assert checks["saturating_difference"] == 0
    assert checks["non_saturating_difference"] == 0
    assert checks["saturating_at_equal_densities"] == -sp.log(2)
    assert checks["non_saturating_at_equal_densities"] == sp.log(2)
    # with D = 1/2 the value does not depend on how the mass splits between a and b: no move of G helps
    assert sp.simplify(checks["value_with_d_one_half"] + (a + b) * sp.log(2)) == 0


def test_generator_penalty_matches_the_kl_forms():
    p_data, p_g = data.mixture_1d([-2.0, 2.0], 0.5), data.gaussian_1d(0.5, 1.0)
    x = theory.grid(-12.0, 12.0, 8001)
    m = lambda t: 0.5 * (p_data.pdf(t).numpy() + p_g.pdf(t).numpy())
    kl_gm = theory.kl_divergence(p_g, m, x)
    assert theory.generator_penalty(p_data, p_g, x, "saturating") == pytest.approx(kl_gm, abs=1e-8)
    assert theory.generator_penalty(p_data, p_g, x, "non-saturating") == pytest.approx(
        theory.kl_divergence(p_g, p_data, x) - kl_gm, abs=1e-8)
    for loss in ("saturating", "non-saturating"):
        assert theory.generator_penalty(p_data, p_data, x, loss) == pytest.approx(0.0, abs=1e-10)


def test_generator_penalty_discrete_by_hand_and_the_cap():
    pen = theory.generator_penalty_discrete
    assert pen([0.5, 0.5], [1.0, 0.0], "saturating") == pytest.approx(math.log(4 / 3))
    assert pen([0.5, 0.5], [1.0, 0.0], "non-saturating") == pytest.approx(math.log(3 / 2))
    assert pen([1.0, 0.0], [0.5, 0.5], "non-saturating") == math.inf  # mass where there are no data
    # the saturating loss charges at most log 2 per unit of generated mass, however unrealistic the sample
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.full(6, 0.2), size=2)
    terms = theory.generator_penalty_terms(a, b, "saturating")
    assert np.all(terms <= b * math.log(2) + 1e-12)
    assert pen(a, b, "saturating") >= 0 and pen(a, b, "non-saturating") >= 0


@pytest.mark.parametrize("call, match", [
    (lambda: theory.generator_penalty_discrete([0.5, 0.5], [1.0, 0.0], "minimax"), "loss must be one of"),
    (lambda: theory.generator_penalty_discrete([0.5, 0.5], [1.0, 0.0, 0.0], "saturating"), "same number"),
    (lambda: theory.generator_penalty_discrete([0.5, 0.6], [1.0, 0.0], "saturating"), "sum to 1"),
    (lambda: theory.generator_penalty_terms(np.ones(3), np.ones(2), "saturating"), "same shape"),
    (lambda: theory.generator_penalty_terms(np.array([1.0, np.nan]), np.ones(2), "saturating"), "finite"),
    (lambda: optimal_d.wrong_generator("unrealistic", 0.7), "eps must be a mass"),
    (lambda: optimal_d.wrong_generator("lost", 0.2), "kind must be"),
])
def test_generator_penalty_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_saturating_loss_charges_unrealistic_samples_more():
    """The chapter's claim, at every mass of the sweep: the non-saturating loss charges samples between the modes
    several times what it charges a missed mode; the saturating loss does not keep one order."""
    pen = optimal_d.generator_penalties()
    ns, sat = ({kind: pen[kind][loss] for kind in pen} for loss in ("non-saturating", "saturating"))
    assert all(u > 2 * m for u, m in zip(ns["unrealistic"], ns["mode-missing"]))
    assert sat["unrealistic"][0] > sat["mode-missing"][0] and sat["unrealistic"][-1] < sat["mode-missing"][-1]
    assert all(np.diff(pen["unrealistic"]["non-saturating"]) > 0)  # more wrong mass costs more
    terms = optimal_d.penalty_terms("mode-missing", 0.5)
    far_right = terms["x"] > 1.5
    assert np.all(np.abs(terms["non-saturating"][far_right]) < 1e-3)  # the missed mode itself costs nothing


def test_a_linear_discriminator_only_teaches_the_mean(tmp_path, monkeypatch):
    """Direct vs indirect matching, with a shortened budget: against logistic regression the generator's mean
    reaches the data's and D cannot tell them apart, yet most samples sit between the modes."""
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    b = optimal_d.budget(match_steps=800)
    linear = optimal_d.matching_summary(optimal_d.train_matching(0, b))
    assert abs(linear["mean"] - linear["data_mean"]) < 0.4
    assert linear["max_d_gap"] < 0.1
    assert linear["middle"] > 0.5 > 0.1 > linear["data_middle"]
    assert linear["samples"].shape == (20_000,) and linear["d"].shape == linear["x"].shape
