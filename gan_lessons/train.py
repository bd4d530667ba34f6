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
the objective (:mod:`gan_lessons.objectives`) and a few options of :class:`TrainConfig`
(:mod:`gan_lessons.config`): weight clipping, EMA of G, historical averaging (:mod:`gan_lessons.averaging`).
Checkpoints: :mod:`gan_lessons.checkpoints`; the run cache: :mod:`gan_lessons.runcache`.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from . import averaging
from .checkpoints import atomic_save, check_snapshots, load_trainer, trainer_state
from .runcache import load_or_train, run_cache_path
from .checks import check_codes, check_first_batch, check_int as _check_int, check_real_batch, name_of
from .config import History, Sampler, TrainConfig, TrainingDiverged, make_optimizer
from .latent import standard_normal_noise
# The objectives live in gan_lessons.objectives; their names stay importable from here for the chapters.
from .objectives import (OBJECTIVES, FeatureMatchingObjective, HingeObjective, JSObjective,  # noqa: F401
                         Objective, WassersteinObjective, feature_matching_loss, make_objective)
from .runtime import ThreadPolicy, get_device, progress_bar

__all__ = ["TrainConfig", "History", "GANTrainer", "TrainingDiverged", "train_gan", "standard_normal_noise",
           "run_cache_path"]


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
        self.device = get_device(None if device is None else str(device))
        self.G, self.D = generator.to(self.device), discriminator.to(self.device)
        self.real_sampler = real_sampler
        self.noise_sampler = noise_sampler or standard_normal_noise(latent_dim)
        self.config = config
        self.objective = objective or make_objective(config.loss)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.opt_d = make_optimizer(self.D, config.lr_d, config)
        self.opt_g = make_optimizer(self.G, config.lr_g, config)
        self.ema = averaging.ema_copy(self.G) if config.ema_decay else None
        # historical averaging: running mean of each player's past weights, and how many went into it
        self.averages = averaging.historical_state(self.G, self.D) if config.historical_weight else None
        self._kept: tuple | None = None  # (real, labels, fakes) of the last D update, for the G update
        self._batches_checked = False  # the first real batch (and its fakes) are checked once, see checks.check_first_batch
        self.step = 0
        self.history = History()
        self.snapshots: list[tuple[int, Any]] = []

    # -- the two updates of Algorithm 1 -------------------------------------------------------------
    def update_discriminator(self, keep_fakes: bool = False) -> tuple[float, float, float]:
        """(1) Update D: one descent step on L_D; returns (loss, mean D(x), mean D(G(z))) as floats.

        keep_fakes: make the fakes with their graph into G and keep them (with the real batch) for the next
        :meth:`update_generator`, which then reuses them instead of running G again.
        """
        real, labels = self._real_batch()
        with torch.set_grad_enabled(keep_fakes), self._autocast():
            fake = self._generate(self._noise(), labels)
        if not self._batches_checked:  # once per fit: cheap
            dtype = next(self.G.parameters(), torch.empty(0)).dtype
            check_first_batch(f"real_sampler {name_of(self.real_sampler)}", real, labels, fake, dtype)
            self._batches_checked = True
        self._kept = (real, labels, fake) if keep_fakes else None
        with self._autocast():
            loss, real_out, fake_out = self.objective.discriminator_loss(
                self._bound(self.D, labels), real, fake.detach(), self.rng)
        self._descend(loss, self.D, self.opt_d, "D")
        self._clip_weights()  # WGAN with weight clipping: only if config.clip_value is set
        read = torch.sigmoid if self.objective.probabilities else (lambda t: t)
        return loss.item(), read(real_out.detach()).mean().item(), read(fake_out.detach()).mean().item()

    def update_generator(self) -> float:
        """(2) Update G: one descent step on L_G (D is held fixed); returns the loss as a float.

        Uses the fakes kept by the last ``update_discriminator(keep_fakes=True)``, else a fresh batch.
        """
        real, labels, fake = self._kept or self._fresh_fakes()
        self._kept = None
        self.D.requires_grad_(False)  # no grads into D's weights: faster, and D is not being trained
        try:
            with self._autocast():
                loss = self.objective.generator_loss(self._bound(self.D, labels), fake, real)
        finally:
            self.D.requires_grad_(True)
        self._descend(loss, self.G, self.opt_g, "G")
        self._update_ema()  # the weight average of G that sampling uses, if config.ema_decay is set
        return loss.item()

    # -- the small named steps the two updates share --------------------------------------------------
    def _descend(self, loss: Tensor, net: nn.Module, optimizer: torch.optim.Optimizer, role: str) -> None:
        """Check the loss is finite, backpropagate, add historical averaging, take the optimizer step."""
        self._guard(loss, "discriminator" if role == "D" else "generator")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        averaging.add_historical_gradient(net, self.averages, role, self.config.historical_weight)
        optimizer.step()
        averaging.fold_into_average(net, self.averages, role)

    def _clip_weights(self) -> None:
        """WGAN (Arjovsky et al. 2017): clamp every parameter of D into [-c, c] after its update."""
        if self.config.clip_value is None:
            return
        with torch.no_grad():
            for p in self.D.parameters():
                p.clamp_(-self.config.clip_value, self.config.clip_value)

    def _update_ema(self) -> None:
        """EMA of G's weights: ema <- decay * ema + (1 - decay) * G; buffers (batch-norm statistics) copied."""
        if self.ema is not None:
            averaging.ema_update(self.ema, self.G, self.config.ema_decay)

    def _fresh_fakes(self) -> tuple[Tensor, Tensor | None, Tensor]:
        real, labels = self._real_batch()
        with self._autocast():
            return real, labels, self._generate(self._noise(), labels)

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
            check_snapshots(self.snapshots[-1:], snapshot)  # a value no checkpoint can hold: refused before training
        bar = progress_bar(total=steps, initial=self.step, enabled=progress)
        with ThreadPolicy.of(self.G, self.D, device=self.device) as threads, contextlib.closing(bar):
            while self.step < steps:
                threads.check()  # the thread policy: one thread for small networks, load-aware on a CPU
                self._one_step()
                bar.update(1)
                if snapshot is not None and (self.step == steps or
                                             (snapshot_every and self.step % snapshot_every == 0)):
                    self.snapshots.append((self.step, snapshot(self)))
                    check_snapshots(self.snapshots[-1:], snapshot)
                if checkpoint_path and checkpoint_every and self.step % checkpoint_every == 0:
                    self.save(checkpoint_path)
        if checkpoint_path:
            self.save(checkpoint_path)
        return self.history

    # -- checkpoints (gan_lessons.checkpoints) --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: weights, optimizers, EMA, averages, random streams, history."""
        return trainer_state(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint atomically (a crash mid-write never leaves a half file)."""
        return atomic_save(self.state_dict(), path)

    def load(self, path: str | os.PathLike) -> "GANTrainer":
        """Resume from a checkpoint written by :meth:`save`: all or nothing (:func:`checkpoints.load_trainer`)."""
        return load_trainer(self, path)

    # -- helpers --------------------------------------------------------------------------------------
    def sample(self, n: int | None = None, *, z: Tensor | None = None, labels: Tensor | None = None,
               rng: torch.Generator | None = None, use_ema: bool = True, batch: int | None = None) -> Tensor:
        """Samples of the generator (the EMA copy if kept and ``use_ema``), in eval mode, without gradients,
        on the CPU: the one way every chapter draws from a trained G.

        Either ``n`` codes drawn by the noise sampler from ``rng`` (default: the trainer's own stream, which
        training continues from), ``batch`` at a time if given (memory), or the codes ``z`` themselves;
        ``labels`` [n] for a conditional G.
        """
        if z is None:
            size = _check_int("n", n, minimum=1) if batch is None else _check_int("batch", batch, minimum=1)
            stream = self.rng if rng is None else rng
            codes = [self.noise_sampler(min(size, n - i), stream) for i in range(0, n, size)]
        elif n is not None or rng is not None or not isinstance(z, Tensor):
            raise ValueError("give either n (and optionally rng) or the codes z (a tensor), not both")
        else:
            codes = list(z.split(z.shape[0] if batch is None else _check_int("batch", batch, minimum=1)))
        total = sum(c.shape[0] for c in codes)
        if labels is not None and (not isinstance(labels, Tensor) or labels.shape[:1] != (total,)):
            raise ValueError(f"labels must be a tensor with one class per sample ({total}), got "
                             f"{getattr(labels, 'shape', type(labels).__name__)}")
        net = self.ema if (use_ema and self.ema is not None) else self.G
        ys = [None] * len(codes) if labels is None else list(labels.split([c.shape[0] for c in codes]))
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                parts = [self._generate(c.to(self.device), None if y is None else y.to(self.device), net)
                         for c, y in zip(codes, ys)]
        finally:
            net.train(was_training)
        return torch.cat(parts).cpu()

    def _one_step(self) -> None:
        k = self.config.d_steps
        for i in range(k):
            d_loss, d_real, d_fake = self.update_discriminator(keep_fakes=i == k - 1)
        g_loss = self.update_generator()  # on the fakes of the last D update: G runs once per step
        self.step += 1
        if self.step % self.config.log_every == 0 or self.step == 1:
            self.history.append(step=self.step, d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def _real_batch(self) -> tuple[Tensor, Tensor | None]:
        x, labels = check_real_batch(self.real_sampler, self.real_sampler(self.config.batch_size, self.rng),
                                     self.config.batch_size)
        return x.to(self.device), (None if labels is None else labels.to(self.device))

    def _noise(self, n: int | None = None) -> Tensor:
        n = n or self.config.batch_size
        return check_codes(self.noise_sampler, self.noise_sampler(n, self.rng), n).to(self.device)

    def _generate(self, z: Tensor, labels: Tensor | None, net: nn.Module | None = None) -> Tensor:
        net = self.G if net is None else net
        return net(z) if labels is None else net(z, labels)

    @staticmethod
    def _bound(D: nn.Module, labels: Tensor | None) -> Callable[[Tensor], Tensor]:
        if labels is None:
            return D
        bound = lambda x: D(x, labels)  # noqa: E731
        if hasattr(D, "features"):  # feature matching on a conditional D
            bound.features = lambda x: D.features(x, labels)
        return bound

    def _autocast(self):
        """``precision='bf16'``: matmuls and convolutions in bfloat16; autocast's fp32 ops and the weights stay fp32."""
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
    (:mod:`gan_lessons.runcache`) under a key of everything that decides its result (name, config, objective,
    initial weights, data, fit options, the source of the modules it uses); an identical later call loads it
    (bit for bit) instead of training, so a cached run is never stale. ``GAN_LESSONS_CACHE=off`` switches it off.
    """
    config = TrainConfig() if config is None else config
    trainer = GANTrainer(generator, discriminator, real_sampler, config, latent_dim=latent_dim,
                         noise_sampler=noise_sampler, objective=objective, device=device)
    if cache is not None:
        if resume_from is not None or "checkpoint_path" in fit_options:
            raise ValueError("give either cache=NAME or resume_from/checkpoint_path, not both")
        path = run_cache_path(cache, trainer, fit_options)
        if path is not None:
            return load_or_train(trainer, path, fit_options)
    if resume_from is not None:
        trainer.load(resume_from)  # a missing or unfitting checkpoint is an error, never a silent fresh start
    trainer.fit(**fit_options)
    return trainer
