"""Discrete data: no gradient through a sampled symbol, and a GAN of short strings trained through the
Gumbel-softmax relaxation, soft at two temperatures and straight-through (total variation to the target)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import discrete, models, runtime, train
from ..runtime import seed_everything, sized

NAME = "discrete"

TARGET = discrete.MarkovSequences(length=3, alphabet=5, concentration=0.4, seed=0)  # 125 strings, known p
LATENT_DIM = 8
RUNS = (("soft", 0.1), ("soft", 1.0), ("straight-through", 1.0))  # (mode, temperature) of the trained GANs


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Generator steps of each string GAN, its batch, and the z draws that average its exact distribution."""

    steps: int = sized(3_000, 20_000, steps=True)
    batch_size: int = sized(128, 512)
    eval_codes: int = sized(20_000, 200_000)


def budget(profile: str | None = None, **overrides) -> Budget:
    """The experiment's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


def train_string_gan(mode: str, tau: float, profile: str | None = None, seed: int = 0) -> train.GANTrainer:
    """A GAN of TARGET's strings whose generator makes its letters by ``mode`` at temperature ``tau``
    (non-saturating loss, Adam 1e-3, an EMA of G's weights for sampling; run-cached)."""
    b = budget(profile)
    seed_everything(seed)
    G = discrete.SymbolGenerator(LATENT_DIM, TARGET.length, TARGET.alphabet, mode=mode, tau=tau)
    D = models.MLPDiscriminator(data_dim=TARGET.dim, hidden=128, depth=2)
    cfg = train.TrainConfig(steps=b.steps, batch_size=b.batch_size, lr_d=1e-3, lr_g=1e-3, ema_decay=0.999,
                            seed=seed)
    return train.train_gan(G, D, TARGET.sample, cfg, latent_dim=LATENT_DIM, device="cpu",
                           cache=f"discrete-{mode}-{tau:g}")


def total_variation_of(trainer: train.GANTrainer, profile: str | None = None, seed: int = 0) -> float:
    """TV between TARGET and the exact distribution of the trained generator (its EMA copy)."""
    net = trainer.ema if trainer.ema is not None else trainer.G
    return discrete.total_variation(discrete.distribution(net, budget(profile).eval_codes, seed),
                                    TARGET.probabilities)


def run(profile: str = "quick", seed: int = 0) -> dict:
    out: dict = {f"gradient_norm_{mode}": discrete.gradient_to_logits(mode) for mode in discrete.MODES}
    for mode, tau in RUNS:
        tv = total_variation_of(train_string_gan(mode, tau, profile, seed), profile, seed)
        out[f"tv_{mode}_tau_{tau:g}"] = round(tv, 4)
    out["gumbel_softmax_tv"] = out["tv_straight-through_tau_1"]
    out["uniform_tv"] = round(discrete.total_variation(
        [1 / len(TARGET.probabilities)] * len(TARGET.probabilities), TARGET.probabilities), 4)
    return out
