"""Checks for chapter "WGAN and WGAN-GP": the critic loss and the gradient penalty, from scratch."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import losses, wgan
from ._core import Case, CheckResult, check_function

__all__ = ["check_critic_loss", "check_gradient_penalty", "check_rmsprop_path"]


def check_critic_loss(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(real_scores, fake_scores) -> E[D(G(z))] - E[D(x)]`` (a 0-dim tensor)."""
    g = torch.Generator().manual_seed(6)
    cases = [
        Case("real scores [1, 3], fake scores [-1, 0.5] (answer -0.25 - 2 = -2.25)",
             (torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.5]))),
        Case("a critic that scores fakes higher than reals (the loss is positive)",
             (torch.tensor([-2.0, -1.0]), torch.tensor([1.0, 2.0, 4.0]))),
        Case("scores beyond +-1 (no margin, no sigmoid: the raw scores count)",
             (torch.tensor([5.0, 7.0]), torch.tensor([-3.0, -9.0]))),
        Case("scores of shape [batch, 1], batches of different sizes",
             (torch.randn(6, 1, generator=g), torch.randn(4, 1, generator=g))),
    ]
    return check_function(student_fn, _reference_critic_loss, cases, name="critic loss",
                          blocked=["gan_lessons.losses.wasserstein_critic_loss"])


