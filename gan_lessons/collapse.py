"""Remedies for mode collapse, and the study that compares them on 2D mixtures, over many seeds at once.

Book: chapter "Mode collapse on 2D Gaussian mixtures". Every method trains through the one trainer,
:class:`gan_lessons.train.GANTrainer`; a method is an :class:`~gan_lessons.train.Objective` plus a
discriminator, both written for the ensemble layout of :mod:`gan_lessons.ensemble` (``[batch, members, dim]``):

* ``minimax`` / ``ns``: the original game, saturating or non-saturating generator (Goodfellow et al. 2014);
* ``unrolled``: G's loss is taken against D unrolled k gradient steps ahead
  (:class:`gan_lessons.objectives.UnrolledObjective`, Metz et al. 2017);
* ``pacgan`` (``pacgan3`` ...): D judges m packed samples at once (:class:`PackedDiscriminator`, Lin et al. 2018);
* ``mbstd``: D sees the minibatch standard deviation as an extra feature (:class:`MinibatchStdDiscriminator`,
  Karras et al. 2018, a simple form of minibatch discrimination, Salimans et al. 2016);
* ``mbdisc``: minibatch discrimination itself (:class:`MinibatchDiscriminationDiscriminator`, the tensor T and
  the L1 kernel between samples, Salimans et al. 2016);
* ``wgan-gp``: Wasserstein critic with a per-member gradient penalty
  (``objectives.WassersteinObjective(gp_weight=10, per_member=True)``);
* ``hinge-sn``: hinge loss with a spectrally normalised D (Miyato et al. 2018);
* ``mrgan`` (:data:`ENCODER_METHODS`, not in chapter 4's table): G with an encoder that must reconstruct every
  data point (:mod:`gan_lessons.mode_regularised`, Che et al. 2017).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from . import mode_regularised
from .checks import check_int
from .data import GaussianMixture, TensorSampler, grid, ring, square_grid
from .ensemble import EnsembleDiscriminator, EnsembleGenerator, EnsembleMLP, EnsembleLinear, \
    EnsembleSampler, ensemble_noise
from .metrics import mode_collapse_metrics
from .objectives import Objective, make_objective
from .runtime import seed_everything
from .train import GANTrainer, TrainConfig, train_gan

__all__ = [
    "METHODS",
    "ENCODER_METHODS",
    "NetSpec",
    "PackedDiscriminator",
    "MinibatchStdDiscriminator",
    "MinibatchDiscriminationDiscriminator",
    "minibatch_stddev",
    "minibatch_features",
    "test_beds",
    "build_method",
    "MethodRun",
    "MethodSetup",
    "prepare_method",
    "train_method",
    "summarise",
]

METHODS = ("minimax", "ns", "unrolled", "pacgan", "mbstd", "mbdisc", "wgan-gp", "hinge-sn")
ENCODER_METHODS = ("mrgan",)  # G with an encoder (gan_lessons.mode_regularised): chapter "GANs with an encoder"


# -- discriminators that see more than one sample --------------------------------------------------------
class PackedDiscriminator(nn.Module):
    """PacGAN (Lin et al. 2018): D judges ``pack`` samples at once, concatenated into one input.

    x [batch, members, dim] -> packs [batch / pack, members, pack * dim] (consecutive samples of one member,
    all real or all fake) -> logits [batch / pack, members]. A collapsed generator gives packs of
    near-identical points, which real packs almost never are, so D can penalise the lack of diversity.
    """

    def __init__(self, core: nn.Module, pack: int = 2) -> None:
        super().__init__()
        check_int("pack", pack, minimum=1)
        self.core, self.pack = core, pack

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[0] % self.pack:
            raise ValueError(f"x must be [batch, members, dim] with batch divisible by pack={self.pack}, "
                             f"got {tuple(x.shape)}: choose a batch size that is a multiple of the pack size")
        b, m, d = x.shape
        packs = x.reshape(b // self.pack, self.pack, m, d).transpose(1, 2).reshape(b // self.pack, m, -1)
        return self.core(packs)  # [batch / pack, members]


def minibatch_stddev(h: Tensor) -> Tensor:
    """Karras et al. 2018: s_m = mean over features f of std over the batch of h[:, m, f] (biased, +1e-8).

    h: [batch, members, features] -> [batch, members, features + 1], s_m appended to every sample of member m.
    """
    if not isinstance(h, Tensor) or not h.is_floating_point():
        raise TypeError(f"h must be a floating-point tensor [batch, members, features], got "
                        f"{getattr(h, 'dtype', type(h).__name__)}")
    if h.dim() != 3 or h.shape[0] < 2:
        raise ValueError(f"h must be [batch >= 2, members, features], got {tuple(h.shape)}")
    s = (h.var(0, unbiased=False, keepdim=True) + 1e-8).sqrt().mean(2, keepdim=True)  # [1, members, 1]
    return torch.cat([h, s.expand(h.shape[0], -1, -1)], dim=2)


def minibatch_features(m: Tensor, group: int = 64) -> Tensor:
    """Minibatch discrimination's features (Salimans et al. 2016, sec. 3.2) from the rows M_i = f(x_i) T::

        o(x_i)_b = sum_j exp(-|| M_{i,b} - M_{j,b} ||_1)      (j over x_i's group, itself included)

    m: [batch, members, B, C] (B kernels of C numbers per sample) -> o [batch, members, B]. The sum runs over
    groups of ``group`` consecutive samples (the paper's minibatch held 100), the last one smaller if ``group``
    does not divide the batch: the pairs, and the cost, grow with group x batch instead of batch^2.
    """
    if not isinstance(m, Tensor) or not m.is_floating_point() or m.dim() != 4 or m.shape[0] < 1:
        raise ValueError(f"m must be a float tensor [batch, members, kernels, kernel_dim], got "
                         f"{tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__}")
    check_int("group", group, minimum=1)
    parts = []
    for chunk in m.split(group):  # [g, members, B, C], g <= group
        x = chunk.permute(1, 2, 0, 3).flatten(0, 1)  # [members * B, g, C]
        d = torch.cdist(x, x, p=1)  # [members * B, g, g] L1 distances (faster than broadcasting, measured)
        parts.append(torch.exp(-d).sum(-1).view(*chunk.shape[1:3], -1).permute(2, 0, 1))  # [g, members, B]
    return torch.cat(parts)


class MinibatchDiscriminationDiscriminator(nn.Module):
    """D = head(concat(f(x), o(x))): minibatch discrimination as in Salimans et al. 2016 (sec. 3.2).

    f is an MLP body with hidden outputs [batch, members, A]; a learned tensor T [members, A, B * C] maps each
    f(x_i) to B rows of C numbers, :func:`minibatch_features` compares every sample's rows with those of its
    group, and the B closeness sums are appended to f(x_i). Real and fake batches are judged separately (the
    trainer calls D on each), so a collapsed G gives fakes whose rows are all close: large o, easy to spot.
    """

    def __init__(self, members: int, data_dim: int = 2, hidden: int = 128, depth: int = 2,
                 activation: str = "leaky_relu", kernels: int = 4, kernel_dim: int = 4, group: int = 32,
                 **kw) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1 for a minibatch-discrimination discriminator, got {depth!r}")
        for name, value in (("kernels", kernels), ("kernel_dim", kernel_dim), ("group", group)):
            check_int(name, value, minimum=1)
        self.kernels, self.kernel_dim, self.group = kernels, kernel_dim, group
        self.body = EnsembleMLP(members, data_dim, hidden, hidden, depth - 1, activation, **kw)
        self.T = nn.Parameter(torch.randn(members, hidden, kernels * kernel_dim) * 0.1)  # the paper's tensor
        self.head = nn.ModuleList([EnsembleLinear(members, hidden + kernels, hidden),
                                   EnsembleLinear(members, hidden, 1)])
        self.slope = 0.2

    def forward(self, x: Tensor) -> Tensor:
        h = torch.nn.functional.leaky_relu(self.body(x), self.slope)  # [batch, members, A]
        m = torch.einsum("nma,mak->nmk", h, self.T).unflatten(2, (self.kernels, self.kernel_dim))
        h = torch.cat([h, minibatch_features(m, self.group)], dim=2).transpose(0, 1)  # [members, batch, A + B]
        h = torch.nn.functional.leaky_relu(self.head[0](h), self.slope)
        return self.head[1](h).squeeze(2).transpose(0, 1)  # [batch, members]

    def extra_repr(self) -> str:  # part of the run cache's key
        return f"kernels={self.kernels}, kernel_dim={self.kernel_dim}, group={self.group}"


class MinibatchStdDiscriminator(nn.Module):
    """D = head(concat(body(x), minibatch_stddev(body(x)))): body is an MLP with hidden outputs.

    x [batch, members, dim] -> logits [batch, members]. The extra feature is the average spread of the
    batch's features: a collapsed batch has a small one, and D learns to spot it.
    """

    def __init__(self, members: int, data_dim: int = 2, hidden: int = 128, depth: int = 2,
                 activation: str = "leaky_relu", **kw) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1 for a minibatch-stddev discriminator, got {depth!r}")
        self.body = EnsembleMLP(members, data_dim, hidden, hidden, depth - 1, activation, **kw)
        self.head = nn.ModuleList([EnsembleLinear(members, hidden + 1, hidden),
                                   EnsembleLinear(members, hidden, 1)])
        self.slope = 0.2

    def forward(self, x: Tensor) -> Tensor:
        h = torch.nn.functional.leaky_relu(self.body(x), self.slope)  # [batch, members, hidden]
        h = minibatch_stddev(h).transpose(0, 1)  # [members, batch, hidden + 1]
        h = torch.nn.functional.leaky_relu(self.head[0](h), self.slope)
        return self.head[1](h).squeeze(2).transpose(0, 1)  # [batch, members]


def test_beds() -> dict[str, GaussianMixture]:
    """The book's two mode-collapse test beds: 8 Gaussians on a ring of radius 2 and a 5 x 5 grid of spacing
    2, both of std 0.1 (chapter 4's comparison, and every chapter that measures modes on them)."""
    return {"ring": ring(8, radius=2.0, std=0.1), "grid": grid(5, spacing=2.0, std=0.1)}


# -- building and running the comparison --------------------------------------------------------------
@dataclass(frozen=True)
class NetSpec:
    """Sizes of the networks of one comparison (every method gets the same G and D body)."""

    latent_dim: int = 2  # z ~ N(0, I_latent)
    g_hidden: int = 128  # generator width
    g_depth: int = 2  # generator hidden layers
    g_norm: str | None = None  # None | 'batch' (PacGAN's protocol uses batch norm in G)
    d_hidden: int = 128  # discriminator width
    d_depth: int = 2  # discriminator hidden layers
    d_activation: str = "leaky_relu"  # leaky_relu | relu | maxout
    pieces: int = 5  # maxout pieces (only with d_activation='maxout')
    init_std: float | None = None  # None: nn.Linear's init; else N(0, init_std^2) weights (PacGAN: 0.02)
    unroll_steps: int = 5  # K for the unrolled GAN
    unroll_lr: float = 0.01  # eta of the unrolled GAN's plain gradient steps (per member's own loss)


def build_method(method: str, members: int, net: NetSpec = NetSpec(), data_dim: int = 2
                 ) -> tuple[nn.Module, nn.Module, Objective]:
    """(G, D, objective) for one method of :data:`METHODS` (or ``pacganM``), as an ensemble of ``members``.

    Only networks and loss: the training settings (``d_steps``, Adam's betas ...) are the caller's
    ``TrainConfig``; the WGAN-GP penalty weight is the objective's own default (lambda = 10)."""
    pack = _pack_size(method)
    if method not in METHODS + ENCODER_METHODS and pack is None:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS + ENCODER_METHODS)} "
                         "(or pacgan3, pacgan4 ...)")
    if not isinstance(net, NetSpec):
        raise TypeError(f"net must be a NetSpec, got {type(net).__name__}")
    if method == "mrgan":  # G with an encoder E, and the plain D (mode_regularised)
        G, objective = mode_regularised.build(members, net.latent_dim, data_dim, net.g_hidden, net.g_depth)
        D = EnsembleDiscriminator(members, data_dim, net.d_hidden, net.d_depth, net.d_activation,
                                  init_std=net.init_std, pieces=net.pieces)
        return G, D, objective
    G = EnsembleGenerator(members, net.latent_dim, data_dim, net.g_hidden, net.g_depth, "relu",
                          norm=net.g_norm, init_std=net.init_std)
    d_kw = dict(init_std=net.init_std, pieces=net.pieces)
    if pack is not None:
        core = EnsembleDiscriminator(members, data_dim * pack, net.d_hidden, net.d_depth, net.d_activation, **d_kw)
        return G, PackedDiscriminator(core, pack), make_objective("ns")
    if method == "mbstd":
        D = MinibatchStdDiscriminator(members, data_dim, net.d_hidden, net.d_depth, net.d_activation, **d_kw)
        return G, D, make_objective("ns")
    if method == "mbdisc":
        D = MinibatchDiscriminationDiscriminator(members, data_dim, net.d_hidden, net.d_depth, net.d_activation,
                                                 **d_kw)
        return G, D, make_objective("ns")
    D = EnsembleDiscriminator(members, data_dim, net.d_hidden, net.d_depth, net.d_activation,
                              spectral_norm=method == "hinge-sn", **d_kw)
    return G, D, _method_objective(method, net)


