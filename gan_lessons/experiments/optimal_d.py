"""The optimal discriminator: a trained D(x) against D*(x) = p_data / (p_data + p_g) for fixed 1D p_data, p_g."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import data, fixed_game, models, runtime, theory, train
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
    match_steps: int = sized(1_500, 5_000, steps=True)  # generator updates of each direct-vs-indirect run


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


SHAPES = ((0, 1), (1, 32), (2, 16), (2, 64))  # (depth, width) of the capacity sweep; depth 0: logistic regression


def _train(pair: str, budget: Budget, *, depth: int = 2, hidden: int = 64, seed: int = 0
           ) -> tuple[nn.Module, list[tuple[int, Tensor]]]:
    """D trained on ``pair`` as the chapter's cells train it (fixed_game.train_discriminator; logits on GRID)."""
    return fixed_game.train_discriminator(*PAIRS[pair], f"optimal-d-{pair}", budget, depth=depth, hidden=hidden,
                                          seed=seed, snapshots=budget.snapshots, grid=GRID)


def max_abs_error(d_values: np.ndarray, p_data, p_g, x: np.ndarray) -> float:
    """max |D(x) - D*(x)| over the grid points x where the mixture (p_data + p_g)/2 has density >= MASS."""
    d_star = theory.optimal_discriminator(p_data, p_g, x)
    where = 0.5 * (_pdf(p_data, x) + _pdf(p_g, x)) >= MASS
    return float(np.abs(np.asarray(d_values) - d_star)[where].max())


def judge(pair: str, D: nn.Module) -> dict:
    """A trained D of ``pair`` on GRID: its values ``d`` and ``max_abs_error`` (largest gap to D* where data are)."""
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}: use one of {', '.join(PAIRS)}")
    x = GRID.double().numpy()
    d = _sigmoid(fixed_game.discriminator_logits(D, x))
    return {"d": d, "max_abs_error": max_abs_error(d, *PAIRS[pair], x)}


def study(pair: str, D: nn.Module, history: list[tuple[int, Tensor]]) -> dict:
    """The trained D of ``pair`` and its snapshots ``history`` against D*: D and D* on the grid, the error at
    each snapshot (``error_by_step``) and the final error (``max_abs_error``)."""
    out = judge(pair, D)
    p_data, p_g = PAIRS[pair]
    x = GRID.double().numpy()
    errors = [(step, max_abs_error(_sigmoid(logits), p_data, p_g, x)) for step, logits in history]
    return {**out, "x": x, "d_star": theory.optimal_discriminator(p_data, p_g, x), "D": D, "error_by_step": errors}


# -- what each generator loss charges against D* -------------------------------------------------------------
# The two modes of the "mixture" pair; a generator that moves a mass eps of its samples away from them.
PENALTY_DATA = PAIRS["mixture"][0]
PENALTY_GRID = theory.grid(-6.0, 6.0, 4001)
WRONG_MASS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # eps; at 0.5 the mode-missing generator has no right mode left
LOSSES = ("saturating", "non-saturating")


def wrong_generator(kind: str, eps: float) -> data.GaussianMixture:
    """p_g that puts a mass eps of its samples in the wrong place:

    ``"mode-missing"``: from the right mode onto the left one (eps = 0.5: the right mode is missed entirely);
    ``"unrealistic"``: from both modes to x = 0, between them, where the data have almost no mass.
    """
    if not (isinstance(eps, (int, float)) and 0 < eps <= 0.5):
        raise ValueError(f"eps must be a mass in (0, 0.5], got {eps!r}")
    if kind == "mode-missing":
        return data.mixture_1d([-2.0, 2.0], 0.5, [0.5 + eps, 0.5 - eps]) if eps < 0.5 else data.gaussian_1d(-2.0, 0.5)
    if kind == "unrealistic":
        return data.mixture_1d([-2.0, 0.0, 2.0], 0.5, [(1 - eps) / 2, eps, (1 - eps) / 2])
    raise ValueError(f"kind must be 'mode-missing' or 'unrealistic', got {kind!r}")


def generator_penalties(masses: tuple[float, ...] = WRONG_MASS) -> dict[str, dict[str, list[float]]]:
    """The penalty (theory.generator_penalty, nats) of each loss for each wrong generator at each mass eps:
    ``{kind: {loss: [penalty at each eps]}}``."""
    return {kind: {loss: [theory.generator_penalty(PENALTY_DATA, wrong_generator(kind, eps), PENALTY_GRID, loss)
                          for eps in masses] for loss in LOSSES}
            for kind in ("mode-missing", "unrealistic")}


