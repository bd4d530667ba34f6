"""Toy distributions: shapes, seeding, exact densities, and errors."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats

from gan_lessons import data


def test_ring_and_grid_geometry():
    r = data.ring(8, radius=2.0, std=0.02)
    assert r.n_modes == 8 and r.dim == 2
    torch.testing.assert_close(r.centres().norm(dim=1), torch.full((8,), 2.0))
    g = data.grid(5, spacing=2.0, std=0.05)
    assert g.n_modes == 25
    assert sorted({round(float(v), 6) for v in g.centres()[:, 0]}) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_sampling_is_seeded():
    r = data.ring()
    a = r.sample(100, torch.Generator().manual_seed(5))
    b = r.sample(100, torch.Generator().manual_seed(5))
    assert a.shape == (100, 2) and torch.equal(a, b)


def test_samples_sit_near_the_modes():
    r = data.ring(8, radius=2.0, std=0.02)
    x = r.sample(2000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, r.centres()).min(dim=1).values
    assert (nearest < 5 * 0.02).float().mean() > 0.99


def test_log_prob_matches_scipy_for_a_1d_mixture():
    mix = data.mixture_1d([-1.0, 2.0], stds=[0.5, 1.0], weights=[0.3, 0.7])
    x = torch.linspace(-3, 4, 11)
    expected = 0.3 * stats.norm.pdf(x.numpy(), -1, 0.5) + 0.7 * stats.norm.pdf(x.numpy(), 2, 1.0)
    torch.testing.assert_close(mix.pdf(x), torch.as_tensor(expected, dtype=torch.float64))
    total, _ = integrate.quad(lambda t: float(mix.pdf(torch.tensor([t]))), -10, 10)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_2d_density_integrates_to_one_on_a_grid():
    g = data.grid(3, spacing=1.0, std=0.3)
    xs = torch.linspace(-3, 3, 301)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    density = g.pdf(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
    assert float(density.sum() * (xs[1] - xs[0]) ** 2) == pytest.approx(1.0, abs=1e-3)
    assert math.isclose(float(g.log_prob(torch.zeros(1, 2))[0]), float(torch.log(g.pdf(torch.zeros(1, 2)))[0]))


@pytest.mark.parametrize("make, match", [
    (lambda: data.ring(0), "n_modes"), (lambda: data.ring(8, radius=-1), "radius"),
    (lambda: data.grid(0), "n must"), (lambda: data.grid(5, spacing=0), "spacing"),
    (lambda: data.GaussianMixture(((0.0,),), (0.0,), (1.0,)), "std"),
    (lambda: data.GaussianMixture(((0.0,), (1.0,)), (1.0, 1.0), (0.9, 0.9)), "sum to 1"),
    (lambda: data.GaussianMixture((), (), ()), "at least one"),
    (lambda: data.ring().sample(-1), "non-negative"),
    (lambda: data.ring().log_prob(torch.zeros(3, 3)), r"\[n, 2\]"),
    (lambda: data.TensorSampler(torch.zeros(0, 2)), "non-empty"),
    (lambda: data.TensorSampler(torch.zeros(4, 2), torch.zeros(3)), "one per sample"),
])
def test_bad_input_is_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_tensor_sampler_draws_matching_labels():
    x = torch.arange(10.0).unsqueeze(1)
    s = data.TensorSampler(x, torch.arange(10))
    xb, yb = s(6, torch.Generator().manual_seed(0))
    assert xb.shape == (6, 1) and torch.equal(xb[:, 0].long(), yb)
