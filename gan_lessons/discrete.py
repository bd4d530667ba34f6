"""Discrete outputs: why D's gradient cannot reach G through a sampled symbol, and the Gumbel-softmax relaxation.

A generator of symbols (letters, words) ends in a choice. The Gumbel-max trick makes that choice an exact sample
of softmax(logits)::

    x = one_hot(argmax_v (logits_v + g_v)),   g_v ~ Gumbel(0, 1) independently

argmax is piecewise constant, so its derivative is 0 wherever it exists, and autograd records no path through it:
dL_G / d logits does not exist and the generator cannot learn from D. The Gumbel-softmax (Jang et al. 2017;
Maddison et al. 2017) replaces argmax by a softmax at temperature tau::

    y = softmax((logits + g) / tau)

which is differentiable and tends to the one-hot sample as tau -> 0 (with gradients that grow like 1 / tau).
Its straight-through form passes the one-hot x forward (D sees exactly what a real sequence looks like) and the
gradient of y backward. ``torch.nn.functional.gumbel_softmax`` computes both (``hard=False`` / ``hard=True``).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import models
from .checks import check_int

MAX_SEED = 2**63 - 1

__all__ = ["MarkovSequences", "SymbolGenerator", "MODES", "gradient_to_logits", "distribution",
           "total_variation"]

MODES = ("argmax", "soft", "straight-through")  # how SymbolGenerator turns logits into symbols
LETTERS = "abcdefghijklmnopqrstuvwxyz"


class MarkovSequences:
    """A known distribution over strings of ``length`` letters from an alphabet of ``alphabet`` letters.

    The first letter is drawn from ``start`` and each next one from row ``transition[previous]``, both drawn
    once from Dirichlet(concentration) with ``seed`` (small concentrations: a few likely strings, many rare
    ones). ``probabilities`` lists the exact probability of every string, in the order of :meth:`strings`.
    ``sample(n, rng)`` returns one-hot rows [n, length * alphabet], the format D reads.
    """

    def __init__(self, length: int = 3, alphabet: int = 5, concentration: float = 0.4, seed: int = 0) -> None:
        for name, value, lo in (("length", length, 1), ("alphabet", alphabet, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
        if alphabet > len(LETTERS) or alphabet ** length > 100_000:
            raise ValueError(f"alphabet {alphabet} ** length {length} strings are too many to list exactly: "
                             f"use at most {len(LETTERS)} letters and 100,000 strings")
        if isinstance(concentration, bool) or not isinstance(concentration, (int, float)) \
                or not 1e-3 <= concentration <= 1e3:
            raise ValueError(f"concentration must be a number in [0.001, 1000], got {concentration!r}")
        check_int("seed", seed, 0, MAX_SEED)
        self.length, self.alphabet = length, alphabet
        rng = np.random.default_rng(seed)
        self.start = rng.dirichlet(np.full(alphabet, concentration))
        self.transition = rng.dirichlet(np.full(alphabet, concentration), size=alphabet)
        codes = np.array(list(itertools.product(range(alphabet), repeat=length)))  # [alphabet ** length, length]
        p = self.start[codes[:, 0]]
        for i in range(1, length):
            p = p * self.transition[codes[:, i - 1], codes[:, i]]
        self.probabilities = p / p.sum()
        self._codes = torch.from_numpy(codes)
        self._p = torch.from_numpy(self.probabilities)

    @property
    def dim(self) -> int:
        """Width of one sequence as D reads it: length * alphabet one-hot entries."""
        return self.length * self.alphabet

    def strings(self) -> list[str]:
        """Every string, in the order of ``probabilities``."""
        return ["".join(LETTERS[i] for i in row) for row in self._codes.tolist()]

    def sample(self, n: int, rng: torch.Generator | None = None) -> Tensor:
        check_int("n", n, 1, 10**8)
        index = torch.multinomial(self._p, n, replacement=True, generator=rng)
        return F.one_hot(self._codes[index], self.alphabet).float().flatten(1)


class SymbolGenerator(nn.Module):
    """z -> logits of ``length`` categorical letters (an MLP), then symbols by ``mode``.

    "argmax": the Gumbel-max sample, one-hot, no gradient. "soft": softmax((logits + g) / tau).
    "straight-through": the one-hot sample forward, the soft one's gradient backward.
    """

    def __init__(self, latent_dim: int, length: int, alphabet: int, *, mode: str = "straight-through",
                 tau: float = 1.0, hidden: int = 128, depth: int = 2) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        _check_tau(tau)
        self.length, self.alphabet, self.mode, self.tau = length, alphabet, mode, float(tau)
        self.net = models.mlp(latent_dim, length * alphabet, hidden, depth, "leaky_relu")

    def logits(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, self.length, self.alphabet)

    def forward(self, z: Tensor) -> Tensor:
        return relax(self.logits(z), self.mode, self.tau).flatten(1)


def relax(logits: Tensor, mode: str, tau: float = 1.0) -> Tensor:
    """Symbols from ``logits`` [..., alphabet] by ``mode`` (see :data:`MODES`), one-hot or relaxed."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point() or logits.dim() < 1:
        raise TypeError("logits must be a float tensor [..., alphabet]")
    if mode == "argmax":
        g = -torch.empty_like(logits).exponential_().log()  # Gumbel(0, 1) noise
        return F.one_hot((logits + g).argmax(-1), logits.shape[-1]).to(logits.dtype)
    if mode in ("soft", "straight-through"):
        _check_tau(tau)
        return F.gumbel_softmax(logits, tau=tau, hard=mode == "straight-through")
    raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")