def penalty_terms(kind: str, eps: float) -> dict[str, np.ndarray]:
    """What a generated sample at x costs: the integrand of each loss's penalty on PENALTY_GRID, with both
    densities (``x``, ``p_data``, ``p_g``, and one array per loss)."""
    x = PENALTY_GRID
    p_data, p_g = _pdf(PENALTY_DATA, x), _pdf(wrong_generator(kind, eps), x)
    return {"x": x, "p_data": p_data, "p_g": p_g,
            **{loss: theory.generator_penalty_terms(p_data, p_g, loss) for loss in LOSSES}}


# -- direct vs indirect matching: G learns what D can see --------------------------------------------------
MATCH_DATA = data.mixture_1d([1.0, 5.0], 0.5)  # mean 3, std sqrt(4.25): away from where G starts (near 0)
MATCH_WINDOW = (-1.0, 7.0)  # where D is read: the data and everything between them


def train_matching(depth: int, budget: Budget, seed: int = 0) -> train.GANTrainer:
    """A whole GAN on MATCH_DATA (an MLP generator of 1D noise) against a discriminator of ``depth`` hidden
    layers of 32 units; depth 0 is logistic regression, whose logit w x + b only sees the mean."""
    runtime.seed_everything(seed)
    G = models.MLPGenerator(latent_dim=1, data_dim=1, hidden=32, depth=2)
    D = models.MLPDiscriminator(data_dim=1, hidden=32, depth=depth)
    cfg = train.TrainConfig(steps=budget.match_steps, batch_size=256, loss="ns", lr_d=2e-3, lr_g=1e-3,
                            ema_decay=0.99, seed=seed, log_every=10)
    return train.train_gan(G, D, MATCH_DATA.sample, cfg, latent_dim=1, cache=f"optimal-d-matching-{depth}")


def matching_summary(trainer: train.GANTrainer, n: int = 20_000, seed: int = 0) -> dict:
    """What a matching run learned: mean and std of its samples, W1 to the data (from samples), the share of
    samples between the modes (``middle``: 2 < x < 4), how far D is from 1/2 anywhere in MATCH_WINDOW
    (``max_d_gap``), D on that window, the samples themselves, and the data's mean, std and middle share."""
    rng = torch.Generator().manual_seed(seed)
    fake = trainer.sample(n, rng=rng).squeeze(1).double().numpy()
    real = MATCH_DATA.sample(n, rng).squeeze(1).double().numpy()
    x = np.linspace(*MATCH_WINDOW, 161)
    d = _sigmoid(fixed_game.discriminator_logits(trainer.D, x))
    middle = lambda v: float((np.abs(v - 3.0) < 1.0).mean())  # between the modes: 2 < x < 4
    return {"mean": float(fake.mean()), "std": float(fake.std()), "w1": theory.wasserstein1_samples(fake, real),
            "middle": middle(fake), "max_d_gap": float(np.abs(d - 0.5).max()), "data_mean": float(real.mean()),
            "data_std": float(real.std()), "data_middle": middle(real), "x": x, "d": d, "samples": fake}


def run(profile: str = "quick", seed: int = 0) -> dict:
    b = budget(profile)
    out: dict = {}
    for pair in PAIRS:
        result = study(pair, *_train(pair, b, seed=seed))
        out[f"{pair}_max_abs_error"] = round(result["max_abs_error"], 5)
        out[f"{pair}_error_by_step"] = [[s, round(e, 5)] for s, e in result["error_by_step"]]
    out["mixture_capacity_max_abs_error"] = {
        f"{depth}x{hidden}": round(judge("mixture", _train("mixture", b, depth=depth, hidden=hidden, seed=seed)[0])
                                   ["max_abs_error"], 5) for depth, hidden in SHAPES}
    out["max_abs_error"] = max(out[f"{pair}_max_abs_error"] for pair in PAIRS)
    out["d_updates"] = b.explore_steps + b.refine_steps
    for depth in (0, 2):
        summary = matching_summary(train_matching(depth, b, seed), seed=seed)
        out[f"matching_depth{depth}"] = {k: round(summary[k], 5) for k in ("mean", "std", "w1", "middle", "max_d_gap")}
    out["generator_penalty"] = {"eps": list(WRONG_MASS), **{
        kind: {loss: [round(v, 5) for v in values] for loss, values in by_loss.items()}
        for kind, by_loss in generator_penalties().items()}}
    return out


def _sigmoid(logits) -> np.ndarray:
    logits = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def _pdf(p, x: np.ndarray) -> np.ndarray:
    return p.pdf(x).numpy()
