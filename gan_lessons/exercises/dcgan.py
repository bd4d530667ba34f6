"""Checks for chapter "DCGAN on MNIST"."""
from __future__ import annotations

from typing import Callable

import torch

from .. import checkpoints, latent, objectives
from ._core import Case, CheckResult, check_function

__all__ = ["check_feature_matching_loss", "check_interpolate", "check_early_stopping"]


def check_feature_matching_loss(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(real_features, fake_features) -> ||mean real - mean fake||^2`` (a 0-dim tensor)."""
    g = torch.Generator().manual_seed(5)
    cases = [
        Case("equal batches (the loss is 0)", (torch.ones(4, 3), torch.ones(4, 3))),
        Case("one feature, means 2 and -1 (loss (2 - (-1))^2 = 9)",
             (torch.tensor([[1.0], [3.0]]), torch.tensor([[-1.0], [-1.0]]))),
        Case("same means but different samples (the loss compares MEANS, so it is 0)",
             (torch.tensor([[0.0, 2.0], [2.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 1.0]]))),
        Case("batches of different sizes (6 real, 3 fake, 5 features)",
             (torch.randn(6, 5, generator=g), torch.randn(3, 5, generator=g) + 0.5)),
    ]
    return check_function(student_fn, _reference_feature_matching, cases, name="feature matching loss",
                          blocked=["gan_lessons.objectives.feature_matching_loss", "gan_lessons.train.feature_matching_loss"])


def check_interpolate(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(z0, z1, n) -> [n, d]`` codes on the line from z0 to z1, both endpoints included."""
    g = torch.Generator().manual_seed(6)
    cases = [
        Case("z0 = 0, z1 = 1 in 1D with n = 3 (expect 0, 0.5, 1)", (torch.zeros(1), torch.ones(1), 3)),
        Case("two points in 2D with n = 2 (just the endpoints)", (torch.tensor([1.0, -1.0]), torch.tensor([3.0, 5.0]), 2)),
        Case("random 64-dimensional codes with n = 7",
             (torch.randn(64, generator=g), torch.randn(64, generator=g), 7)),
    ]
    return check_function(student_fn, _reference_interpolate, cases, name="latent interpolation",
                          blocked=["gan_lessons.latent.interpolate"])


def _reference_feature_matching(real_features, fake_features):
    return objectives.feature_matching_loss(real_features, fake_features)  # looked up at call time: blockable


def _reference_interpolate(z0, z1, n):
    return latent.interpolate(z0, z1, n)


def _wrong_not_squared(real_features, fake_features):
    """the Euclidean norm, not its square"""
    return (real_features.mean(0) - fake_features.mean(0)).norm()


def _wrong_per_sample(real_features, fake_features):
    """matches samples one by one instead of the batch means"""
    m = min(real_features.shape[0], fake_features.shape[0])
    return (real_features[:m] - fake_features[:m]).pow(2).sum(1).mean()


def _wrong_mean_over_features(real_features, fake_features):
    """averages over the features instead of summing"""
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).mean()


def _wrong_no_endpoint(z0, z1, n):
    """stops one step short of z1"""
    t = torch.arange(n).unsqueeze(1) / n
    return (1 - t) * z0 + t * z1


def _wrong_reversed(z0, z1, n):
    """runs from z1 to z0"""
    t = torch.linspace(0, 1, n).unsqueeze(1)
    return t * z0 + (1 - t) * z1


def check_early_stopping(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(fids, patience) -> (stop, best)``: stop at the first checkpoint ``patience`` checkpoints
    after the best FID so far without a lower one (ties do not count as lower), keep the best up to there."""
    cases = [
        Case("FIDs [9, 7, 8, 8, 6], patience 2 (best 7 at 1; 8 and 8 do not beat it: stop at 3, keep 1)",
             ([9.0, 7.0, 8.0, 8.0, 6.0], 2)),
        Case("FIDs falling at every checkpoint [5, 4, 3, 2], patience 1 (never stops early: (3, 3))",
             ([5.0, 4.0, 3.0, 2.0], 1)),
        Case("a tie is not an improvement: [3, 3, 3], patience 2 (stop at 2, keep 0)", ([3.0, 3.0, 3.0], 2)),
        Case("patience longer than the run: [4, 5, 6], patience 5 (stop at the last, keep 0)", ([4.0, 5.0, 6.0], 5)),
        Case("one checkpoint [7], patience 1", ([7.0], 1)),
        Case("FIDs [50, 40, 45, 39, 41, 42, 43], patience 3 (the 39 resets the wait: stop at 6, keep 3)",
             ([50.0, 40.0, 45.0, 39.0, 41.0, 42.0, 43.0], 3)),
    ]
    return check_function(student_fn, _reference_early_stopping, cases, name="early stopping",
                          blocked=["gan_lessons.checkpoints.early_stopping"])


def _reference_early_stopping(fids, patience):
    return checkpoints.early_stopping(fids, patience)


def _early_stopping(fids, patience, tie_improves=False, wait=0, keep_last=False):
    best = 0
    for i, v in enumerate(fids):
        if v < fids[best] or (tie_improves and v == fids[best]):
            best = i
        elif i - best >= patience + wait:
            return i, (i if keep_last else best)
    return len(fids) - 1, (len(fids) - 1 if keep_last else best)


def _wrong_ties_improve(fids, patience):
    """counts a tie as an improvement (<= instead of <)"""
    return _early_stopping(fids, patience, tie_improves=True)


def _wrong_keeps_the_last(fids, patience):
    """keeps the checkpoint where it stopped instead of the best one"""
    return _early_stopping(fids, patience, keep_last=True)


def _wrong_waits_one_more(fids, patience):
    """waits patience + 1 checkpoints"""
    return _early_stopping(fids, patience, wait=1)


WRONG_IMPLEMENTATIONS = {
    "check_feature_matching_loss": [_wrong_not_squared, _wrong_per_sample, _wrong_mean_over_features],
    "check_interpolate": [_wrong_no_endpoint, _wrong_reversed],
    "check_early_stopping": [_wrong_ties_improve, _wrong_keeps_the_last, _wrong_waits_one_more],
}