def gradient_to_logits(mode: str, tau: float = 1.0, *, alphabet: int = 5, n: int = 256, seed: int = 0) -> float | None:
    """Norm of d(score of a random linear D) / d logits when symbols are made by ``mode``; None where autograd
    has no path from the score back to the logits (argmax: the symbols carry no gradient at all)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    _check_tau(tau)
    check_int("alphabet", alphabet, 2, 10_000)
    check_int("n", n, 1, 100_000)
    check_int("seed", seed, 0, MAX_SEED)
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, alphabet, generator=gen).requires_grad_(True)
    w = torch.randn(alphabet, generator=gen)
    torch.manual_seed(seed)  # the Gumbel noise
    score = (relax(logits, mode, tau) @ w).mean()
    if not score.requires_grad:
        return None
    (grad,) = torch.autograd.grad(score, logits)
    return float(grad.norm())


@torch.no_grad()
def distribution(generator: SymbolGenerator, n: int = 20_000, seed: int = 0) -> np.ndarray:
    """The generator's probability of every string (order of :meth:`MarkovSequences.strings`).

    Given z the letters are independent categoricals, so p(string | z) is a product of softmax entries; p is its
    mean over ``n`` draws of z. Exact up to the z average — no symbol is sampled, so no counting noise."""
    if not isinstance(generator, SymbolGenerator):
        raise TypeError(f"generator must be a SymbolGenerator, got {type(generator).__name__}")
    check_int("n", n, 1, 10**7)
    check_int("seed", seed, 0, MAX_SEED)
    first = next(generator.parameters())
    z = torch.randn(n, generator.net[0].in_features, generator=torch.Generator().manual_seed(seed))
    p = torch.softmax(generator.logits(z.to(first.device)).double(), dim=-1)  # [n, length, alphabet]
    joint = p[:, 0]
    for i in range(1, generator.length):
        joint = (joint[:, :, None] * p[:, i, None, :]).flatten(1)
    return joint.mean(0).cpu().numpy()


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """TV(p, q) = 1/2 sum_x |p(x) - q(x)|: the largest difference in probability the two give any set of strings."""
    try:
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("p and q must be probability vectors (lists or arrays of numbers)") from None
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be probability vectors of one length, got shapes {p.shape} and {q.shape}")
    for name, v in (("p", p), ("q", q)):
        if not np.isfinite(v).all() or (v < 0).any() or abs(v.sum() - 1) > 1e-6:
            raise ValueError(f"{name} must be a probability vector (non-negative, summing to 1), sums to {v.sum():.6f}")
    return float(0.5 * np.abs(p - q).sum())


def _check_tau(tau: object) -> None:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not (0 < tau <= 1e6 and math.isfinite(tau)):
        raise ValueError(f"tau (the temperature) must be a positive number (at most 1e6), got {tau!r}")