def _method_objective(method: str, net: NetSpec) -> Objective:
    """The loss of a method with a pointwise D: its name in objectives.OBJECTIVES, and the ensemble options."""
    if method == "unrolled":
        return make_objective("unrolled", base=make_objective("ns"), steps=net.unroll_steps, lr=net.unroll_lr)
    if method == "wgan-gp":
        return make_objective("wgan-gp", per_member=True)  # one gradient norm per member
    return make_objective("hinge" if method == "hinge-sn" else method)


@dataclass
class MethodRun:
    """One method trained on every (dataset, seed) pair as one ensemble. Member m = d * seeds + s."""

    method: str
    datasets: dict[str, GaussianMixture]
    seeds: int
    trainer: GANTrainer
    metrics: dict[str, list[dict]]  # dataset -> one mode_collapse_metrics dict per seed
    samples: Tensor  # [n_eval, members, 2] final samples used for the metrics
    snapshots: list[tuple[int, dict]] = field(default_factory=list)  # (step, {"samples", "arrows", "heat"})

    def member(self, dataset: str, seed: int) -> int:
        return list(self.datasets).index(dataset) * self.seeds + seed


@dataclass
class MethodSetup:
    """One method's ensemble, ready to train: ``train_gan(**setup.train_args)``, then ``setup.finish(trainer)``."""

    method: str
    datasets: dict[str, GaussianMixture]
    seeds: int
    n_eval: int
    seed: int
    train_args: dict  # the keyword arguments of train.train_gan: networks, data, config, objective, snapshots

    def finish(self, trainer: GANTrainer) -> MethodRun:
        """The trained ensemble's :class:`MethodRun`: ``n_eval`` fresh samples per member and their metrics."""
        if not isinstance(trainer, GANTrainer):
            raise TypeError(f"trainer must be the GANTrainer that train_gan returned, got {type(trainer).__name__}")
        samples = trainer.sample(self.n_eval, rng=torch.Generator().manual_seed(self.seed + 1))  # [n, members, 2]
        metrics = {name: [mode_collapse_metrics(samples[:, i * self.seeds + s], mix) for s in range(self.seeds)]
                   for i, (name, mix) in enumerate(self.datasets.items())}
        return MethodRun(self.method, dict(self.datasets), self.seeds, trainer, metrics, samples,
                         list(trainer.snapshots))


