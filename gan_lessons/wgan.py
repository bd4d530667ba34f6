"""Looking inside a Wasserstein critic: the estimate of W1, gradient norms, weights, a critic for MNIST.

Book: chapter "WGAN and WGAN-GP". The losses themselves live in :mod:`gan_lessons.losses`
(``wasserstein_critic_loss``, ``wasserstein_generator_loss``, ``wasserstein_gradient_penalty``) and the
training options in :mod:`gan_lessons.train` (``WassersteinObjective``, ``TrainConfig(clip_value=...)``);
this module only measures what they do. The critic for MNIST is ``models.ConvCritic``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from . import losses

__all__ = ["wasserstein_estimate", "interpolate_gradient_norms", "layer_gradient_norms", "linear_weights",
           "rmsprop_path"]

Critic = Callable[[Tensor], Tensor]


def wasserstein_estimate(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """The critic's estimate of W1:  E[D(x)] - E[D(G(z))]  (= minus the critic loss without penalty).

    real, fake: [batch, ...] for one critic, or [batch, members, ...] for an ensemble critic whose
    output is [batch, members]; the mean is over the batch only, so an ensemble gives one value per member.
    """
    _check_pair(real, fake)
    with torch.no_grad():
        return critic(real).mean(0) - critic(fake).mean(0)


def interpolate_gradient_norms(critic: Critic, real: Tensor, fake: Tensor, eps: Tensor | None = None,
                               generator: torch.Generator | None = None, ensemble: bool = False) -> Tensor:
    """||grad_x D(x_hat)||_2 at x_hat = eps x + (1 - eps) x~, the points the gradient penalty sees.

    One eps ~ U[0, 1] per sample (or ``eps`` of shape [batch], or [batch, members] with ``ensemble``).
    Returns [batch] (norm over all input dimensions), or [batch, members] with ``ensemble=True``
    (real, fake [batch, members, dim]; norm over ``dim``). No graph is kept: this measures, it does not train.
    The same points and norms as the penalty itself: :func:`gan_lessons.losses.interpolate_gradient_norms`.
    """
    _check_pair(real, fake)
    if ensemble and real.dim() != 3:
        raise ValueError(f"ensemble=True needs real and fake of shape [batch, members, dim], got {tuple(real.shape)}")
    return losses.interpolate_gradient_norms(critic, real, fake, eps, generator, per_member=ensemble)


def layer_gradient_norms(critic: nn.Module, real: Tensor, fake: Tensor) -> list[float]:
    """||dL_D / dW_l||_F for the weight W_l of every linear layer l of the critic, from input to output.

    L_D = E[D(G(z))] - E[D(x)] (:func:`gan_lessons.losses.wasserstein_critic_loss`, no penalty). Gulrajani
    et al. (2017, Fig. 1a) plot these through the depth of a critic: with weight clipping they shrink or grow
    geometrically from layer to layer; with the gradient penalty they stay of one size.
    """
    if not isinstance(critic, nn.Module):
        raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
    weights = [m.weight for m in critic.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not weights:
        raise ValueError(f"{type(critic).__name__} has no Linear or Conv2d layer to measure")
    _check_pair(real, fake)
    loss = losses.wasserstein_critic_loss(critic(real), critic(fake))
    grads = torch.autograd.grad(loss, weights)
    return [float(g.norm()) for g in grads]


def linear_weights(critic: nn.Module) -> Tensor:
    """Every weight (not bias) of the critic's Linear and Conv2d layers, flattened into one 1D tensor."""
    if not isinstance(critic, nn.Module):
        raise TypeError(f"critic must be a torch.nn.Module, got {type(critic).__name__}")
    weights = [m.weight.detach().flatten() for m in critic.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not weights:
        raise ValueError(f"{type(critic).__name__} has no Linear or Conv2d layer")
    return torch.cat(weights).cpu()


def _check_pair(real: object, fake: object) -> None:
    if not (isinstance(real, Tensor) and isinstance(fake, Tensor)):
        raise TypeError("real and fake must be torch tensors [batch, ...]")
    if real.shape != fake.shape or real.dim() < 2 or real.shape[0] == 0:
        raise ValueError(f"real and fake must share one shape [batch >= 1, ...], got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if not (real.is_floating_point() and fake.is_floating_point()):
        raise TypeError(f"real and fake must be float tensors (samples), got {real.dtype} and {fake.dtype}")
    if not (torch.isfinite(real).all() and torch.isfinite(fake).all()):
        raise ValueError("real and fake contain NaN or inf: check the samples")


def rmsprop_path(grads: Tensor, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> Tensor:
    """Where RMSProp (no momentum, as the WGAN paper used it) takes a parameter that starts at 0, given the
    gradients ``grads`` [steps, d] of its steps in turn::

        v <- alpha v + (1 - alpha) g^2          theta <- theta - lr g / (sqrt(v) + eps)      (v starts at 0)

    Returns theta [d] after the last step; ``torch.optim.RMSprop`` with these settings takes the same path.
    """
    if not isinstance(grads, Tensor) or grads.dim() != 2 or not grads.is_floating_point() or \
            not torch.isfinite(grads).all():
        raise ValueError("grads must be a finite float tensor [steps, d], one gradient per step")
    for name, value in (("lr", lr), ("alpha", alpha), ("eps", eps)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value != value:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if not alpha < 1:
        raise ValueError(f"alpha must be below 1 (the running average's memory), got {alpha!r}")
    theta, v = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        theta = theta - lr * g / (v.sqrt() + eps)
    return theta

