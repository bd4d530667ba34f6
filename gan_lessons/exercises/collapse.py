"""Checks for chapter "Mode collapse on 2D Gaussian mixtures": the reverse KL of a mode histogram and the
minibatch standard-deviation feature, from scratch."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import collapse, metrics
from ._core import Case, CheckResult, check_function

__all__ = ["check_reverse_kl_to_uniform", "check_minibatch_stddev", "check_minibatch_features"]


def check_reverse_kl_to_uniform(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(counts) -> float``: KL(p || uniform) = sum_k p_k log(p_k K), p = counts / sum(counts),
    empty modes contributing 0, and log K when every count is 0."""
    cases = [
        Case("counts [5, 5, 5, 5] (an even spread: answer 0)", (torch.tensor([5, 5, 5, 5]),)),
        Case("counts [0, 7, 0, 0] (total collapse: answer log 4)", (torch.tensor([0, 7, 0, 0]),)),
        Case("counts [1, 3, 0, 0] (empty modes count as 0 log 0 = 0)", (torch.tensor([1, 3, 0, 0]),)),
        Case("counts [2, 1, 1, 0, 0, 0, 0, 0] on 8 modes", (torch.tensor([2, 1, 1, 0, 0, 0, 0, 0]),)),
        Case("25 modes, 3 of them hit", (torch.tensor([0] * 20 + [4, 0, 9, 0, 1]),)),
        Case("all counts 0 (no high-quality sample at all: the value of total collapse, log K)",
             (torch.zeros(8, dtype=torch.long),)),
    ]
    return check_function(student_fn, _reference_reverse_kl, cases, name="reverse KL to uniform",
                          blocked=["gan_lessons.metrics.reverse_kl_to_uniform"], atol=1e-6, rtol=1e-6)