def check_gradient_penalty(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(critic, real, fake, eps) -> E[(||grad D(x_hat)||_2 - 1)^2]`` at
    x_hat = eps x + (1 - eps) x~, with eps [batch] given, the norm per sample over all input dimensions."""
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(7)  # the small MLP critic below is initialised from torch's global stream
    mlp = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    cases = [
        Case("a linear critic D(x) = 3 x_1 + 4 x_2 (gradient norm 5 everywhere: answer 16)",
             (_Linear(), torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g), torch.rand(4, generator=g))),
        Case("D(x) = ||x||^2 / 2, real (4, 0), fake (0, 0), eps 0.25: x_hat = (1, 0), answer 0 "
             "(at the real data it would be 9)",
             (_HalfSquare(), torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([0.25]))),
        Case("D(x) = ||x||^2 / 2 on a batch of 3 with different eps per sample",
             (_HalfSquare(), torch.tensor([[4.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
              torch.tensor([[0.0, 0.0], [0.0, 6.0], [3.0, -1.0]]), torch.tensor([0.25, 0.5, 0.9]))),
        Case("images [2, 1, 2, 2]: the norm is per sample over ALL pixels",
             (_HalfSquare(), torch.randn(2, 1, 2, 2, generator=g), torch.randn(2, 1, 2, 2, generator=g),
              torch.tensor([0.3, 0.8]))),
        Case("a small tanh MLP critic on 3D points", (mlp, torch.randn(5, 3, generator=g),
                                                     torch.randn(5, 3, generator=g), torch.rand(5, generator=g))),
    ]
    return check_function(student_fn, _reference_penalty, cases, name="gradient penalty",
                          blocked=["gan_lessons.losses.wasserstein_gradient_penalty"])


class _Linear(nn.Module):
    """D(x) = 3 x_1 + 4 x_2."""

    def forward(self, x):
        return 3 * x[:, 0] + 4 * x[:, 1]


class _HalfSquare(nn.Module):
    """D(x) = ||x||^2 / 2 per sample (gradient x)."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def _reference_critic_loss(real_scores, fake_scores):
    return losses.wasserstein_critic_loss(real_scores, fake_scores)  # looked up at call time: blockable


def _reference_penalty(critic, real, fake, eps):
    return losses.wasserstein_gradient_penalty(critic, real, fake, eps=eps).detach()


def _grad_at(critic, x):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad.flatten(1)  # [batch, all input dimensions]


def _interpolate(real, fake, eps):
    e = eps.view(-1, *([1] * (real.dim() - 1)))
    return e * real + (1 - e) * fake


def _wrong_at_real_data(critic, real, fake, eps):
    """takes the penalty at the real data"""
    return ((_grad_at(critic, real).norm(dim=1) - 1) ** 2).mean()


def _wrong_flipped_eps(critic, real, fake, eps):
    """interpolates with eps on the fakes: eps x~ + (1 - eps) x"""
    return ((_grad_at(critic, _interpolate(fake, real, eps)).norm(dim=1) - 1) ** 2).mean()


def _wrong_batch_norm(critic, real, fake, eps):
    """one gradient norm over the whole batch"""
    return (_grad_at(critic, _interpolate(real, fake, eps)).norm() - 1) ** 2


def _wrong_squared_norm(critic, real, fake, eps):
    """penalises (||grad||^2 - 1)^2"""
    return ((_grad_at(critic, _interpolate(real, fake, eps)).pow(2).sum(1) - 1) ** 2).mean()


def _wrong_one_sided(critic, real, fake, eps):
    """one-sided penalty max(0, ||grad|| - 1)^2"""
    return (torch.relu(_grad_at(critic, _interpolate(real, fake, eps)).norm(dim=1) - 1) ** 2).mean()


def _wrong_last_dim_norm(critic, real, fake, eps):
    """norm over the last dimension only"""
    grad = _grad_at(critic, _interpolate(real, fake, eps)).view(real.shape)
    return ((grad.norm(dim=-1) - 1) ** 2).mean()


def _wrong_sign(real_scores, fake_scores):
    """E[D(x)] - E[D(G(z))]: the sign flipped"""
    return real_scores.mean() - fake_scores.mean()


def _wrong_hinge(real_scores, fake_scores):
    """the hinge loss"""
    return torch.relu(1 - real_scores).mean() + torch.relu(1 + fake_scores).mean()


def _wrong_paired(real_scores, fake_scores):
    """mean of D(G(z)) - D(x) over pairs of the flattened scores (breaks for different batch sizes)"""
    n = min(real_scores.numel(), fake_scores.numel())
    return (fake_scores.flatten()[:n] - real_scores.flatten()[:n]).mean()


def check_rmsprop_path(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(grads, lr, alpha, eps) -> theta``: RMSProp without momentum from theta = 0, v = 0 over
    the gradients grads [steps, d]; theta [d] after the last step."""
    g = torch.Generator().manual_seed(8)
    cases = [
        Case("one step, gradient [2] (v = 0.01 * 4, step 0.1 * 2 / 0.2: theta = [-1])",
             (torch.tensor([[2.0]]), 0.1, 0.99, 0.0)),
        Case("the gradient flips sign: [[1], [-1]] (no momentum, so the second step goes back)",
             (torch.tensor([[1.0], [-1.0]]), 0.01, 0.9, 1e-8)),
        Case("a zero gradient after a large one (v remembers, eps keeps the step finite)",
             (torch.tensor([[10.0, 0.0], [0.0, 0.0]]), 0.01, 0.99, 1e-8)),
        Case("20 random gradients in 3 dimensions, alpha 0.99",
             (torch.randn(20, 3, generator=g, dtype=torch.float64), 5e-4, 0.99, 1e-8)),
    ]
    return check_function(student_fn, _reference_rmsprop_path, cases, name="RMSProp path",
                          blocked=["gan_lessons.wgan.rmsprop_path"], atol=1e-7, rtol=1e-5)


def _reference_rmsprop_path(grads, lr, alpha, eps):
    return wgan.rmsprop_path(grads, lr, alpha, eps)


def _wrong_with_momentum(grads, lr, alpha, eps):
    """adds momentum 0.5 to the step (what the WGAN paper avoided)"""
    theta, v, buf = torch.zeros_like(grads[0]), torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        buf = 0.5 * buf + g / (v.sqrt() + eps)
        theta = theta - lr * buf
    return theta


def _wrong_eps_inside(grads, lr, alpha, eps):
    """eps inside the square root, and the squared gradient averaged without (1 - alpha)"""
    theta, v = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    for g in grads:
        v = alpha * v + g * g
        theta = theta - lr * g / (v + eps).sqrt()
    return theta


def _wrong_no_sqrt(grads, lr, alpha, eps):
    """divides by v instead of sqrt(v)"""
    theta, v = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        theta = theta - lr * g / (v + eps)
    return theta


WRONG_IMPLEMENTATIONS = {
    "check_critic_loss": [_wrong_sign, _wrong_hinge, _wrong_paired],
    "check_gradient_penalty": [_wrong_at_real_data, _wrong_flipped_eps, _wrong_batch_norm, _wrong_squared_norm,
                               _wrong_one_sided, _wrong_last_dim_norm],
    "check_rmsprop_path": [_wrong_with_momentum, _wrong_eps_inside, _wrong_no_sqrt],
}
