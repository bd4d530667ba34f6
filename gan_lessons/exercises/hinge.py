"""Checks for chapter "Hinge loss and spectral normalisation": the hinge loss of D and power iteration."""
from __future__ import annotations

from typing import Callable

import torch

from .. import losses, spectral
from ._core import Case, CheckResult, check_function

__all__ = ["check_hinge_discriminator_loss", "check_power_iteration"]


def check_hinge_discriminator_loss(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(real_logits, fake_logits) -> E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    g = torch.Generator().manual_seed(7)
    cases = [
        Case("logits all 0 (answer 1 + 1 = 2)", (torch.zeros(3), torch.zeros(3))),
        Case("every sample beyond the margin, D(x) = [2, 3], D(G(z)) = [-2, -5] (answer 0)",
             (torch.tensor([2.0, 3.0]), torch.tensor([-2.0, -5.0]))),
        Case("a mix, D(x) = [0.5, 2], D(G(z)) = [-3, 0] (answer mean(0.5, 0) + mean(0, 1) = 0.75)",
             (torch.tensor([0.5, 2.0]), torch.tensor([-3.0, 0.0]))),
        Case("real and fake batches of different sizes, shape [batch, 1]",
             (torch.randn(6, 1, generator=g) * 2, torch.randn(3, 1, generator=g) * 2)),
        Case("wrong-side logits D(x) = [-1, -2], D(G(z)) = [1, 4] (answer 2.5 + 3.5 = 6)",
             (torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 4.0]))),
    ]
    return check_function(student_fn, _reference_hinge, cases, name="hinge discriminator loss",
                          blocked=["gan_lessons.losses.hinge_discriminator_loss"])


def check_power_iteration(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(W, v, n_iters) -> sigma``: n_iters steps u = Wv/|Wv|, v = W^T u/|W^T u|, sigma = u^T W v."""
    g = torch.Generator().manual_seed(11)
    tall, wide = torch.randn(6, 3, generator=g), torch.randn(2, 5, generator=g)
    cases = [
        Case("W = diag(3, 1), v = [1, 1], one step (answer 82 / sqrt(820) = 2.864, not yet 3)",
             (torch.diag(torch.tensor([3.0, 1.0])), torch.tensor([1.0, 1.0]), 1)),
        Case("W = diag(3, 1), v = [1, 1], 30 steps (close to 3)",
             (torch.diag(torch.tensor([3.0, 1.0])), torch.tensor([1.0, 1.0]), 30)),
        Case("a tall 6 x 3 W, v of length 3 not normalised, 2 steps",
             (tall, torch.tensor([2.0, -1.0, 0.5]), 2)),
        Case("a wide 2 x 5 W, v = e_1, 3 steps", (wide, torch.eye(5)[0], 3)),
        Case("W = [[1, 2], [3, 4]], v = [1, 0], one step", (torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                                                          torch.tensor([1.0, 0.0]), 1)),
    ]
    return check_function(student_fn, _reference_power_iteration, cases, name="power iteration",
                          blocked=["gan_lessons.spectral.power_iteration",
                                   "gan_lessons.spectral.power_iteration_trace"], atol=1e-5, rtol=1e-5)


def _reference_hinge(real_logits, fake_logits):
    return losses.hinge_discriminator_loss(real_logits, fake_logits)  # looked up at call time: blockable


def _reference_power_iteration(weight, v, n_iters) -> float:
    return float(spectral.power_iteration(weight, v, n_iters)[0])


def _wrong_no_relu(real_logits, fake_logits):
    """forgets the relu: E[1 - D(x)] + E[1 + D(G(z))]"""
    return (1 - real_logits).mean() + (1 + fake_logits).mean()


def _wrong_signs(real_logits, fake_logits):
    """swaps the signs: E[relu(1 + D(x))] + E[relu(1 - D(G(z)))]"""
    return torch.relu(1 + real_logits).mean() + torch.relu(1 - fake_logits).mean()


def _wrong_relu_of_mean(real_logits, fake_logits):
    """takes relu of the batch mean instead of the mean of relu"""
    return torch.relu(1 - real_logits.mean()) + torch.relu(1 + fake_logits.mean())


def _wrong_zero_margin(real_logits, fake_logits):
    """uses margin 0: E[relu(-D(x))] + E[relu(D(G(z)))]"""
    return torch.relu(-real_logits).mean() + torch.relu(fake_logits).mean()


def _wrong_true_sigma(weight, v, n_iters):
    """returns the exact sigma instead of the n-step estimate"""
    return torch.linalg.matrix_norm(weight, ord=2)


def _wrong_no_normalisation(weight, v, n_iters):
    """never normalises u and v"""
    for _ in range(n_iters):
        u = weight @ v
        v = weight.T @ u
    return u @ weight @ v


def _wrong_one_step_short(weight, v, n_iters):
    """runs n_iters - 1 steps after normalising v"""
    v = v / v.norm()
    u = weight @ v / (weight @ v).norm()
    for _ in range(n_iters - 1):
        u = weight @ v / (weight @ v).norm()
        v = weight.T @ u / (weight.T @ u).norm()
    return u @ weight @ v


WRONG_IMPLEMENTATIONS = {
    "check_hinge_discriminator_loss": [_wrong_no_relu, _wrong_signs, _wrong_relu_of_mean, _wrong_zero_margin],
    "check_power_iteration": [_wrong_true_sigma, _wrong_no_normalisation, _wrong_one_step_short],
}
