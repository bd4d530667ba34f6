"""The one training loop of the book: k discriminator updates per generator update, any loss pair.

Goodfellow et al. 2014, Algorithm 1::

    for step in 1..steps:
        repeat k times:                       # update_discriminator
            x ~ p_data, z ~ p_z;  descend L_D(D(x), D(G(z)))
        z ~ p_z;  descend L_G(D(G(z)))       # update_generator

The generator update reuses the noise z (and the fakes G(z), with their graph) of the last discriminator
update, as the PyTorch DCGAN example does: G has not changed since it made them, so they are as fresh a sample
of p_g as a new draw, and G runs once per step instead of twice.

Every chapter trains through :class:`GANTrainer` (or :func:`train_gan`); what differs between chapters is
the :class:`Objective` (minimax, non-saturating, Wasserstein, WGAN-GP, hinge, or your own) and a few
options of :class:`TrainConfig` (weight clipping, label smoothing, EMA of the generator).
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from . import losses

__all__ = [
    "TrainConfig",
    "Objective",
    "JSObjective",
    "WassersteinObjective",
    "HingeObjective",
    "FeatureMatchingObjective",
    "feature_matching_loss",
    "make_objective",
    "OBJECTIVES",
    "History",
    "GANTrainer",
    "TrainingDiverged",
    "train_gan",
    "standard_normal_noise",
    "run_cache_path",
]

Sampler = Callable[[int, torch.Generator], Any]  # (n, rng) -> x  or  (x, labels)
OBJECTIVES = ("minimax", "ns", "wasserstein", "wgan-gp", "hinge")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Frozen: make a new one with ``dataclasses.replace``."""

    steps: int = 1000  # generator updates in total (a resumed run continues up to this number)
    batch_size: int = 64  # real samples (and as many fakes) per update
    d_steps: int = 1  # k: discriminator updates per generator update (Goodfellow et al. 2014, Alg. 1)
    loss: str = "ns"  # minimax | ns | wasserstein | wgan-gp | hinge (ignored if an Objective is passed)
    lr_d: float = 2e-4  # discriminator learning rate
    lr_g: float = 2e-4  # generator learning rate
    betas: tuple[float, float] = (0.5, 0.999)  # Adam; beta1=0.5 as in DCGAN (Radford et al. 2016)
    optimizer: str = "adam"  # adam | rmsprop (WGAN with clipping) | sgd
    gp_weight: float = 10.0  # lambda of the gradient penalty, used by loss='wgan-gp' (Gulrajani et al.)
    real_label: float = 1.0  # one-sided label smoothing for JS losses: 0.9 in Salimans et al. 2016
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
        _check_int("seed", self.seed, minimum=0)
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {self.precision!r}: use 'fp32' or 'bf16' (mixed precision, for GPUs)")
        if self.loss not in OBJECTIVES:
            raise ValueError(f"unknown loss {self.loss!r}: use one of {', '.join(OBJECTIVES)}")
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}: use 'adam', 'rmsprop' or 'sgd'")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {self.gp_weight!r}")
        if not 0 < self.real_label <= 1:
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label!r}")
        if self.clip_value is not None and not self.clip_value > 0:
            raise ValueError(f"clip_value must be positive or None, got {self.clip_value!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay!r}")
        if not (isinstance(self.historical_weight, (int, float)) and 0 <= self.historical_weight < math.inf):
            raise ValueError(f"historical_weight must be a number >= 0 (0 = off), got {self.historical_weight!r}")


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the models keep their last finite weights."""


class Objective:
    """A loss pair for the trainer. Subclass it to try a new GAN variant without a new training loop.

    ``D`` below is the discriminator already bound to its conditioning labels (if any): ``D(x) -> logits``.
    """

    probabilities = True  # True: D outputs logits of a probability, history records mean sigmoid(D)

    def discriminator_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                           rng: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Return (loss to minimise, D(real), D(fake))."""
        raise NotImplementedError("subclasses of Objective define discriminator_loss")

    def generator_loss(self, D: Callable[[Tensor], Tensor], fake: Tensor, real: Tensor) -> Tensor:
        """Return the generator's loss to minimise for fakes ``fake`` (with grad) and a real batch."""
        raise NotImplementedError("subclasses of Objective define generator_loss")