def check_minibatch_stddev(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(h) -> Tensor``: h [batch, members, features] with the mean over features of the
    (biased) standard deviation over the batch appended as one more feature, per member."""
    g = torch.Generator().manual_seed(4)
    cases = [
        Case("h of shape [2, 1, 2] = [[[0, 0]], [[2, 4]]] (stds 1 and 2: the new feature is 1.5)",
             (torch.tensor([[[0.0, 0.0]], [[2.0, 4.0]]]),)),
        Case("a collapsed batch (every row the same: the new feature is ~0)", (torch.ones(6, 2, 3),)),
        Case("random h of shape [8, 3, 5] (3 members, each with its own statistic)",
             (torch.randn(8, 3, 5, generator=g),)),
        Case("random h of shape [4, 2, 1]", (torch.randn(4, 2, 1, generator=g) * 3 + 1,)),
    ]
    return check_function(student_fn, _reference_minibatch_stddev, cases, name="minibatch stddev",
                          blocked=["gan_lessons.collapse.minibatch_stddev"], atol=1e-5, rtol=1e-4)


def check_minibatch_features(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(m) -> o``: m [batch, members, B, C] (the rows M_i = f(x_i) T), o [batch, members, B]
    with o_{i,b} = sum_j exp(-||M_{i,b} - M_{j,b}||_1) over the whole batch of each member, j = i included."""
    g = torch.Generator().manual_seed(7)
    cases = [
        Case("two samples, one member, one kernel of one number: M = [0] and [1] (o = 1 + e^-1 for both)",
             (torch.tensor([[[[0.0]]], [[[1.0]]]]),)),
        Case("a collapsed batch of 4 (all rows equal: o = 4, the batch size, everywhere)", (torch.ones(4, 1, 2, 3),)),
        Case("L1, not L2: rows [0, 0] and [3, 4] (distance 7, not 5)",
             (torch.tensor([[[[0.0, 0.0]]], [[[3.0, 4.0]]]]),)),
        Case("random m of shape [6, 3, 4, 2] (3 members that never mix, 4 kernels)",
             (torch.randn(6, 3, 4, 2, generator=g),)),
    ]
    return check_function(student_fn, _reference_minibatch_features, cases, name="minibatch features",
                          blocked=["gan_lessons.collapse.minibatch_features"], atol=1e-5, rtol=1e-4)


def _reference_minibatch_features(m: torch.Tensor) -> torch.Tensor:
    return collapse.minibatch_features(m, group=m.shape[0])  # one group: the whole batch


def _wrong_without_self(m):
    """leaves out j = i (the paper's sum includes it: every o is 1 smaller)"""
    x = m.permute(1, 2, 0, 3)  # [members, B, batch, C]
    return torch.exp(-torch.cdist(x, x, p=1)).sum(-1).permute(2, 0, 1) - 1


def _wrong_l2(m):
    """Euclidean distance instead of L1"""
    x = m.permute(1, 2, 0, 3)
    return torch.exp(-torch.cdist(x, x)).sum(-1).permute(2, 0, 1)


def _wrong_pooled_members_features(m):
    """sums over every member's samples: the ensemble's GANs mix"""
    x = m.permute(2, 0, 1, 3).flatten(1, 2)  # [B, batch * members, C]
    o = torch.exp(-torch.cdist(x, x, p=1)).sum(-1)  # [B, batch * members]
    return o.view(m.shape[2], m.shape[0], m.shape[1]).permute(1, 2, 0)


def _reference_reverse_kl(counts: torch.Tensor) -> float:
    return metrics.reverse_kl_to_uniform(counts)  # looked up at call time, so it can be blocked


def _reference_minibatch_stddev(h: torch.Tensor) -> torch.Tensor:
    return collapse.minibatch_stddev(h)


def _wrong_forward_kl(counts):
    """KL(uniform || p) instead of KL(p || uniform): infinite as soon as a mode is empty"""
    p = counts.double() / counts.sum()
    k = counts.numel()
    return float((torch.log(1 / (k * p))).sum() / k)


def _wrong_without_k(counts):
    """sum p log p (minus the entropy), forgetting the log K of the uniform"""
    p = counts.double()[counts > 0] / counts.sum()
    return float((p * torch.log(p)).sum())


def _wrong_zero_when_empty(counts):
    """returns 0 instead of log K when no sample is high quality"""
    if counts.sum() == 0:
        return 0.0
    p = counts.double()[counts > 0] / counts.sum()
    return float((p * torch.log(p * counts.numel())).sum())


def _wrong_log2(counts):
    """uses log base 2 (bits) instead of the natural log (nats)"""
    if counts.sum() == 0:
        return math.log2(counts.numel())
    p = counts.double()[counts > 0] / counts.sum()
    return float((p * torch.log2(p * counts.numel())).sum())


def _wrong_unbiased_std(h):
    """the unbiased std (divide by batch - 1) instead of the biased one"""
    s = h.std(0, unbiased=True, keepdim=True).mean(2, keepdim=True)
    return torch.cat([h, s.expand(h.shape[0], -1, -1)], dim=2)


def _wrong_std_over_features(h):
    """the std over features of each sample instead of over the batch"""
    s = h.std(2, unbiased=False, keepdim=True)
    return torch.cat([h, s], dim=2)


def _wrong_pooled_members(h):
    """one statistic pooled over every member (members must stay independent)"""
    s = h.var(0, unbiased=False, keepdim=True).add(1e-8).sqrt().mean((1, 2), keepdim=True)
    return torch.cat([h, s.expand(h.shape[0], h.shape[1], 1)], dim=2)


WRONG_IMPLEMENTATIONS = {
    "check_reverse_kl_to_uniform": [_wrong_forward_kl, _wrong_without_k, _wrong_zero_when_empty, _wrong_log2],
    "check_minibatch_stddev": [_wrong_unbiased_std, _wrong_std_over_features, _wrong_pooled_members],
    "check_minibatch_features": [_wrong_without_self, _wrong_l2, _wrong_pooled_members_features],
}
