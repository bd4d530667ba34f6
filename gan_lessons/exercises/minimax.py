"""Checks for chapter "The minimax game"."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import discrete, losses
from ._core import Case, CheckResult, check_function

__all__ = ["check_modified_generator_loss", "check_total_variation", "check_value_function",
           "reference_value_function"]


def reference_value_function(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))] from probabilities D(x), D(G(z)) in (0, 1)."""
    _check_probabilities(d_real, d_fake)
    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()


def _check_probabilities(*tensors: object) -> None:
    for t in tensors:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0:
            raise TypeError("D(x) and D(G(z)) must be non-empty float tensors of probabilities")
        if not bool(((t >= 0) & (t <= 1)).all()):
            raise ValueError("D(x) and D(G(z)) must be probabilities in [0, 1] (apply sigmoid to logits first)")


def check_value_function(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(d_real, d_fake) -> V`` (a 0-dim tensor) against the definition."""
    g = torch.Generator().manual_seed(1)
    cases = [
        Case("a confused discriminator (D = 1/2 everywhere)", (torch.full((4,), 0.5), torch.full((4,), 0.5))),
        Case("a confident, correct discriminator", (torch.tensor([0.99, 0.95]), torch.tensor([0.01, 0.02]))),
        Case("real and fake batches of different sizes", (torch.tensor([0.7, 0.8, 0.9]), torch.tensor([0.3]))),
        Case("random probabilities", (torch.rand(16, generator=g) * 0.98 + 0.01,
                                      torch.rand(8, generator=g) * 0.98 + 0.01)),
    ]
    return check_function(student_fn, reference_value_function, cases, name="value function V(D, G)")


def check_modified_generator_loss(student_fn: Callable) -> CheckResult:
    """Check a from-scratch non-saturating loss ``student_fn(fake_logits) -> -E[log sigmoid(logits)]``."""
    g = torch.Generator().manual_seed(2)
    cases = [
        Case("logits = 0 (D(G(z)) = 1/2)", (torch.zeros(3),)),
        Case("mixed logits [-2, 0, 3]", (torch.tensor([-2.0, 0.0, 3.0]),)),
        Case("logits of shape [batch, 1]", (torch.randn(5, 1, generator=g),)),
        Case("very negative logits [-120, -200] (D is sure the fakes are fake; naive log(sigmoid) gives inf)",
             (torch.tensor([-120.0, -200.0]),)),
        Case("very positive logits [60, 80]", (torch.tensor([60.0, 80.0]),)),
    ]
    return check_function(student_fn, losses.modified_generator_loss, cases, name="non-saturating loss",
                          blocked=["gan_lessons.losses.modified_generator_loss"])


def check_total_variation(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(p, q) -> TV(p, q) = 1/2 sum |p - q|`` for two probability vectors (numpy arrays)."""
    rng = np.random.default_rng(3)
    cases = [
        Case("two equal distributions (TV 0)", (np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5]))),
        Case("disjoint supports (TV 1)", (np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.0, 0.25, 0.75]))),
        Case("one string moved: p = [0.7, 0.3], q = [0.4, 0.6]", (np.array([0.7, 0.3]), np.array([0.4, 0.6]))),
        Case("125 random string probabilities", (rng.dirichlet(np.full(125, 0.4)), rng.dirichlet(np.ones(125)))),
    ]
    return check_function(student_fn, discrete.total_variation, cases, name="total variation",
                          blocked=["gan_lessons.discrete.total_variation"])