@dataclass
class JSObjective(Objective):
    """The original GAN: L_D = -E[log D(x)] - E[log(1 - D(G(z)))]; G saturating or non-saturating."""

    saturating: bool = False  # True: L_G = E[log(1 - D(G(z)))];  False: L_G = -E[log D(G(z))]
    real_label: float = 1.0  # one-sided label smoothing

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        return losses.minimax_discriminator_loss(real_out, fake_out, self.real_label), real_out, fake_out

    def generator_loss(self, D, fake, real):
        out = D(fake)
        return losses.minimax_generator_loss(out) if self.saturating else losses.modified_generator_loss(out)


@dataclass
class WassersteinObjective(Objective):
    """WGAN: L_D = E[D(G(z))] - E[D(x)] (+ lambda * GP), L_G = -E[D(G(z))]."""

    gp_weight: float = 0.0  # lambda of the gradient penalty at interpolates; 0 = plain WGAN
    probabilities = False

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        loss = losses.wasserstein_critic_loss(real_out, fake_out)
        if self.gp_weight > 0:
            loss = loss + self.gp_weight * losses.wasserstein_gradient_penalty(D, real, fake, generator=rng)
        return loss, real_out, fake_out

    def generator_loss(self, D, fake, real):
        return losses.wasserstein_generator_loss(D(fake))


@dataclass
class HingeObjective(Objective):
    """Hinge GAN: L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], L_G = -E[D(G(z))]."""

    probabilities = False

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        return losses.hinge_discriminator_loss(real_out, fake_out), real_out, fake_out

    def generator_loss(self, D, fake, real):
        return losses.hinge_generator_loss(D(fake))


@dataclass
class FeatureMatchingObjective(JSObjective):
    """Feature matching (Salimans et al. 2016, sec. 3.1): D trains as in the original GAN, G matches the
    mean of D's last hidden layer f on real data:  L_G = || E_x f(x) - E_z f(G(z)) ||_2^2.

    The discriminator must have a ``features(x)`` method (``models.DCGANDiscriminator`` has one).
    """

    def generator_loss(self, D, fake, real):
        features = getattr(D, "features", None)
        if features is None:
            raise TypeError("feature matching needs a discriminator with a features(x) method "
                            "(e.g. models.DCGANDiscriminator), the layer whose mean G matches")
        with torch.no_grad():
            target = features(real)  # [batch, k] features of a real batch: a constant for G
        return feature_matching_loss(target, features(fake))


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """L_G = || mean_i f(x_i) - mean_j f(G(z_j)) ||_2^2  (Salimans et al. 2016, sec. 3.1).

    real_features [n, k] and fake_features [m, k]: one row of discriminator features per sample; the two
    batch means are compared, so G must match the statistics of the data, not any single digit.
    """
    for name, t in (("real_features", real_features), ("fake_features", fake_features)):
        if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[0] == 0 or not t.is_floating_point():
            got = (tuple(t.shape), t.dtype) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a float tensor [batch, features] with batch >= 1, got {got}")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"real and fake features must have the same width, got {real_features.shape[1]} "
                         f"and {fake_features.shape[1]}")
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()


def make_objective(config: TrainConfig) -> Objective:
    """The built-in objective that ``config.loss`` names."""
    if config.loss in ("minimax", "ns"):
        return JSObjective(saturating=config.loss == "minimax", real_label=config.real_label)
    if config.loss in ("wasserstein", "wgan-gp"):
        return WassersteinObjective(gp_weight=config.gp_weight if config.loss == "wgan-gp" else 0.0)
    return HingeObjective()


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


