"""The optimal discriminator: a trained D(x) against D*(x) = p_data / (p_data + p_g) for fixed 1D p_data, p_g."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .. import data, models, theory, train
from ..runtime import pick, seed_everything

NAME = "optimal-discriminator"

# The two fixed pairs (p_data, p_g) of the chapter: two Gaussians of different widths (D* has a quadratic logit)
# and a two-mode mixture against one wide Gaussian (D* is high on the modes and low between them).
PAIRS = {
    "gaussians": (data.gaussian_1d(0.0, 1.0), data.gaussian_1d(1.5, 0.7)),
    "mixture": (data.mixture_1d([-2.0, 2.0], 0.5), data.gaussian_1d(0.0, 1.5)),
}
LO, HI = -5.0, 5.0  # the plotting / error grid
GRID = torch.linspace(LO, HI, 401)  # [401] where snapshots record D's logits
K = 50  # discriminator updates per (idle) generator step
MASS = 0.01  # the error is measured where (p_data + p_g)/2 >= MASS: where samples actually land


def budget(profile: str) -> dict[str, int]:
    """Discriminator updates of the two phases (explore: small batches, large steps; refine: large batches,
    small steps, like a learning-rate drop), their batch sizes, and how many snapshots of D to keep."""
    return {
        "explore_steps": pick(quick=2_000, full=20_000, profile=profile),
        "refine_steps": pick(quick=500, full=5_000, profile=profile),
        "batch_size": pick(quick=512, full=2_048, profile=profile),
        "refine_batch_size": pick(quick=4_096, full=16_384, profile=profile),
        "snapshots": 10,
    }


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


def train_discriminator(p_data: data.GaussianMixture, p_g: data.GaussianMixture, name: str, *,
                        profile: str = "quick", hidden: int = 64, depth: int = 2, seed: int = 0,
                        snapshots: int = 0, explore_steps: int | None = None, refine_steps: int | None = None
                        ) -> tuple[nn.Module, list[tuple[int, Tensor]]]:
    """Train a fresh MLP discriminator to (near) optimality against FIXED p_data and p_g, through the trainer.

    Two runs of ``train.train_gan``: explore (Adam, lr 3e-3, small batches) then refine (lr 1e-4, large
    batches: less gradient noise, so D settles closer to D*). Each runs its discriminator updates as
    generator steps of k = 50 discriminator updates; the generator is :class:`FixedDistribution`, so it never
    changes. Both runs are cached under ``name`` (it must say which p_data and p_g: the run cache fingerprints
    p_data's sampler but not the noise sampler). Returns D and, if ``snapshots``, [(D updates, logits on GRID)].
    ``explore_steps`` / ``refine_steps`` (multiples of 50) override the budget's numbers of D updates.
    """
    b = dict(budget(profile))
    b["explore_steps"] = b["explore_steps"] if explore_steps is None else explore_steps
    b["refine_steps"] = b["refine_steps"] if refine_steps is None else refine_steps
    for key in ("explore_steps", "refine_steps"):
        if isinstance(b[key], bool) or not isinstance(b[key], int) or b[key] < K or b[key] % K:
            raise ValueError(f"{key} must be a positive multiple of {K}, got {b[key]!r}")
    seed_everything(seed)
    D = models.MLPDiscriminator(data_dim=1, hidden=hidden, depth=depth, activation="elu")
    history: list[tuple[int, Tensor]] = []
    done = 0
    for phase, steps, batch, lr in (("explore", b["explore_steps"], b["batch_size"], 3e-3),
                                    ("refine", b["refine_steps"], b["refine_batch_size"], 1e-4)):
        cfg = train.TrainConfig(steps=steps // K, d_steps=K, batch_size=batch, loss="ns", lr_d=lr,
                                betas=(0.9, 0.999), seed=seed, log_every=10)
        options = {"snapshot": _snapshot_logits, "snapshot_every": max(1, cfg.steps // snapshots)} if snapshots else {}
        trainer = train.train_gan(FixedDistribution(), D, p_data.sample, cfg, noise_sampler=p_g.sample,
                                  cache=f"{name}-{depth}x{hidden}-{phase}", progress=False, **options)
        history += [(done + step * K, logits) for step, logits in trainer.snapshots if step or not done]
        D, done = trainer.D, done + cfg.steps * K
    return D, history


def discriminator_logits(D: nn.Module, x: np.ndarray | Tensor) -> np.ndarray:
    """D's logits at the points x [n] as float64 numpy (D(x) = sigmoid of them)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(-1, 1)
    with torch.no_grad():
        return D(x.to(next(D.parameters()).device)).double().cpu().numpy()


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
                                     snapshots=budget(profile)["snapshots"])
    errors = [(step, max_abs_error(_sigmoid(logits), p_data, p_g, x)) for step, logits in history]
    d = _sigmoid(discriminator_logits(D, x))
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
                                   depth=depth, snapshots=budget(profile)["snapshots"])  # 2x64: study's run
        d = _sigmoid(discriminator_logits(D, x))
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
    out["d_updates"] = b["explore_steps"] + b["refine_steps"]
    return out


def _snapshot_logits(trainer: train.GANTrainer) -> Tensor:
    with torch.no_grad():
        return trainer.D(GRID.reshape(-1, 1).to(trainer.device)).cpu()  # [401]


def _sigmoid(logits) -> np.ndarray:
    logits = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def _pdf(p, x: np.ndarray) -> np.ndarray:
    return p.pdf(x).numpy()
