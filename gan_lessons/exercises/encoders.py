"""Checks for chapter "GANs with an encoder and with structured codes": the reparameterisation trick of the
VAE and the matched accuracy of InfoGAN's categorical code."""
from __future__ import annotations

from typing import Callable

import torch

from .. import infogan, vae
from ._core import Case, CheckResult, check_function

__all__ = ["check_reparameterise", "check_matched_accuracy"]


def check_reparameterise(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(mu, logvar, eps) -> z = mu + exp(logvar / 2) * eps`` (Kingma & Welling 2014)."""
    g = torch.Generator().manual_seed(3)
    cases = [
        Case("mu = 0, logvar = 0, eps = [1, -2] (standard normal: answer eps itself)",
             (torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, -2.0]]))),
        Case("mu = [1, 2], logvar = log 4 (std 2), eps = [0.5, -1] (answer [2, 0])",
             (torch.tensor([[1.0, 2.0]]), torch.full((1, 2), 4.0).log(), torch.tensor([[0.5, -1.0]]))),
        Case("logvar = -2 (std exp(-1), not exp(-2): logvar is the log of the VARIANCE)",
             (torch.zeros(3, 1), torch.full((3, 1), -2.0), torch.ones(3, 1))),
        Case("a batch [4, 3] of random mu, logvar and eps",
             (torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g))),
    ]
    return check_function(student_fn, _reference_reparameterise, cases, name="reparameterisation trick",
                          blocked=["gan_lessons.vae.reparameterise"], atol=1e-6, rtol=1e-5)


def check_matched_accuracy(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(confusion) -> float``: the accuracy of the best one-to-one map from codes (rows) to
    labels (columns) of a confusion matrix of counts (the Hungarian method, Kuhn 1955)."""
    g = torch.Generator().manual_seed(5)
    cases = [
        Case("the identity 3 x 3 (every code draws its own label: answer 1)", (torch.eye(3, dtype=torch.long) * 4,)),
        Case("a permutation [[0, 5], [5, 0]] (code 0 draws label 1: answer 1, the names of codes are arbitrary)",
             (torch.tensor([[0, 5], [5, 0]]),)),
        Case("[[3, 1], [2, 0]] (both codes prefer label 0, only one can have it: answer 3 / 6)",
             (torch.tensor([[3, 1], [2, 0]]),)),
        Case("two codes drawing the same label [[4, 0, 0], [4, 0, 0], [0, 0, 4]]",
             (torch.tensor([[4, 0, 0], [4, 0, 0], [0, 0, 4]]),)),
        Case("a random 10 x 10 confusion matrix", (torch.randint(0, 20, (10, 10), generator=g),)),
    ]
    return check_function(student_fn, _reference_matched_accuracy, cases, name="matched accuracy",
                          blocked=["gan_lessons.infogan.matched_accuracy", "gan_lessons.infogan.code_accuracy"],
                          atol=1e-6, rtol=1e-6)


def _reference_reparameterise(mu, logvar, eps):
    return vae.reparameterise(mu, logvar, eps=eps)  # looked up at call time, so it can be blocked


def _reference_matched_accuracy(confusion) -> float:
    return infogan.matched_accuracy(confusion)[0]


def _wrong_std_is_logvar(mu, logvar, eps):
    """uses exp(logvar) (the variance) as the standard deviation"""
    return mu + logvar.exp() * eps


def _wrong_no_mean(mu, logvar, eps):
    """forgets to add the mean"""
    return (logvar / 2).exp() * eps


def _wrong_greedy(confusion) -> float:
    """gives each code its most frequent label, even when two codes take the same one"""
    c = torch.as_tensor(confusion).double()
    return float(c.max(1).values.sum() / c.sum())


def _wrong_diagonal(confusion) -> float:
    """reads the diagonal: assumes code k draws label k"""
    c = torch.as_tensor(confusion).double()
    return float(c.diagonal().sum() / c.sum())


WRONG_IMPLEMENTATIONS = {  # tests/test_student_edition.py: each must be rejected with a hint
    "check_reparameterise": [_wrong_std_is_logvar, _wrong_no_mean],
    "check_matched_accuracy": [_wrong_greedy, _wrong_diagonal],
}
