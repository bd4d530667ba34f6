"""The optimal discriminator: a trained D(x) against D*(x) = p_data / (p_data + p_g) for fixed 1D p_data, p_g."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import data, fixed_game, runtime, theory
from ..runtime import sized

NAME = "optimal-discriminator"

# The two fixed pairs (p_data, p_g) of the chapter: two Gaussians of different widths (D* has a quadratic logit)
# and a two-mode mixture against one wide Gaussian (D* is high on the modes and low between them).
PAIRS = {
    "gaussians": (data.gaussian_1d(0.0, 1.0), data.gaussian_1d(1.5, 0.7)),
    "mixture": (data.mixture_1d([-2.0, 2.0], 0.5), data.gaussian_1d(0.0, 1.5)),
}
LO, HI = -5.0, 5.0  # the plotting / error grid
GRID = torch.linspace(LO, HI, 401)  # [401] where snapshots record D's logits
MASS = 0.01  # the error is measured where (p_data + p_g)/2 >= MASS: where samples actually land


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Discriminator updates of the two phases (explore: small batches, large steps; refine: large batches,
    small steps, like a learning-rate drop), their batch sizes, and how many snapshots of D to keep."""

    explore_steps: int = sized(2_000, 20_000, steps=True, minimum=fixed_game.K, multiple=fixed_game.K)  # D updates, multiple of K
    refine_steps: int = sized(500, 5_000, steps=True, minimum=fixed_game.K, multiple=fixed_game.K)
    batch_size: int = sized(512, 2_048)
    refine_batch_size: int = sized(4_096, 16_384)
    snapshots: int = sized(10, 10)


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


def train_discriminator(p_data: data.GaussianMixture, p_g: data.GaussianMixture, name: str, *,
                        profile: str = "quick", hidden: int = 64, depth: int = 2, seed: int = 0,
                        snapshots: int = 0, budget: "Budget | None" = None) -> tuple[nn.Module, list]:
    """:func:`gan_lessons.fixed_game.train_discriminator` with this chapter's budget (of ``profile``, or the
    ``budget`` given); snapshots of D's logits on GRID."""
    b = Budget.of(profile) if budget is None else budget
    return fixed_game.train_discriminator(
        p_data, p_g, name, explore_steps=b.explore_steps, refine_steps=b.refine_steps,
        batch_size=b.batch_size, refine_batch_size=b.refine_batch_size, hidden=hidden, depth=depth,
        seed=seed, snapshots=snapshots, grid=GRID)


def max_abs_error(d_values: np.ndarray, p_data, p_g, x: np.ndarray) -> float:
    """max |D(x) - D*(x)| over the grid points x where the mixture (p_data + p_g)/2 has density >= MASS."""
    d_star = theory.optimal_discriminator(p_data, p_g, x)
    where = 0.5 * (_pdf(p_data, x) + _pdf(p_g, x)) >= MASS
    return float(np.abs(np.asarray(d_values) - d_star)[where].max())


def study(pair: str, profile: str = "quick", seed: int = 0) -> dict:
    """Train D on one pair; return D and D* on the grid, the error at each snapshot, and the final error."""
    p_data, p_g = PAIRS[pair]
    x = GRID.double().numpy()
    D, history = train_discriminator(p_data, p_g, f"optimal-d-{pair}", profile=profile, seed=seed,
                                     snapshots=budget(profile).snapshots)
    errors = [(step, max_abs_error(_sigmoid(logits), p_data, p_g, x)) for step, logits in history]
    d = _sigmoid(fixed_game.discriminator_logits(D, x))
    return {"x": x, "d": d, "d_star": theory.optimal_discriminator(p_data, p_g, x), "D": D,
            "error_by_step": errors, "max_abs_error": max_abs_error(d, p_data, p_g, x)}


def capacity_sweep(pair: str, shapes=((0, 1), (1, 32), (2, 16), (2, 64)), profile: str = "quick",
                   seed: int = 0) -> dict[str, dict]:
    """D and max |D - D*| for discriminators of (depth, hidden) in ``shapes``; depth 0 = logistic regression."""
    p_data, p_g = PAIRS[pair]
    x = GRID.double().numpy()
    out = {}
    for depth, hidden in shapes:  # depth 0: D(x) = sigmoid(w x + c)
        D, _ = train_discriminator(p_data, p_g, f"optimal-d-{pair}", profile=profile, seed=seed, hidden=hidden,
                                   depth=depth, snapshots=budget(profile).snapshots)  # 2x64: study's run
        d = _sigmoid(fixed_game.discriminator_logits(D, x))
        out[f"{depth}x{hidden}"] = {"d": d, "max_abs_error": max_abs_error(d, p_data, p_g, x)}
    return out


def run(profile: str = "quick", seed: int = 0) -> dict:
    out: dict = {}
    for pair in PAIRS:
        result = study(pair, profile, seed)
        out[f"{pair}_max_abs_error"] = round(result["max_abs_error"], 5)
        out[f"{pair}_error_by_step"] = [[s, round(e, 5)] for s, e in result["error_by_step"]]
    sweep = capacity_sweep("mixture", profile=profile, seed=seed)
    out["mixture_capacity_max_abs_error"] = {k: round(v["max_abs_error"], 5) for k, v in sweep.items()}
    out["max_abs_error"] = max(out[f"{pair}_max_abs_error"] for pair in PAIRS)
    b = budget(profile)
    out["d_updates"] = b.explore_steps + b.refine_steps
    return out


def _sigmoid(logits) -> np.ndarray:
    logits = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def _pdf(p, x: np.ndarray) -> np.ndarray:
    return p.pdf(x).numpy()