def prepare_method(method: str, datasets: Mapping[str, GaussianMixture], seeds: int, config: TrainConfig, *,
                   net: NetSpec = NetSpec(), train_size: int | None = None, n_eval: int = 2500,
                   snapshot_every: int = 0, seed: int = 0, progress: bool = False,
                   cache: str | None = None) -> MethodSetup:
    """``method`` on every dataset x ``seeds`` runs as one ensemble, ready for :func:`train.train_gan`.

    train_size: None draws fresh samples every batch; an integer fixes a training set of that many points
    per dataset (PacGAN's protocol: 100,000). Metrics use ``n_eval`` samples per member.
    cache: a name prefix for the run cache of :func:`train.train_gan` (None: always train); the datasets,
    seeds and snapshot settings are added to the name, so different studies never share an entry.
    """
    check_int("n_eval", n_eval, minimum=1, maximum=10**7)
    if train_size is not None:
        check_int("train_size", train_size, minimum=1, maximum=10**8)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(datasets, Mapping) or not datasets or \
            not all(isinstance(m, GaussianMixture) for m in datasets.values()):
        raise ValueError("datasets must map names to data.GaussianMixture objects, e.g. {'ring': data.ring()}")
    check_int("seeds", seeds, minimum=1)
    rng = seed_everything(seed)
    members = len(datasets) * seeds
    sources = []
    for mix in datasets.values():
        src = mix.sample if train_size is None else TensorSampler(mix.sample(train_size, rng))
        sources += [src] * seeds
    G, D, objective = build_method(method, members, net)
    pack = _pack_size(method) or 1  # PacGAN keeps batch_size packs per minibatch: pack x as many samples
    config = dataclasses.replace(config, seed=seed, batch_size=config.batch_size * pack)
    sampler, noise = EnsembleSampler(sources), ensemble_noise(members, net.latent_dim)
    probe = _Probe(G, D, objective, sampler, noise, datasets, seeds, config.batch_size, rng) \
        if snapshot_every else None
    name = None if cache is None else _cache_name(cache, method, datasets, seeds, train_size, snapshot_every, seed)
    train_args = dict(generator=G, discriminator=D, real_sampler=sampler, config=config, objective=objective,
                      noise_sampler=noise, snapshot=probe, snapshot_every=snapshot_every, progress=progress,
                      cache=name)
    return MethodSetup(method, dict(datasets), seeds, n_eval, seed, train_args)


