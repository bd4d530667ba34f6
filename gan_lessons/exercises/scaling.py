"""Checks for chapter "Scaling up"."""
from __future__ import annotations

from typing import Callable

import torch

from .. import distributed
from ._core import Case, CheckResult, check_function

__all__ = ["check_global_variance"]


def check_global_variance(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(counts [W], means [W, C], variances [W, C]) -> [C]``: the biased variance of the
    global batch that W processes hold in shards, from the shards' own counts, means and variances."""
    g = torch.Generator().manual_seed(24)
    shards = [torch.randn(n, 3, generator=g) * s + m for n, s, m in ((5, 1.0, 0.0), (9, 2.0, 1.0), (2, 0.5, -3.0))]
    cases = [
        Case("one process (the global batch is its shard)", _stats([torch.tensor([[1.0], [3.0]])])),
        Case("two equal shards with different means 0 and 2 (the spread between them counts: var 1)",
             _stats([torch.zeros(4, 1), torch.full((4, 1), 2.0)])),
        Case("three shards of sizes 5, 9 and 2 (weigh each by its size), 3 channels", _stats(shards)),
    ]
    return check_function(student_fn, _reference_global_variance, cases, name="global batch variance",
                          blocked=["gan_lessons.distributed.combine_batch_statistics"])


def _stats(shards: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    counts = torch.tensor([len(s) for s in shards])
    means = torch.stack([s.mean(0) for s in shards])
    variances = torch.stack([s.var(0, unbiased=False) for s in shards])
    return counts, means, variances


def _reference_global_variance(counts, means, variances):
    return distributed.combine_batch_statistics(counts, means, variances)[1]  # looked up at call time


def _wrong_unweighted(counts, means, variances):
    """averages the shards' variances, ignoring their sizes and the spread of their means"""
    return variances.mean(0)
