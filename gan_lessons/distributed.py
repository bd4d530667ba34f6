"""Data-parallel training on PyTorch's own engine: ``torch.distributed``, DistributedDataParallel and
SyncBatchNorm, launched by ``torchrun`` (``gloo`` on CPUs, ``nccl`` on GPUs).

N processes each hold a replica of G and D. Every step, each process draws the *global* batch of
``config.batch_size`` samples from the same seeded random stream and keeps its own slice of
``batch_size / N`` (:class:`ShardedSampler`); DDP averages the gradients over the processes, so with
losses that are batch means ::

    grad = (1/N) sum_r grad L(shard_r) = grad L(global batch)

and the run is the one-process run on the global batch — provided every layer sees the same statistics.
Batch norm does not: it normalises each shard by its own mean and variance. ``torch.nn.SyncBatchNorm``
(BigGAN's "cross-replica batch norm", Brock et al. 2019) all-reduces the statistics so that they are those
of the global batch. PyTorch's SyncBatchNorm runs on GPUs only; on CPUs (gloo) :class:`CrossReplicaBatchNorm`
computes the same statistics with differentiable all-reduces (:func:`sync_batchnorm` picks the right one).
:class:`DistributedGANTrainer` is :class:`gan_lessons.train.GANTrainer` with the models wrapped (SyncBN +
DDP) and the samplers sharded; it runs the same Algorithm 1. Rank 0 writes
checkpoints, whose state dicts have no ``module.`` prefix and whose config holds the global batch, so a
distributed checkpoint resumes on one process (``GANTrainer.load``) and vice versa.

Launch (N processes on this machine; ``python -m gan_lessons ddp --help`` lists the options)::

    torchrun --nproc_per_node=N -m gan_lessons ddp --steps 1000 --batch-size 256 --checkpoint run.pt
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from . import train
from .checkpoints import content_hash
from .checks import check_int
from .models import MAX_WIDTH

__all__ = ["DistributedSetupError", "ShardedSampler", "DistributedGANTrainer", "CrossReplicaBatchNorm",
           "sync_batchnorm", "combine_batch_statistics", "launch", "weight_difference", "init_distributed",
           "rank_and_world", "unwrap", "main"]

Sampler = Callable[[int, torch.Generator], Any]


class ShardedSampler:
    """Process ``rank``'s share of a global batch: draw ``n * world_size`` samples from ``sampler`` and keep
    rows ``[rank * n, (rank + 1) * n)``.

    Every process holds the same seeded stream ``rng`` and draws the same global batch, so the shards are
    disjoint, together they are exactly the batch one process would draw, and the streams stay in step.
    """

    def __init__(self, sampler: Sampler, rank: int, world_size: int) -> None:
        if not callable(sampler):
            raise TypeError("sampler must be a function (n, rng) -> samples (or (samples, labels))")
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an integer in 0..{world_size - 1}, got {rank!r}")
        self.sampler, self.rank, self.world_size = sampler, rank, world_size

    def __call__(self, n: int, rng: torch.Generator | None = None):
        batch = self.sampler(n * self.world_size, rng)
        rows = slice(self.rank * n, (self.rank + 1) * n)
        if isinstance(batch, (tuple, list)):
            return type(batch)(part[rows] for part in batch)
        return batch[rows]

    def __repr__(self) -> str:
        return f"ShardedSampler({self.sampler!r}, rank={self.rank}, world_size={self.world_size})"


class DistributedGANTrainer(train.GANTrainer):
    """:class:`~gan_lessons.train.GANTrainer` on every process of a ``torch.distributed`` group.

    config.batch_size is the GLOBAL batch (it must divide by the world size); each process trains on its
    shard. sync_batchnorm converts every BatchNorm to ``nn.SyncBatchNorm`` (statistics of the global batch);
    False keeps per-shard statistics, which makes the run differ from the one-process run. Losses in the
    history are averaged over the processes. Rank 0 alone writes checkpoints.
    Not supported (a clear error): EMA, historical averaging and the gradient penalty (double backward).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, real_sampler: Sampler,
                 config: train.TrainConfig | None = None, *, latent_dim: int | None = None,
                 noise_sampler: Sampler | None = None, objective: train.Objective | None = None,
                 device: str | torch.device | None = None, sync_batchnorm: bool = True) -> None:
        if not dist.is_available() or not dist.is_initialized():
            raise DistributedSetupError("no torch.distributed process group: call distributed.init_distributed() in "
                               "each process (launched by torchrun --nproc_per_node=N) first")
        config = train.TrainConfig() if config is None else config
        rank, world = rank_and_world()
        _check_supported(config, objective, world)
        if (latent_dim is None) == (noise_sampler is None):
            raise ValueError("give exactly one of latent_dim (for z ~ N(0, I)) or noise_sampler")
        device = torch.device(device) if device is not None else _default_device()
        G, D = (_replicate(net.to(device), device, sync_batchnorm) for net in (generator, discriminator))
        noise = noise_sampler or train.standard_normal_noise(latent_dim)
        self.global_config, self.rank, self.world_size = config, rank, world
        super().__init__(G, D, ShardedSampler(real_sampler, rank, world),
                         replace(config, batch_size=config.batch_size // world),
                         noise_sampler=ShardedSampler(noise, rank, world),
                         objective=objective or train.make_objective(config.loss), device=device)

    def update_discriminator(self, keep_fakes: bool = False) -> tuple[float, float, float]:
        return tuple(_mean_over_processes(super().update_discriminator(keep_fakes), self.device))

    def update_generator(self) -> float:
        return _mean_over_processes([super().update_generator()], self.device)[0]

    def fit(self, steps: int | None = None, *, progress: bool = True, **options: Any) -> train.History:
        """:meth:`GANTrainer.fit` on every process; the progress bar only on rank 0."""
        return super().fit(steps, progress=progress and self.rank == 0, **options)

    def state_dict(self) -> dict[str, Any]:
        """The one-process checkpoint: plain module keys (no ``module.``) and the global-batch config."""
        state = super().state_dict()
        state["config"] = asdict(self.global_config)
        state["sha256"] = content_hash(state)  # the hash covers the config it now holds
        return state

    def save(self, path: str | os.PathLike) -> Path:
        """Rank 0 writes the checkpoint (atomically); every process waits until it is on disk."""
        if self.rank == 0:
            super().save(path)
        dist.barrier()
        return Path(path)

    def load(self, path: str | os.PathLike) -> "DistributedGANTrainer":
        """Resume on every process from a checkpoint of a distributed OR a one-process run of this config."""
        local, self.config = self.config, self.global_config  # the file holds the global config
        try:
            super().load(path)
        finally:
            self.config = local
        return self


class DistributedSetupError(RuntimeError):
    """The process group is missing or a launch failed: the message says what to run instead."""


class CrossReplicaBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch of all processes, for any device (PyTorch's ``nn.SyncBatchNorm``
    accepts GPU tensors only). For channel c, with N = sum_r n_r values over processes r and positions i::

        mu_c = (1/N) sum_{r,i} x_{r,i,c}        var_c = (1/N) sum_{r,i} (x_{r,i,c} - mu_c)^2
        y = gamma_c (x - mu_c) / sqrt(var_c + eps) + beta_c

    The sums are all-reduces whose backward all-reduces the gradient (d sum_r s_r / d s_r = 1 on every
    process), so every process gets the gradient of the global batch. Running statistics are updated as in
    ``nn.BatchNorm`` (unbiased variance). In eval mode, or outside a process group of >= 2 processes, it is
    plain batch norm.
    """

    def __init__(self, num_features: int, *args: Any, **kwargs: Any) -> None:
        check_int("num_features", num_features, minimum=1, maximum=MAX_WIDTH)
        super().__init__(num_features, *args, **kwargs)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input [batch, channels, ...], got {input.dim()}D")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # [1, C, 1, ...] for broadcasting
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        total = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))  # [C + 1]: global sums and N
        n = total[-1]
        centred = x - (total[:-1] / n).view(shape)
        var = _AllReduceSum.apply(centred.pow(2).sum(dims)) / n  # [C] biased variance of the global batch
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats((total[:-1] / n).detach(), (var * n / (n - 1)).detach())
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, unbiased_var: Tensor) -> None:
        self.num_batches_tracked.add_(1)
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean, m)
        self.running_var.lerp_(unbiased_var, m)


def sync_batchnorm(module: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """``module`` with every BatchNorm layer synchronised over the processes: ``nn.SyncBatchNorm`` on a GPU,
    :class:`CrossReplicaBatchNorm` elsewhere (weights and running statistics kept). Returns the new module."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_cross_replica(module)


def combine_batch_statistics(counts: Tensor, means: Tensor, variances: Tensor) -> tuple[Tensor, Tensor]:
    """The mean and (biased) variance of the global batch from each process's own: with n_r samples, mean
    m_r [C] and variance v_r [C] on process r, and N = sum_r n_r::

        mu = (1/N) sum_r n_r m_r          var = (1/N) sum_r n_r (v_r + m_r^2) - mu^2

    (the sums of x and x^2 are what cross-replica batch norm all-reduces). counts [W], means, variances [W, C].
    """
    for name, t, dim in (("counts", counts, 1), ("means", means, 2), ("variances", variances, 2)):
        if not isinstance(t, Tensor) or t.dim() != dim:
            raise ValueError(f"{name} must be a tensor with {dim} dimension(s) ([W] or [W, C]), got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    if means.shape != variances.shape or means.shape[0] != counts.shape[0] or counts.shape[0] == 0:
        raise ValueError(f"need one count and one row of means and variances per process, got counts "
                         f"{tuple(counts.shape)}, means {tuple(means.shape)}, variances {tuple(variances.shape)}")
    if (counts < 0).any() or counts.sum() <= 0 or (variances < 0).any():
        raise ValueError("counts must be >= 0 with a positive total, and variances >= 0")
    w = counts.to(means.dtype)[:, None] / counts.sum()  # [W, 1] share of the global batch
    mean = (w * means).sum(0)
    return mean, (w * (variances + means**2)).sum(0) - mean**2


def init_distributed(backend: str | None = None, timeout_s: float = 120.0) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR,
    ...); return (rank, world_size). backend None: ``nccl`` when CUDA is available, else ``gloo``.

    timeout_s bounds every collective: a process whose peer died raises instead of waiting for ever.
    """
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedSetupError(f"not launched by torchrun ({', '.join(missing)} unset): run "
                           "torchrun --nproc_per_node=N -m gan_lessons ddp ... (or set them yourself)")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"unknown backend {backend!r}: use 'gloo' (CPUs) or 'nccl' (NVIDIA GPUs)")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return rank_and_world()


def rank_and_world() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the module itself)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return module.module if isinstance(module, DistributedDataParallel) else module


def launch(argv: list[str], nproc: int = 2, timeout_s: float = 600.0) -> dict:
    """Run ``torchrun --standalone --nproc_per_node=nproc -m gan_lessons ddp *argv`` in a subprocess and
    return rank 0's JSON summary. A failed launch (a worker died, bad options) raises with torchrun's report;
    timeout_s bounds the whole launch, so nothing can hang."""
    import subprocess

    check_int("nproc", nproc, minimum=1, maximum=1024)  # processes on this machine: one per GPU or per core
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a list of strings, e.g. ['--steps', '5']")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "gan_lessons", "ddp", *argv]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    root = str(Path(__file__).resolve().parents[1])  # this checkout's gan_lessons, installed or not
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          env={**env, "GAN_LESSONS_PROGRESS": "0"})
    if done.returncode != 0:
        raise DistributedSetupError(f"torchrun with {nproc} processes failed (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def weight_difference(a: str | os.PathLike | dict, b: str | os.PathLike | dict) -> float:
    """max over the float tensors t of G and D of  ||t_a - t_b|| / ||t_b||  for two checkpoints (paths or
    loaded state dicts) of the same models: 0 for identical weights."""
    a, b = (_state(x) for x in (a, b))
    worst = 0.0
    for net in ("G", "D"):
        if a[net].keys() != b[net].keys():
            raise ValueError(f"the checkpoints hold different {net} networks (their weight names differ)")
        for key, ref in b[net].items():
            if ref.is_floating_point():
                diff = (a[net][key].float() - ref.float()).norm() / ref.float().norm().clamp_min(1e-12)
                worst = max(worst, float(diff))
    return worst


def _state(x: str | os.PathLike | dict) -> dict:
    if isinstance(x, dict):
        state = x
    elif isinstance(x, (str, os.PathLike)) and Path(x).is_file():
        try:
            state = torch.load(x, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{x} is not a readable checkpoint ({type(err).__name__})") from None
    else:
        raise FileNotFoundError(f"no checkpoint at {x!r}: pass a checkpoint path or a loaded state dict")
    if not isinstance(state, dict) or not all(isinstance(state.get(k), dict) for k in ("G", "D")):
        raise ValueError("a checkpoint must hold the weights of G and D (written by GANTrainer.save)")
    return state


# --- the command line: python -m gan_lessons ddp ------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``[torchrun --nproc_per_node=N -m] gan_lessons ddp [options]``: train the DCGAN on MNIST.

    Under torchrun: N processes, DDP + SyncBatchNorm; without it: one process, the plain trainer (the same
    run). Rank 0 prints one JSON line: steps, world size, global and per-process batch, samples/s, losses.
    """
    args = _parser().parse_args(argv)
    if args.batch_size < 1 or args.steps < 0 or args.width < 1 or args.threads < 0:
        print("gan_lessons ddp: --batch-size and --width must be >= 1, --steps and --threads >= 0",
              file=sys.stderr)
        return 2
    distributed = "RANK" in os.environ
    owns_group = distributed and not dist.is_initialized()  # a caller's group stays open for its next run
    if distributed:
        init_distributed(args.backend, args.timeout)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(args.threads or threads)
        with torch.backends.mkldnn.flags(enabled=not args.exact):
            trainer, seconds, done = _train_cli(args, distributed)
    finally:
        torch.set_num_threads(threads)
        if owns_group:
            dist.destroy_process_group()
    if trainer is not None:
        world = getattr(trainer, "world_size", 1)
        print(json.dumps({
            "steps": trainer.step, "world_size": world, "batch_size": args.batch_size,
            "batch_per_process": args.batch_size // world, "sync_batchnorm": world > 1 and not args.no_sync_bn,
            "seconds": round(seconds, 3), "samples_per_s": round(done * args.batch_size / seconds, 1),
            "d_loss": trainer.history.d_loss[-1] if len(trainer.history) else None,
            "g_loss": trainer.history.g_loss[-1] if len(trainer.history) else None,
        }, sort_keys=True))
    return 0


def _train_cli(args: argparse.Namespace, distributed: bool):
    from . import data, models
    from .runtime import seed_everything

    if args.data == "mnist":
        images, _ = data.mnist(split="train")
    else:  # seeded random images: for tests and benchmarks, no dataset needed
        images = torch.rand(1024, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    cfg = train.TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, log_every=1)
    resuming = bool(args.checkpoint) and Path(args.checkpoint).is_file()
    if resuming:  # a run continues to --steps: keep the steps its config was written with
        saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)["config"]
        cfg = replace(cfg, steps=int(saved["steps"]))
    seed_everything(args.seed)
    G, D = models.DCGANGenerator(args.latent_dim, args.width), models.DCGANDiscriminator(args.width)
    kind = DistributedGANTrainer if distributed else train.GANTrainer
    options = {"sync_batchnorm": not args.no_sync_bn} if distributed else {}
    trainer = kind(G, D, data.TensorSampler(images), cfg, latent_dim=args.latent_dim, device="cpu"
                   if not torch.cuda.is_available() else None, **options)
    if resuming:
        trainer.load(args.checkpoint)
    start_step, start = trainer.step, time.perf_counter()
    crash = _crash_hook(args, trainer)
    trainer.fit(args.steps, checkpoint_path=args.checkpoint, checkpoint_every=args.checkpoint_every,
                progress=not args.quiet, **crash)
    seconds = time.perf_counter() - start
    rank = getattr(trainer, "rank", 0)
    return (trainer if rank == 0 else None), max(seconds, 1e-9), trainer.step - start_step