def train_method(method: str, datasets: Mapping[str, GaussianMixture], seeds: int, config: TrainConfig,
                 **options) -> MethodRun:
    """:func:`prepare_method` (same arguments), :func:`train.train_gan`, then :meth:`MethodSetup.finish`."""
    setup = prepare_method(method, datasets, seeds, config, **options)
    return setup.finish(train_gan(**setup.train_args))


def summarise(metrics: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean and standard error (sample std / sqrt(n), 0 for n = 1) of modes, hq_fraction, reverse_kl."""
    if not metrics:
        raise ValueError("summarise needs at least one metrics dict")
    for m in metrics:
        if not isinstance(m, Mapping) or not {"modes", "hq_fraction", "reverse_kl"} <= set(m):
            raise ValueError(f"each metrics entry must be a dict with modes, hq_fraction and reverse_kl (as "
                             f"mode_collapse_metrics returns), got {m!r}"[:300])
    out = {}
    for key, short in (("modes", "modes"), ("hq_fraction", "hq"), ("reverse_kl", "rkl")):
        values = torch.tensor([float(m[key]) for m in metrics], dtype=torch.float64)
        se = float(values.std(unbiased=True) / math.sqrt(len(values))) if len(values) > 1 else 0.0
        out[f"{short}_mean"], out[f"{short}_se"] = float(values.mean()), se
    return out


class _Probe:
    """Snapshot for the chapter's views: samples of fixed z, -grad of L_G at them, D on a grid."""

    def __init__(self, G: nn.Module, D: nn.Module, objective: Objective, sampler: EnsembleSampler,
                 noise: Callable, datasets: Mapping[str, GaussianMixture], seeds: int, batch_size: int,
                 rng: torch.Generator, resolution: int = 40, n_arrows: int = 32) -> None:
        self.n_arrows = n_arrows
        self.z = noise(batch_size, rng)  # fixed noise: [batch, members, latent]
        self.real = sampler(batch_size, rng)
        self.pointwise = type(D) is EnsembleDiscriminator
        lims = [_limit(m) for m in datasets.values() for _ in range(seeds)]
        self.grid = square_grid(lims, resolution)  # [res*res, members, 2]
        self.lims, self.resolution = lims, resolution

    def __call__(self, trainer: GANTrainer) -> dict:
        G, D = trainer.G, trainer.D
        g_mode, d_mode = G.training, D.training
        G.eval(), D.eval()
        try:
            with torch.no_grad():
                fake = G(self.z.to(trainer.device))
            x = fake.clone().requires_grad_(True)
            D.requires_grad_(False)
            loss = trainer.objective.generator_loss(D, x, self.real.to(trainer.device))
            (grad,) = torch.autograd.grad(loss, x)
            heat = None
            if self.pointwise:
                with torch.no_grad():
                    heat = D(self.grid.to(trainer.device)).reshape(self.resolution, self.resolution, -1).cpu()
        finally:
            D.requires_grad_(True)
            G.train(g_mode), D.train(d_mode)
        return {"samples": fake.cpu(), "arrows": -grad[: self.n_arrows].cpu(), "heat": heat,
                "lims": torch.tensor(self.lims)}  # arrows: -dL_G/dx of the first n_arrows samples


def _cache_name(prefix: str, method: str, datasets: Mapping[str, GaussianMixture], seeds: int,
                train_size: int | None, snapshot_every: int, seed: int) -> str:
    """``prefix-method-<12 hex>``: the hash covers what the trainer's own cache key cannot see."""
    key = repr((sorted(datasets.items()), seeds, train_size, snapshot_every, seed, _Probe.__init__.__defaults__))
    return f"{prefix}-{method}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _limit(mix: GaussianMixture) -> float:
    return float(torch.tensor(mix.means).abs().max()) * 1.3 + 3 * max(mix.stds)


def _pack_size(method: str) -> int | None:
    if method == "pacgan":
        return 2
    found = re.fullmatch(r"pacgan(\d+)", method) if isinstance(method, str) else None
    return int(found.group(1)) if found and int(found.group(1)) >= 1 else None
