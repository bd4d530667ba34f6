"""The settings of one training run (:class:`TrainConfig`) and what the run records (:class:`History`).

Every knob of the one trainer has one name here: ``d_steps`` is k of Algorithm 1 everywhere in the book, the
loss is a name of :data:`gan_lessons.objectives.OBJECTIVES`, and the extras (weight clipping, EMA of G,
historical averaging, mixed precision) are off unless set.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .checks import check_int as _check_int, check_module, check_positive, check_real, check_seed, check_type
from .objectives import OBJECTIVES

__all__ = ["TrainConfig", "TrainingDiverged", "History", "make_optimizer"]

Sampler = Callable[[int, torch.Generator], Any]  # (n, rng) -> x  or  (x, labels)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Frozen: make a new one with ``dataclasses.replace``."""

    steps: int = 1000  # generator updates in total (a resumed run continues up to this number)
    batch_size: int = 64  # real samples (and as many fakes) per update
    d_steps: int = 1  # k: discriminator updates per generator update (Goodfellow et al. 2014, Alg. 1)
    loss: str = "ns"  # a name of objectives.OBJECTIVES, with its defaults; pass objective= for other settings
    lr_d: float = 2e-4  # discriminator learning rate
    lr_g: float = 2e-4  # generator learning rate
    betas: tuple[float, float] = (0.5, 0.999)  # Adam; beta1=0.5 as in DCGAN (Radford et al. 2016)
    optimizer: str = "adam"  # adam | rmsprop (WGAN with clipping) | sgd
    clip_value: float | None = None  # WGAN weight clipping c (Arjovsky et al.: 0.01); None = off
    ema_decay: float | None = None  # keep an exponential moving average of G's weights; None = off
    historical_weight: float = 0.0  # lambda of historical averaging, Salimans et al. 2016: 0 = off
    log_every: int = 1  # record losses and D outputs every this many generator updates
    seed: int = 0  # seeds the trainer's own random stream (data batches, noise, GP interpolation)
    precision: str = "fp32"  # fp32 | bf16: forward passes and losses under torch.autocast(bfloat16), for GPUs

    def __post_init__(self) -> None:
        _check_int("steps", self.steps, minimum=0)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("d_steps", self.d_steps, minimum=1)
        _check_int("log_every", self.log_every, minimum=1)
        check_seed("seed", self.seed)
        if not isinstance(self.precision, str) or self.precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {self.precision!r}: use 'fp32' or 'bf16' (mixed precision, for GPUs)")
        if not isinstance(self.loss, str) or self.loss not in OBJECTIVES:
            raise ValueError(f"unknown loss {self.loss!r}: use one of {', '.join(OBJECTIVES)} "
                             "(objectives.OBJECTIVES), or pass objective=... to the trainer")
        if not isinstance(self.optimizer, str) or self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}: use 'adam', 'rmsprop' or 'sgd'")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        betas = self.betas
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
                not isinstance(b, bool) and isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1) for Adam, e.g. (0.5, 0.999), got {betas!r}")
        if self.clip_value is not None:
            check_real("clip_value", self.clip_value, 0, open_low=True)
        if self.ema_decay is not None:
            check_real("ema_decay", self.ema_decay, 0, 1, open_low=True, open_high=True)
        check_real("historical_weight", self.historical_weight, 0)

class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the models keep their last finite weights."""


@dataclass
class History:
    """What happened during training, one entry per logged generator update."""

    step: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)  # mean D(x): probability for JS losses, else raw score
    d_fake: list[float] = field(default_factory=list)  # mean D(G(z)), same convention

    def append(self, **values: float) -> None:
        for key, value in values.items():
            getattr(self, key).append(value)

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    def __len__(self) -> int:
        return len(self.step)


def make_optimizer(model: nn.Module, lr: float, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names for ``model``'s trainable parameters, at learning rate ``lr``."""
    check_module("model", model)
    check_type("config", config, TrainConfig, "a TrainConfig")
    check_positive("lr", lr)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=config.betas)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)