def _crash_hook(args: argparse.Namespace, trainer) -> dict:
    """--crash-at STEP --crash-rank R: that process kills itself (SIGKILL) after STEP updates, to show (and
    test) that torchrun then stops the others and exits non-zero instead of hanging."""
    if args.crash_at is None or getattr(trainer, "rank", 0) != args.crash_rank:
        return {}

    def snapshot(t) -> None:
        if t.step >= args.crash_at:
            import signal

            print(f"[rank {args.crash_rank}] simulated crash at step {t.step}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    return {"snapshot": snapshot, "snapshot_every": 1}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="[torchrun --nproc_per_node=N -m] gan_lessons ddp",
                                description="Data-parallel DCGAN training (DDP + SyncBatchNorm).")
    p.add_argument("--steps", type=int, default=100, help="generator updates in total (default 100)")
    p.add_argument("--batch-size", type=int, default=64, help="GLOBAL batch, split over the processes")
    p.add_argument("--width", type=int, default=32, help="DCGAN width (models.DCGANGenerator)")
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=["mnist", "random"], default="mnist",
                   help="mnist (data.mnist) or seeded random images (tests, benchmarks)")
    p.add_argument("--no-sync-bn", action="store_true", help="keep per-process batch norm statistics")
    p.add_argument("--checkpoint", default=None, help="checkpoint file: resumed from if present, written")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also write it every K steps")
    p.add_argument("--backend", choices=["gloo", "nccl"], default=None, help="default: nccl if CUDA, else gloo")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a collective may wait for a peer")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads per process (0: leave as is; torchrun sets OMP_NUM_THREADS=1)")
    p.add_argument("--exact", action="store_true",
                   help="PyTorch's own CPU convolutions instead of oneDNN's, whose kernels (and rounding) change "
                        "with the batch size on some CPUs: for comparing runs whose per-process batches differ")
    p.add_argument("--crash-at", type=int, default=None, help=argparse.SUPPRESS)  # fault injection (tests)
    p.add_argument("--crash-rank", type=int, default=1, help=argparse.SUPPRESS)
    return p


