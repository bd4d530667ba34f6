"""Looking inside a Wasserstein critic: the estimate of W1, gradient norms, weights, a critic for MNIST.

Book: chapter "WGAN and WGAN-GP". The losses themselves live in :mod:`gan_lessons.losses`
(``wasserstein_critic_loss``, ``wasserstein_generator_loss``, ``wasserstein_gradient_penalty``) and the
training options in :mod:`gan_lessons.train` (``WassersteinObjective``, ``TrainConfig(clip_value=...)``);
this module only measures what they do.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from . import losses

__all__ = ["wasserstein_estimate", "interpolate_gradient_norms", "layer_gradient_norms", "linear_weights",
           "ConvCritic"]

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
    """
    _check_pair(real, fake)
    lead = real.shape[:2] if ensemble else real.shape[:1]
    if ensemble and real.dim() != 3:
        raise ValueError(f"ensemble=True needs real and fake of shape [batch, members, dim], got {tuple(real.shape)}")
    if eps is None:
        eps = torch.rand(lead, generator=generator).to(real.device, real.dtype)
    if not isinstance(eps, Tensor) or eps.shape != lead:
        raise ValueError(f"eps must be a tensor of shape {list(lead)}, got {getattr(eps, 'shape', eps)}")
    e = eps.reshape(*lead, *([1] * (real.dim() - len(lead))))  # broadcast over the input dimensions
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return grad.norm(2, dim=2) if ensemble else grad.flatten(1).norm(2, dim=1)


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


class ConvCritic(nn.Module):
    """A WGAN-GP critic for 28x28 images, without batch norm (Gulrajani et al. 2017, sec. 4):

    images [batch, 1, 28, 28] -> Conv(4, stride 2) -> [w, 14, 14] -> Conv(4, stride 2) -> LayerNorm
    -> [2w, 7, 7] -> Linear -> scores [batch]. LeakyReLU(0.2). Batch norm would make D(x) of one sample
    depend on the others in its batch, and the gradient penalty is defined per sample; layer norm does not.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),  # [batch, w, 14, 14]
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LayerNorm([2 * width, 7, 7]), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))  # [batch, 1]

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must be images of shape [batch, 1, 28, 28], got {getattr(x, 'shape', x)}")
        return self.net(x).squeeze(1)  # [batch]


def _check_pair(real: object, fake: object) -> None:
    if not (isinstance(real, Tensor) and isinstance(fake, Tensor)):
        raise TypeError("real and fake must be torch tensors [batch, ...]")
    if real.shape != fake.shape or real.dim() < 2 or real.shape[0] == 0:
        raise ValueError(f"real and fake must share one shape [batch >= 1, ...], got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
