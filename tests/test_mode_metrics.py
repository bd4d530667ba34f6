"""Mode-collapse metrics (``gan_lessons.metrics``, top section): sample sets with answers computed by hand."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import data
from gan_lessons.metrics import mode_collapse_metrics, mode_histogram, nearest_modes, reverse_kl_to_uniform

RING = data.ring(n_modes=8, radius=2.0, std=0.1)  # modes at 2 (cos 45 k deg, sin 45 k deg); HQ radius 0.3
GRID = data.grid(n=5, spacing=2.0, std=0.05)  # modes at {-4, -2, 0, 2, 4}^2; HQ radius 0.15


def ring_mode(k: int, offset: tuple[float, float] = (0.0, 0.0)) -> list[float]:
    a = 2 * math.pi * k / 8
    return [2 * math.cos(a) + offset[0], 2 * math.sin(a) + offset[1]]


def test_all_samples_on_one_mode():
    x = torch.tensor([ring_mode(3)] * 10)
    m = mode_collapse_metrics(x, RING)
    assert m == {"modes": 1, "hq_fraction": 1.0, "reverse_kl": pytest.approx(math.log(8))}


def test_evenly_spread_over_every_mode():
    x = torch.tensor([ring_mode(k, (0.05, -0.05)) for k in range(8)] * 3)  # 3 per mode, 0.07 from its centre
    m = mode_collapse_metrics(x, RING)
    assert m["modes"] == 8 and m["hq_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert mode_histogram(x, RING).tolist() == [3] * 8


def test_all_samples_far_from_every_mode():
    x = torch.zeros(5, 2)  # the centre of the ring: 2 away from every mode, far beyond 3 std = 0.3
    m = mode_collapse_metrics(x, RING)
    assert m == {"modes": 0, "hq_fraction": 0.0, "reverse_kl": pytest.approx(math.log(8))}


def test_two_modes_half_and_half():
    x = torch.tensor([ring_mode(0)] * 4 + [ring_mode(5)] * 4)
    # p = (1/2, 1/2) on 2 of 8 modes: KL = 2 * 1/2 * log(1/2 * 8) = log 4
    assert mode_collapse_metrics(x, RING)["reverse_kl"] == pytest.approx(math.log(4))


def test_mixed_sample_set():
    # 3 HQ samples on mode 0, 1 HQ on mode 2, 4 far away (between modes, 0.77 from the nearest)
    far = [[2 * math.cos(math.pi / 8), 2 * math.sin(math.pi / 8)]] * 4
    x = torch.tensor([ring_mode(0)] * 3 + [ring_mode(2, (0.0, 0.2))] + far)
    m = mode_collapse_metrics(x, RING)
    assert m["modes"] == 2
    assert m["hq_fraction"] == 0.5
    # p = (3/4, 1/4): KL = 3/4 log(3/4 * 8) + 1/4 log(1/4 * 8) = 3/4 log 6 + 1/4 log 2
    assert m["reverse_kl"] == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2))


def test_the_three_standard_deviation_boundary():
    x = torch.tensor([ring_mode(1, (0.29, 0.0)), ring_mode(1, (0.31, 0.0))])
    idx, hq = nearest_modes(x, RING)
    assert idx.tolist() == [1, 1] and hq.tolist() == [True, False]


def test_grid_nearest_modes():
    x = torch.tensor([[-4.0, -4.0], [4.1, 3.95], [0.9, 0.0], [0.0, 2.0]])
    idx, hq = nearest_modes(x, GRID)
    centres = GRID.centres()
    assert centres[idx].tolist() == [[-4.0, -4.0], [4.0, 4.0], [0.0, 0.0], [0.0, 2.0]]
    assert hq.tolist() == [True, True, False, True]  # (0.9, 0) is 0.9 from (0, 0): not within 0.15
    m = mode_collapse_metrics(x, GRID)
    assert m["modes"] == 3 and m["hq_fraction"] == 0.75
    assert m["reverse_kl"] == pytest.approx(math.log(25 / 3))  # 3 modes, 1/3 each


def test_metrics_do_not_depend_on_sample_order_or_dtype():
    g = torch.Generator().manual_seed(0)
    x = RING.sample(500, g) * 1.05
    perm = torch.randperm(500, generator=g)
    a, b, c = (mode_collapse_metrics(t, RING) for t in (x, x[perm], x.double()))
    assert a == b
    assert a["modes"] == c["modes"] and a["hq_fraction"] == c["hq_fraction"]


def test_real_samples_score_as_expected():
    x = RING.sample(4000, torch.Generator().manual_seed(1))
    m = mode_collapse_metrics(x, RING)
    # P(|x - mu| <= 3 std) for a 2D isotropic Gaussian is 1 - exp(-9/2) = 0.9889
    assert m["modes"] == 8
    assert m["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert m["reverse_kl"] < 0.01


def test_reverse_kl_to_uniform_by_hand():
    assert reverse_kl_to_uniform(torch.tensor([5, 5, 5, 5])) == pytest.approx(0.0, abs=1e-15)
    assert reverse_kl_to_uniform(torch.tensor([0, 7, 0, 0])) == pytest.approx(math.log(4))
    assert reverse_kl_to_uniform(torch.tensor([1, 3, 0, 0])) == pytest.approx(0.25 * math.log(1) + 0.75 * math.log(3))
    assert reverse_kl_to_uniform(torch.tensor([0, 0, 0])) == pytest.approx(math.log(3))  # no HQ sample at all


@pytest.mark.parametrize("counts, message", [
    ([1, 2], "1D tensor"),
    (torch.tensor([[1, 2]]), "1D tensor"),
    (torch.tensor([], dtype=torch.long), "1D tensor"),
    (torch.tensor([1.0, -1.0]), "non-negative"),
    (torch.tensor([1.0, float("nan")]), "finite"),
])
def test_reverse_kl_rejects_bad_counts(counts, message):
    with pytest.raises(ValueError, match=message):
        reverse_kl_to_uniform(counts)


@pytest.mark.parametrize("fn", [mode_collapse_metrics, mode_histogram, nearest_modes])
@pytest.mark.parametrize("samples, mixture, error, message", [
    ([[0.0, 0.0]], RING, TypeError, "torch.Tensor"),
    (torch.zeros(3, 2), "ring", TypeError, "GaussianMixture"),
    (torch.zeros(3, 3), RING, ValueError, r"shape \[n, 2\]"),
    (torch.zeros(0, 2), RING, ValueError, "n >= 1"),
    (torch.zeros(4, 3, 2), RING, ValueError, r"samples\[:, m\]"),
    (torch.zeros(3, 2, dtype=torch.long), RING, TypeError, "floating point"),
    (torch.tensor([[0.0, float("inf")]]), RING, ValueError, "NaN or inf"),
])
def test_bad_samples_are_rejected(fn, samples, mixture, error, message):
    with pytest.raises(error, match=message):
        fn(samples, mixture)
