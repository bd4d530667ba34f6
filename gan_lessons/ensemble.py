"""Many small MLPs trained as one: batched weight tensors, one matrix multiply for the whole ensemble.

A toy GAN (2 -> 128 -> 128 -> 2) is so small that a CPU spends most of each step on per-operation
overhead, not arithmetic. Stacking the weights of M independent networks into tensors ``[M, in, out]``
and multiplying all of them with one ``torch.baddbmm`` makes M trainings cost roughly one:

    y_m = x_m W_m + b_m   for every member m,   x_m [batch, in], W_m [in, out]

Members never mix: member m's output depends only on member m's weights and inputs, so one ensemble
*is* M independent networks (``tests/test_collapse.py`` checks it against M separate linear maps).

Layout for the trainer (:class:`gan_lessons.train.GANTrainer` checks ``x.shape[0] == batch_size``):
data and noise are ``[batch, members, dim]``; a generator maps ``[batch, members, latent]`` to
``[batch, members, 2]``, a discriminator ``[batch, members, 2]`` to logits ``[batch, members]``.

Loss scaling: the book's losses take the mean over *all* elements of ``[batch, members]``, so member m's
gradient is 1/members of what it would get alone. Adam divides every gradient by its own running RMS,
so this constant factor cancels (up to Adam's epsilon); with SGD, multiply the learning rate by members.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import spectral
from .checks import check_allocation, check_int as _check_int
from .models import ACTIVATIONS

__all__ = [
    "EnsembleLinear",
    "EnsembleBatchNorm",
    "EnsembleMLP",
    "EnsembleGenerator",
    "EnsembleDiscriminator",
    "EnsembleSampler",
    "ensemble_noise",
    "member",
]



class EnsembleLinear(nn.Module):
    """M independent linear layers: x [members, batch, in] -> x @ W + b, W [members, in, out].

    Initialisation per member as ``nn.Linear`` (U(-1/sqrt(in), 1/sqrt(in)) for W and b), or
    W ~ N(0, init_std^2), b = 0 when ``init_std`` is given (N(0, 0.02) in PacGAN's protocol).
    ``spectral_norm=True`` divides each member's W by its largest singular value sigma_m, estimated by one
    step of power iteration per training-mode forward (Miyato et al. 2018), separately for every member.
    """

    def __init__(self, members: int, in_features: int, out_features: int, *, init_std: float | None = None,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        for name, value in (("members", members), ("in_features", in_features), ("out_features", out_features)):
            _check_int(name, value, 1)
        check_allocation("this ensemble layer", members * in_features * out_features)
        if init_std is not None and not init_std > 0:
            raise ValueError(f"init_std must be positive or None, got {init_std!r}")
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        self.spectral_norm = bool(spectral_norm)
        if init_std is None:
            bound = 1.0 / math.sqrt(in_features)
            nn.init.uniform_(self.weight, -bound, bound)
            nn.init.uniform_(self.bias, -bound, bound)
        else:
            nn.init.normal_(self.weight, 0.0, init_std)
            nn.init.zeros_(self.bias)
        if self.spectral_norm:
            self.register_buffer("u", F.normalize(torch.randn(members, out_features), dim=1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[0] != self.members or x.shape[2] != self.in_features:
            raise ValueError(f"x must have shape [members={self.members}, batch, {self.in_features}], "
                             f"got {tuple(x.shape)}")
        return torch.baddbmm(self.bias, x, self.effective_weight())  # [members, batch, out]

    def effective_weight(self) -> Tensor:
        """W, or W / sigma(W) per member with spectral normalisation (:func:`spectral.ensemble_sigma`)."""
        if not self.spectral_norm:
            return self.weight
        return self.weight / spectral.ensemble_sigma(self.weight, self.u, update=self.training).view(-1, 1, 1)

    def extra_repr(self) -> str:
        return (f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"
                + (", spectral_norm=True" if self.spectral_norm else ""))


class EnsembleBatchNorm(nn.Module):
    """Batch norm per member over the batch: x [members, batch, features], statistics per (member, feature).

    y = (x - mean_batch) / sqrt(var_batch + eps) * gamma + beta; running averages (momentum 0.1, as
    ``nn.BatchNorm1d``) replace the batch statistics in eval mode.
    """

    def __init__(self, members: int, features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        _check_int("members", members, 1)
        _check_int("features", features, 1)
        check_allocation("this ensemble batch norm", members * features)
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(members, 1, features))
        self.bias = nn.Parameter(torch.zeros(members, 1, features))
        self.register_buffer("running_mean", torch.zeros(members, 1, features))
        self.register_buffer("running_var", torch.ones(members, 1, features))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            if x.shape[1] < 2:
                raise ValueError("batch norm needs a batch of at least 2 samples in training mode")
            mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = x.shape[1]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class EnsembleMLP(nn.Module):
    """M independent MLPs  in -> [Linear -> (norm) -> act] x depth -> Linear -> out, on x [batch, members, in].

    activation: relu | leaky_relu (slope 0.2) | tanh | elu | maxout (``pieces`` linear pieces per unit,
    Goodfellow et al. 2013: h = max_k (x W_k + b_k)); norm: None | 'batch' (per member, see
    :class:`EnsembleBatchNorm`); spectral_norm: every linear layer normalised by its sigma per member.
    """

    def __init__(self, members: int, in_dim: int, out_dim: int, hidden: int = 128, depth: int = 2,
                 activation: str = "relu", *, norm: str | None = None, spectral_norm: bool = False,
                 init_std: float | None = None, pieces: int = 5) -> None:
        super().__init__()
        for name, value, low in (("members", members, 1), ("in_dim", in_dim, 1), ("out_dim", out_dim, 1),
                                 ("hidden", hidden, 1), ("depth", depth, 0), ("pieces", pieces, 1)):
            _check_int(name, value, low)
        if activation not in (*ACTIVATIONS, "maxout"):
            raise ValueError(f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}, maxout")
        if norm not in (None, "batch"):
            raise ValueError(f"unknown norm {norm!r}: use None or 'batch'")
        self.members, self.in_dim, self.out_dim = members, in_dim, out_dim
        self.activation, self.pieces = activation, (pieces if activation == "maxout" else 1)
        kw = dict(init_std=init_std, spectral_norm=spectral_norm)
        widths = [in_dim] + [hidden] * depth
        self.hidden_layers = nn.ModuleList(
            EnsembleLinear(members, a, hidden * self.pieces, **kw) for a in widths[:-1])
        self.norms = nn.ModuleList(EnsembleBatchNorm(members, hidden) for _ in range(depth if norm else 0))
        self.out = EnsembleLinear(members, widths[-1], out_dim, **kw)
        self.act = nn.Identity() if activation == "maxout" else ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.members or x.shape[2] != self.in_dim:
            raise ValueError(f"x must have shape [batch, members={self.members}, {self.in_dim}], "
                             f"got {tuple(x.shape)}")
        h = x.transpose(0, 1)  # [members, batch, in]: one bmm per layer
        for i, layer in enumerate(self.hidden_layers):
            h = layer(h)
            if self.pieces > 1:
                h = h.unflatten(2, (-1, self.pieces)).amax(3)  # maxout: [members, batch, hidden]
            if self.norms:
                h = self.norms[i](h)
            h = self.act(h)
        return self.out(h).transpose(0, 1)  # [batch, members, out]

    def extra_repr(self) -> str:  # part of the run cache's key: say what the layers alone do not
        return f"activation={self.activation!r}, pieces={self.pieces}"


class EnsembleGenerator(EnsembleMLP):
    """G: z [batch, members, latent_dim] -> x [batch, members, data_dim], a linear output layer."""

    def __init__(self, members: int, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128,
                 depth: int = 2, activation: str = "relu", **kw) -> None:
        super().__init__(members, latent_dim, data_dim, hidden, depth, activation, **kw)
        self.latent_dim, self.data_dim = latent_dim, data_dim


class EnsembleDiscriminator(EnsembleMLP):
    """D: x [batch, members, data_dim] -> logits [batch, members] (raw scores)."""

    def __init__(self, members: int, data_dim: int = 2, hidden: int = 128, depth: int = 2,
                 activation: str = "leaky_relu", **kw) -> None:
        super().__init__(members, data_dim, 1, hidden, depth, activation, **kw)
        self.data_dim = data_dim

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).squeeze(2)  # [batch, members]


class EnsembleSampler:
    """Real data for an ensemble: member m draws from ``sources[m]``; returns [n, members, dim].

    Each source is a sampler ``(n, rng) -> Tensor[n, dim]`` (``data.ring().sample``, a ``TensorSampler`` ...),
    called with the trainer's random stream, so the batch is reproducible. Members that share one sampler (the
    seeds of one dataset) get one draw of n x (their number) samples, split between them: fewer small calls.
    """

    def __init__(self, sources: Sequence[Callable[[int, torch.Generator], Tensor]]) -> None:
        sources = list(sources)
        if not sources or not all(callable(s) for s in sources):
            raise ValueError("sources must be a non-empty list of samplers (n, rng) -> Tensor[n, dim]")
        self.sources = sources
        groups: dict = {}  # members that share one sampler (e.g. several seeds on one dataset): one call
        for m, s in enumerate(sources):
            groups.setdefault(_sampler_key(s), (s, []))[1].append(m)
        self.groups = list(groups.values())

    @property
    def members(self) -> int:
        return len(self.sources)

    def __call__(self, n: int, rng: torch.Generator | None = None) -> Tensor:
        """[n, members, dim]; members sharing a sampler get one draw of n * (their number) samples, split."""
        out = [None] * self.members
        for sampler, ms in self.groups:
            x = sampler(n * len(ms), rng)  # [n * k, dim]
            for j, m in enumerate(ms):
                out[m] = x[j * n:(j + 1) * n]
        return torch.stack(out, dim=1)


def ensemble_noise(members: int, latent_dim: int) -> Callable[[int, torch.Generator], Tensor]:
    """z ~ N(0, I) of shape [n, members, latent_dim], drawn from the trainer's stream (a ``noise_sampler``)."""
    _check_int("members", members, 1)
    _check_int("latent_dim", latent_dim, 1)
    return lambda n, rng: torch.randn(n, members, latent_dim, generator=rng)


def member(x: Tensor, m: int) -> Tensor:
    """Member m's slice of an ensemble tensor [batch, members, ...] -> [batch, ...]."""
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError("x must be an ensemble tensor of shape [batch, members, ...]")
    if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m < x.shape[1]:
        raise ValueError(f"member index must be an integer in [0, {x.shape[1]}), got {m!r}")
    return x[:, m]


def _sampler_key(sampler: Callable) -> tuple:
    owner = getattr(sampler, "__self__", None)  # a bound method: the same object and function share a key
    return (id(owner), getattr(sampler, "__func__", None)) if owner is not None else (id(sampler), None)