# --- helpers -------------------------------------------------------------------------------------------------

def _check_supported(config: train.TrainConfig, objective: train.Objective | None, world: int) -> None:
    if not isinstance(config, train.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} (the global batch) must divide by the number of "
                         f"processes {world}: use a multiple of {world}")
    if config.ema_decay is not None or config.historical_weight:
        raise ValueError("DistributedGANTrainer does not keep an EMA or historical averages yet: set "
                         "ema_decay=None and historical_weight=0")
    gp = config.loss == "wgan-gp" if objective is None else getattr(objective, "gp_weight", 0.0) > 0
    if gp:
        raise ValueError("the gradient penalty needs a double backward through D, which DDP does not "
                         "support: use loss='hinge' or 'ns' (with spectral norm) in distributed runs")


def _default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


class _Replica(DistributedDataParallel):
    """DDP whose state dict is the wrapped network's (no ``module.`` prefix): checkpoints are portable."""

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: dict[str, Tensor], strict: bool = True, assign: bool = False):
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


def _to_cross_replica(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
            module, (CrossReplicaBatchNorm, nn.SyncBatchNorm)):
        out = CrossReplicaBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats)
        out.load_state_dict(module.state_dict())
        return out.to(next(iter(module.state_dict().values()), torch.empty(0)).device).train(module.training)
    for name, child in module.named_children():
        setattr(module, name, _to_cross_replica(child))
    return module


def _replicate(net: nn.Module, device: torch.device, sync: bool) -> nn.Module:
    if sync:
        net = sync_batchnorm(net, device)
    # no buffer sync in forward: batch-norm running statistics are not overwritten from rank 0 between the
    # forward and backward passes (with SyncBN they agree anyway; without it each shard keeps its own)
    import inspect

    sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in
            inspect.signature(DistributedDataParallel.__init__).parameters else {"broadcast_buffers": False})
    return _Replica(net, device_ids=[device.index] if device.type == "cuda" else None, **sync)


class _AllReduceSum(torch.autograd.Function):
    """s -> sum over processes of s; the gradient is summed over processes the same way."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad)


def _mean_over_processes(values, device: torch.device) -> list[float]:
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)  # sum over processes
    return (t / dist.get_world_size()).tolist()
