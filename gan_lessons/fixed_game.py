"""Training a discriminator alone against FIXED distributions p_data and p_g, through the one trainer.

Book: chapters "The optimal discriminator" (a trained D against D* = p_data / (p_data + p_g)) and "Divergences"
(the value D reaches estimates the Jensen-Shannon divergence). The generator is :class:`FixedDistribution`,
whose samples ARE p_g, so only D learns.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .checks import check_int
from .data import GaussianMixture
from .models import MLPDiscriminator
from .runtime import seed_everything
from .train import TrainConfig, train_gan

__all__ = ["FixedDistribution", "train_discriminator", "discriminator_logits", "K"]

K = 50  # discriminator updates per (idle) generator step


class FixedDistribution(nn.Module):
    """A "generator" whose output distribution IS a fixed p_g: G(z) = z, where the noise sampler draws z ~ p_g.

    It lets :class:`gan_lessons.train.GANTrainer` train a discriminator against a known p_g. Its one
    parameter only exists so the trainer can build an optimizer; it receives zero gradient, so Adam never
    moves it and p_g stays fixed: only D learns.
    """

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor) -> Tensor:
        return z + 0.0 * self.unused  # [batch, 1], the samples of p_g themselves


def train_discriminator(p_data: GaussianMixture, p_g: GaussianMixture, name: str, budget: Mapping[str, int], *,
                        hidden: int = 64, depth: int = 2, seed: int = 0, snapshots: int = 0,
                        grid: Tensor | None = None) -> tuple[nn.Module, list[tuple[int, Tensor]]]:
    """Train a fresh MLP discriminator to (near) optimality against FIXED p_data and p_g, through the trainer.

    Two runs of ``train.train_gan``: explore (Adam, lr 3e-3, small batches) then refine (lr 1e-4, large
    batches: less gradient noise, so D settles closer to D*). Each runs its discriminator updates as
    generator steps of k = 50 discriminator updates; the generator is :class:`FixedDistribution`, so it never
    changes. Both runs are cached under ``name`` (it must say which p_data and p_g: the run cache fingerprints
    p_data's sampler but not the noise sampler). ``budget`` (a chapter's Budget, or any mapping) gives
    ``explore_steps`` / ``refine_steps`` (multiples of 50: the D updates of the two phases) and their
    ``batch_size`` / ``refine_batch_size``. Returns D and, if ``snapshots``, [(D updates, logits on ``grid``)].
    """
    explore_steps, refine_steps, batch_size, refine_batch_size = _phases(budget)
    seed_everything(seed)
    D = MLPDiscriminator(data_dim=1, hidden=hidden, depth=depth, activation="elu")
    history: list[tuple[int, Tensor]] = []
    done = 0
    for phase, steps, batch, lr in (("explore", explore_steps, batch_size, 3e-3),
                                    ("refine", refine_steps, refine_batch_size, 1e-4)):
        cfg = TrainConfig(steps=steps // K, d_steps=K, batch_size=batch, loss="ns", lr_d=lr,
                                betas=(0.9, 0.999), seed=seed, log_every=10)
        options = ({"snapshot": _LogitsOn(grid), "snapshot_every": max(1, cfg.steps // snapshots)}
                   if snapshots else {})
        trainer = train_gan(FixedDistribution(), D, p_data.sample, cfg, noise_sampler=p_g.sample,
                                  cache=f"{name}-{depth}x{hidden}-{phase}", progress=False, **options)
        history += [(done + step * K, logits) for step, logits in trainer.snapshots if step or not done]
        D, done = trainer.D, done + cfg.steps * K
    return D, history


def _phases(budget: Mapping[str, int]) -> tuple[int, int, int, int]:
    """(explore_steps, refine_steps, batch_size, refine_batch_size) of ``budget``, checked."""
    keys = ("explore_steps", "refine_steps", "batch_size", "refine_batch_size")
    if not isinstance(budget, Mapping) or not set(keys) <= set(budget):
        raise TypeError(f"budget must be a chapter's Budget (or a mapping) with {', '.join(keys)}, got "
                        f"{type(budget).__name__}")
    for key in keys[:2]:
        value = budget[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < K or value % K:
            raise ValueError(f"{key} must be a positive multiple of {K}, got {value!r}")
    for key in keys[2:]:
        check_int(key, budget[key], minimum=1)
    return tuple(budget[k] for k in keys)


def discriminator_logits(D: nn.Module, x: np.ndarray | Tensor) -> np.ndarray:
    """D's logits at the points x [n] as float64 numpy (D(x) = sigmoid of them)."""
    if not isinstance(D, nn.Module) or next(D.parameters(), None) is None:
        raise TypeError(f"D must be a discriminator network (an nn.Module with weights), got {type(D).__name__}")
    try:
        x = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=torch.float32).reshape(-1, 1)
    except (TypeError, ValueError):
        raise TypeError(f"x must be an array or tensor of points [n], got {type(x).__name__}") from None
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf points")
    first = next(m for m in D.modules() if isinstance(m, nn.Linear)) if any(isinstance(m, nn.Linear)
                                                                            for m in D.modules()) else None
    if first is not None and first.in_features != 1:
        raise ValueError(f"D must take 1-d points (its first layer has {first.in_features} inputs)")
    with torch.no_grad():
        return D(x.to(next(D.parameters()).device)).double().cpu().numpy()


class _LogitsOn:
    """Snapshot: D's logits at the points ``grid`` [n] (its repr names the grid for the run-cache key)."""

    def __init__(self, grid: Tensor) -> None:
        if not isinstance(grid, Tensor) or grid.dim() != 1:
            raise ValueError("grid must be a 1D tensor of points where the snapshots record D's logits")
        self.grid = grid

    def __call__(self, trainer) -> Tensor:
        with torch.no_grad():
            return trainer.D(self.grid.reshape(-1, 1).to(trainer.device)).cpu()  # [n]

    def __repr__(self) -> str:
        g = self.grid
        return f"_LogitsOn({g.numel()} points, {float(g.min()):.6g}..{float(g.max()):.6g}, sum={float(g.sum()):.9g})"
