"""Latent codes z: the standard normal prior, BigGAN's truncated prior, and straight lines between codes.

Every sampler has the trainer's signature ``(n, rng) -> z`` or takes a seeded ``torch.Generator``, so a chapter's
codes are reproducible.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .checks import check_allocation, check_int

__all__ = ["standard_normal_noise", "truncated_noise", "interpolate"]

_MAX_ROUNDS = 1000  # redraw rounds of truncated_noise before it gives up with an error (never hangs)


def standard_normal_noise(latent_dim: int) -> Callable[[int, torch.Generator], Tensor]:
    """z ~ N(0, I_latent_dim), drawn from the trainer's random stream."""
    check_int("latent_dim", latent_dim, minimum=1)
    return lambda n, rng: torch.randn(n, latent_dim, generator=rng)


def truncated_noise(shape: tuple[int, ...] | torch.Size, threshold: float | None,
                    generator: torch.Generator | None = None) -> Tensor:
    """z ~ N(0, I) with every entry |z_i| > threshold redrawn until it falls inside (BigGAN, Brock et al. 2019).

    This samples the truncated normal on [-threshold, threshold] per coordinate. Small thresholds trade
    diversity for quality; ``threshold=None`` is the untruncated N(0, I).
    """
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    z = torch.randn(*shape, generator=generator)
    if threshold is None:
        return z
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number or None, got {threshold!r}")
    outside = z.abs() > threshold
    for _ in range(_MAX_ROUNDS):  # each round keeps >= P(|z| <= t) of the rest: fast for t >= 0.05
        if not outside.any():
            return z
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    raise ValueError(f"threshold {threshold!r} is too small to sample by redrawing (after {_MAX_ROUNDS} rounds "
                     f"{int(outside.sum())} entries were still outside): use a threshold >= 0.05")


def interpolate(z0: Tensor, z1: Tensor, n: int) -> Tensor:
    """n codes [n, d] on the straight line from z0 to z1 (both [d]), endpoints included."""
    if not (isinstance(z0, Tensor) and isinstance(z1, Tensor)) or \
            not (z0.is_floating_point() and z1.is_floating_point()):
        raise TypeError(f"z0 and z1 must be floating-point tensors [d], got {type(z0).__name__}, {type(z1).__name__}")
    if not (torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError("z0 and z1 must be finite (no NaN or inf)")
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ValueError(f"z0 and z1 must be two vectors [d] of one size, got {tuple(z0.shape)}, {tuple(z1.shape)}")
    check_int("n", n, minimum=2, maximum=10**7)  # the two endpoints at least
    check_allocation("the interpolation", n * z0.shape[0])
    t = torch.linspace(0, 1, n).unsqueeze(1)  # [n, 1]
    return (1 - t) * z0 + t * z1