def standard_normal_noise(latent_dim: int) -> Sampler:
    """z ~ N(0, I_latent_dim), drawn from the trainer's random stream."""
    _check_int("latent_dim", latent_dim, minimum=1)
    return lambda n, rng: torch.randn(n, latent_dim, generator=rng)


class GANTrainer:
    """Holds G, D, their optimizers and the random stream; ``fit`` runs Algorithm 1.

    real_sampler(n, rng) returns n real samples ``x`` (or ``(x, labels)`` for a conditional GAN, in which
    case G is called as G(z, labels) and D as D(x, labels), fakes using the labels of a real batch).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, real_sampler: Sampler,
                 config: TrainConfig | None = None, *, latent_dim: int | None = None,
                 noise_sampler: Sampler | None = None, objective: Objective | None = None,
                 device: str | torch.device | None = None) -> None:
        if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
            raise TypeError("generator and discriminator must be torch.nn.Module instances")
        if not callable(real_sampler):
            raise TypeError("real_sampler must be a function (n, rng) -> samples, e.g. data.ring().sample")
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if (latent_dim is None) == (noise_sampler is None):
            raise ValueError("give exactly one of latent_dim (for z ~ N(0, I)) or noise_sampler")
        from .runtime import get_device  # local: runtime is light, but keeps import order simple

        self.device = get_device(None if device is None else str(device))
        self.G, self.D = generator.to(self.device), discriminator.to(self.device)
        self.real_sampler = real_sampler
        self.noise_sampler = noise_sampler or standard_normal_noise(latent_dim)
        self.config = config
        self.objective = objective or make_objective(config)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.opt_d = _optimizer(self.D, config.lr_d, config)
        self.opt_g = _optimizer(self.G, config.lr_g, config)
        self.ema = copy.deepcopy(self.G).eval().requires_grad_(False) if config.ema_decay else None
        # historical averaging: running mean of each player's past weights, and how many went into it
        self.averages = ({"G": _param_copy(self.G), "D": _param_copy(self.D), "count_G": 1, "count_D": 1}
                         if config.historical_weight else None)
        self._kept: tuple | None = None  # (real, labels, fakes) of the last D update, for the G update
        self.step = 0
        self.history = History()
        self.snapshots: list[tuple[int, Any]] = []

    # -- the two updates of Algorithm 1 -------------------------------------------------------------
    def update_discriminator(self, keep_fakes: bool = False) -> tuple[float, float, float]:
        """One descent step on L_D; returns (loss, mean D(x), mean D(G(z))) as floats.

        keep_fakes: make the fakes with their graph into G and keep them (with the real batch) for the next
        :meth:`update_generator`, which then reuses them instead of running G again.
        """
        real, labels = self._real_batch()
        with torch.set_grad_enabled(keep_fakes), self._autocast():
            fake = self._generate(self._noise(), labels)
        self._kept = (real, labels, fake) if keep_fakes else None
        D = self._bound(self.D, labels)
        with self._autocast():
            loss, real_out, fake_out = self.objective.discriminator_loss(D, real, fake.detach(), self.rng)
        self._guard(loss, "discriminator")
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self._historical_averaging(self.D, "D")
        self.opt_d.step()
        self._fold_into_average(self.D, "D")
        if self.config.clip_value is not None:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.config.clip_value, self.config.clip_value)
        read = torch.sigmoid if self.objective.probabilities else (lambda t: t)
        return loss.item(), read(real_out.detach()).mean().item(), read(fake_out.detach()).mean().item()

    def update_generator(self) -> float:
        """One descent step on L_G (D is held fixed); returns the loss as a float.

        Uses the fakes kept by the last ``update_discriminator(keep_fakes=True)``, else a fresh batch.
        """
        kept, self._kept = self._kept, None
        if kept is not None:
            real, labels, fake = kept
        else:
            real, labels = self._real_batch()
            with self._autocast():
                fake = self._generate(self._noise(), labels)
        self.D.requires_grad_(False)  # no grads into D's weights: faster, and D is not being trained
        try:
            with self._autocast():
                loss = self.objective.generator_loss(self._bound(self.D, labels), fake, real)
        finally:
            self.D.requires_grad_(True)
        self._guard(loss, "generator")
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self._historical_averaging(self.G, "G")
        self.opt_g.step()
        self._fold_into_average(self.G, "G")
        if self.ema is not None:
            _ema_update(self.ema, self.G, self.config.ema_decay)
        return loss.item()

    def fit(self, steps: int | None = None, *, snapshot: Callable[["GANTrainer"], Any] | None = None,
            snapshot_every: int = 0, checkpoint_path: str | os.PathLike | None = None,
            checkpoint_every: int = 0, progress: bool = True) -> History:
        """Train until ``self.step == steps`` (default ``config.steps``).

        snapshot(trainer) is called before the first update, every ``snapshot_every`` updates and at the
        end; its results land in ``self.snapshots`` as (step, value) — use tensors, numbers, dicts or
        lists so that checkpoints can hold them. A checkpoint is written every ``checkpoint_every``
        updates and at the end when ``checkpoint_path`` is given; resume with :meth:`load`.
        """
        steps = self.config.steps if steps is None else steps
        _check_int("steps", steps, minimum=0)
        _check_int("snapshot_every", snapshot_every, minimum=0)
        _check_int("checkpoint_every", checkpoint_every, minimum=0)
        if snapshot is not None and not self.snapshots:
            self.snapshots.append((self.step, snapshot(self)))
        bar = _progress(total=steps, initial=self.step, enabled=progress)
        try:
            while self.step < steps:
                self._one_step()
                bar.update(1)
                if snapshot is not None and (self.step == steps or
                                             (snapshot_every and self.step % snapshot_every == 0)):
                    self.snapshots.append((self.step, snapshot(self)))
                if checkpoint_path and checkpoint_every and self.step % checkpoint_every == 0:
                    self.save(checkpoint_path)
        finally:
            bar.close()
        if checkpoint_path:
            self.save(checkpoint_path)
        return self.history

    # -- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "averages": self.averages,
            "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(),
            "history": self.history.as_dict(), "snapshots": [list(s) for s in self.snapshots],
            "config": asdict(self.config),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint atomically (a crash mid-write never leaves a half file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load(self, path: str | os.PathLike) -> "GANTrainer":
        """Resume from a checkpoint written by :meth:`save` (loaded with ``weights_only=True``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}: train first with fit(checkpoint_path=...)")
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config"] != asdict(self.config):
            raise ValueError(f"checkpoint {path} was written with a different TrainConfig; "
                             "resume with the same config or start a new run")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.averages is not None:
            self.averages = {k: v if isinstance(v, int) else [t.to(self.device) for t in v]
                             for k, v in state["averages"].items()}
        self.rng.set_state(state["rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.history = History(**state["history"])
        self.snapshots = [tuple(s) for s in state["snapshots"]]
        self.step = int(state["step"])
        return self

    # -- helpers --------------------------------------------------------------------------------------
    def sample(self, n: int, labels: Tensor | None = None, use_ema: bool = True) -> Tensor:
        """n samples from the generator (the EMA copy if kept), without gradients, on the CPU."""
        _check_int("n", n, minimum=1)
        net = self.ema if (use_ema and self.ema is not None) else self.G
        was_training = net.training
        net.eval()
        with torch.no_grad():
            z = self._noise(n)
            out = net(z) if labels is None else net(z, labels.to(self.device))
        net.train(was_training)
        return out.cpu()

    def _historical_averaging(self, net: nn.Module, role: str) -> None:
        """Add the gradient of  lambda * ||theta - (1/t) sum_{i<t} theta_i||^2  (Salimans et al. 2016,
        sec. 3.3: historical averaging; the mean of past weights is a constant) to ``net``'s gradients."""
        if self.averages is None:
            return
        with torch.no_grad():
            for p, avg in zip(_trainable(net), self.averages[role]):
                if p.grad is not None:
                    p.grad.add_(p - avg, alpha=2 * self.config.historical_weight)

    def _fold_into_average(self, net: nn.Module, role: str) -> None:
        """After an update: mean <- mean + (theta - mean) / (t + 1), the running mean of all weights so far."""
        if self.averages is None:
            return
        self.averages[f"count_{role}"] += 1
        with torch.no_grad():
            for p, avg in zip(_trainable(net), self.averages[role]):
                avg.lerp_(p, 1.0 / self.averages[f"count_{role}"])

    def _one_step(self) -> None:
        k = self.config.d_steps
        for i in range(k):
            d_loss, d_real, d_fake = self.update_discriminator(keep_fakes=i == k - 1)
        g_loss = self.update_generator()  # on the fakes of the last D update: G runs once per step
        self.step += 1
        if self.step % self.config.log_every == 0 or self.step == 1:
            self.history.append(step=self.step, d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def _real_batch(self) -> tuple[Tensor, Tensor | None]:
        batch = self.real_sampler(self.config.batch_size, self.rng)
        x, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
        if not isinstance(x, Tensor):
            raise TypeError(f"real_sampler must return a tensor (or (tensor, labels)), got {type(x).__name__}")
        if x.shape[0] != self.config.batch_size:
            raise ValueError(f"real_sampler returned {x.shape[0]} samples, {self.config.batch_size} were asked")
        return x.to(self.device), (None if labels is None else labels.to(self.device))

    def _noise(self, n: int | None = None) -> Tensor:
        return self.noise_sampler(n or self.config.batch_size, self.rng).to(self.device)

    def _generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.G(z) if labels is None else self.G(z, labels)

    @staticmethod
    def _bound(D: nn.Module, labels: Tensor | None) -> Callable[[Tensor], Tensor]:
        if labels is None:
            return D
        bound = lambda x: D(x, labels)  # noqa: E731
        if hasattr(D, "features"):  # feature matching on a conditional D
            bound.features = lambda x: D.features(x, labels)
        return bound

    def _autocast(self):
        """Mixed precision for ``precision='bf16'``: matmuls and convolutions in bfloat16; the ops autocast keeps
        in fp32 on the device (on a GPU: losses such as softplus and BCE, reductions) stay fp32, as do the weights."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def _guard(self, loss: Tensor, role: str) -> None:
        if not torch.isfinite(loss).all():
            cfg = self.config
            raise TrainingDiverged(
                f"training diverged at generator step {self.step + 1}: the {role} loss is "
                f"{loss.detach().item()}. The models keep their last finite weights. Try a smaller learning "
                f"rate (now lr_d={cfg.lr_d}, lr_g={cfg.lr_g}), a more stable loss (loss='ns' or 'wgan-gp'), "
                "or check the data for NaN/inf values.")


def train_gan(generator: nn.Module, discriminator: nn.Module, real_sampler: Sampler,
              config: TrainConfig | None = None, *, latent_dim: int | None = None,
              noise_sampler: Sampler | None = None, objective: Objective | None = None,
              device: str | torch.device | None = None, resume_from: str | os.PathLike | None = None,
              cache: str | None = None, **fit_options: Any) -> GANTrainer:
    """Build a :class:`GANTrainer`, optionally resume it from a checkpoint, fit it, and return it.

    cache: a name for this run (e.g. ``"dcgan-mnist"``). The finished run is stored in the run cache
    (:func:`run_cache_path`) under a key made of the name, the config, the objective, the models' initial
    weights, the data sampler (when it can be fingerprinted), the fit options and the source of
    ``gan_lessons``; an identical later call loads it instead of training (same weights, history and
    snapshots, bit for bit). Any change to the code or the settings gives a new key, so a cached run is
    never stale. ``GAN_LESSONS_CACHE=off`` switches the cache off.
    """
    config = TrainConfig() if config is None else config
    trainer = GANTrainer(generator, discriminator, real_sampler, config, latent_dim=latent_dim,
                         noise_sampler=noise_sampler, objective=objective, device=device)
    if cache is not None:
        if resume_from is not None or "checkpoint_path" in fit_options:
            raise ValueError("give either cache=NAME or resume_from/checkpoint_path, not both")
        path = run_cache_path(cache, trainer, fit_options)
        if path is not None:
            if path.is_file():
                return _load_cached(trainer, path, fit_options)
            trainer.fit(**fit_options)
            trainer.save(path)
            return trainer
    if resume_from is not None and Path(resume_from).is_file():
        trainer.load(resume_from)
    trainer.fit(**fit_options)
    return trainer


def run_cache_path(name: str, trainer: GANTrainer, fit_options: dict[str, Any] | None = None) -> Path | None:
    """Where :func:`train_gan` keeps the finished run ``name`` of ``trainer`` (``None``: cache switched off).

    The folder is ``$GAN_LESSONS_CACHE/runs`` (default ``~/.cache/gan_lessons/runs``); the file name is
    ``name`` plus a SHA-256 over everything that decides the result of training.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", name):
        raise ValueError(f"cache must be a short name of letters, digits, '.', '_' or '-', got {name!r}")
    root = os.environ.get("GAN_LESSONS_CACHE", "").strip()
    if root.lower() in ("0", "off", "false", "no"):
        return None
    folder = Path(root).expanduser() if root else Path.home() / ".cache" / "gan_lessons"
    return folder / "runs" / f"{name}-{_run_fingerprint(name, trainer, fit_options or {})[:20]}.pt"


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _param_copy(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in _trainable(model)]


def _optimizer(model: nn.Module, lr: float, config: TrainConfig) -> torch.optim.Optimizer:
    params = _trainable(model)
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=config.betas)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    disable = not enabled or os.environ.get("GAN_LESSONS_PROGRESS", "1") == "0"
    return tqdm(total=total, initial=initial, disable=disable, desc="training", unit="step", leave=False)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _load_cached(trainer: GANTrainer, path: Path, fit_options: dict[str, Any]) -> GANTrainer:
    try:
        return trainer.load(path)
    except Exception as err:  # a partial or foreign file: train again and overwrite it
        import warnings

        warnings.warn(f"ignoring unreadable cached run {path} ({err}); training again", stacklevel=3)
        trainer.fit(**fit_options)
        trainer.save(path)
        return trainer


def _run_fingerprint(name: str, trainer: GANTrainer, fit_options: dict[str, Any]) -> str:
    h = hashlib.sha256()
    parts = [name, repr(sorted(asdict(trainer.config).items())), repr(trainer.objective), str(trainer.device.type),
             repr(trainer.G), repr(trainer.D), _fit_options_key(fit_options), _data_key(trainer.real_sampler),
             _source_hash()]
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    for net in (trainer.G, trainer.D):
        for key, value in net.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _fit_options_key(options: dict[str, Any]) -> str:
    out = []
    for key, value in sorted(options.items()):
        if key == "progress":  # a progress bar does not change the result
            continue
        if callable(value):  # a snapshot function: its code decides what is stored
            code = getattr(value, "__code__", None)
            value = (getattr(value, "__qualname__", "?"), code.co_code.hex() if code else "",
                     repr(code.co_consts) if code else "")
        out.append(f"{key}={value!r}")
    return ";".join(out)


def _data_key(sampler: Any) -> str:
    owner = getattr(sampler, "__self__", None)  # a bound method, e.g. data.ring().sample
    if owner is not None and hasattr(owner, "__dataclass_fields__"):
        return repr(owner)
    tensors = [getattr(sampler, "data", None), getattr(sampler, "labels", None)]
    if any(isinstance(t, Tensor) for t in tensors):
        h = hashlib.sha256()
        for t in tensors:
            if isinstance(t, Tensor):
                h.update(str((tuple(t.shape), t.dtype)).encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()
    return getattr(sampler, "__qualname__", type(sampler).__name__)  # the name must then say which data


def _source_hash() -> str:
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
