"""GAN losses, one pure function per (variant, role). All take raw discriminator outputs (logits).

Book: chapter "The minimax game" (minimax and non-saturating), "WGAN and WGAN-GP" (Wasserstein and the
gradient penalty), "DCGAN" (the R1 penalty), "Hinge loss and spectral normalisation" (hinge). Each docstring
states the formula the function computes, and ``tests/test_losses.py`` checks it against hand-computed values.

Shapes: ``real_logits`` / ``fake_logits`` are ``[batch]`` or ``[batch, 1]`` (any shape works: the mean is
taken over every element), any real number. ``D(x) = sigmoid(logit)`` for the JS-type losses.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "modified_generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "wasserstein_gradient_penalty",
    "interpolate_gradient_norms",
    "r1_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "hinge_active",
]


def minimax_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    """Discriminator loss  L_D = -E[log D(x)] - E[log(1 - D(G(z)))]  (Goodfellow et al. 2014, eq. 1).

    Minimising it maximises V(D, G). With ``real_label`` < 1 the real targets become ``real_label``
    (one-sided label smoothing, Salimans et al. 2016): -E[a log D(x) + (1 - a) log(1 - D(x))].
    Book: chapter "The minimax game", eq. (value-function).
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    if not 0.0 < float(real_label) <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label!r} (0.9 is the usual smoothing)")
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, float(real_label)))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_loss + fake_loss


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """Saturating (original minimax) generator loss  L_G = E[log(1 - D(G(z)))].

    Computed stably as -E[softplus(logit)], since log(1 - sigmoid(l)) = -softplus(l). Its gradient
    vanishes when D confidently rejects the fakes (D(G(z)) -> 0), which is where training starts.
    Book: chapter "The minimax game", eq. (saturating-loss).
    """
    _check_logits("fake_logits", fake_logits)
    return -F.softplus(fake_logits).mean()


def modified_generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss  L_G = -E[log D(G(z))]  (Goodfellow et al. 2014, sec. 3).

    Computed stably as E[softplus(-logit)]. Same fixed point as the minimax loss, strong gradients early.
    Book: chapter "The minimax game", eq. (ns-loss).
    """
    _check_logits("fake_logits", fake_logits)
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def wasserstein_critic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Critic loss  L_D = E[D(G(z))] - E[D(x)]  (Arjovsky et al. 2017, Alg. 1).

    Minimising it maximises E[D(x)] - E[D(G(z))], the Kantorovich–Rubinstein estimate of W1 when D is
    1-Lipschitz. Book: chapter "WGAN and WGAN-GP", eq. (critic-loss).
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return fake_logits.mean() - real_logits.mean()


def wasserstein_generator_loss(fake_logits: Tensor) -> Tensor:
    """Wasserstein generator loss  L_G = -E[D(G(z))]  (Arjovsky et al. 2017, Alg. 1)."""
    _check_logits("fake_logits", fake_logits)
    return -fake_logits.mean()


def wasserstein_gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                                 eps: Tensor | None = None, generator: torch.Generator | None = None,
                                 per_member: bool = False) -> Tensor:
    """Gradient penalty  GP = E[(||grad_x D(x_hat)||_2 - 1)^2]  (Gulrajani et al. 2017, Alg. 1).

    x_hat = eps * x + (1 - eps) * x_tilde, one eps ~ U[0, 1] per sample (drawn from ``generator`` unless
    ``eps`` of shape [batch] is given); the norm is per sample over all input dimensions. The penalty is
    taken at the interpolates, never at the real data. Multiply by lambda (10 in the paper) yourself.
    ``per_member=True``: real, fake [batch, members, dim] of an ensemble critic; one eps and one norm per
    (sample, member), so members never mix. The points and norms are :func:`interpolate_gradient_norms`.
    """
    norms = interpolate_gradient_norms(critic, real, fake, eps, generator, per_member, create_graph=True)
    return ((norms - 1) ** 2).mean()


def interpolate_gradient_norms(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                               eps: Tensor | None = None, generator: torch.Generator | None = None,
                               per_member: bool = False, create_graph: bool = False) -> Tensor:
    """||grad_x D(x_hat)||_2 at x_hat = eps x + (1 - eps) x~, the points the gradient penalty sees.

    Returns [batch] (norm over all input dimensions), or [batch, members] with ``per_member=True`` (real,
    fake [batch, members, dim]; norm over ``dim``). ``create_graph=True`` keeps the graph for training.
    """
    if not (isinstance(real, Tensor) and isinstance(fake, Tensor)):
        raise TypeError("real and fake must be tensors of the same shape [batch, ...]")
    if real.shape != fake.shape or real.dim() < (3 if per_member else 2) or real.shape[0] == 0:
        want = "[batch, members, dim]" if per_member else "[batch, ...]"
        raise ValueError(f"real and fake must share one shape {want}, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if not (real.is_floating_point() and fake.is_floating_point()):
        raise TypeError(f"real and fake must be float tensors, got {real.dtype} and {fake.dtype}")
    lead = real.shape[:2] if per_member else real.shape[:1]
    if eps is None:
        eps = torch.rand(lead, generator=generator).to(real.device, real.dtype)
    if not isinstance(eps, Tensor) or eps.shape != lead:
        raise ValueError(f"eps must have shape {list(lead)}, got {list(getattr(eps, 'shape', [eps]))}")
    e = eps.reshape(*lead, *([1] * (real.dim() - len(lead))))  # [batch, (members,) 1, ..., 1]
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    return grad.flatten(len(lead)).norm(2, dim=len(lead))  # [batch] or [batch, members]


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1 penalty  R1 = E[||grad_x D(x)||_2^2]  at the real data (Mescheder et al. 2018, eq. 9).

    ``real`` is the real batch [batch, ...] with ``requires_grad`` set, and ``real_logits`` are D's outputs for it
    (from the same forward pass: no second pass through D); the squared norm is per sample over all input
    dimensions. The graph is kept, so the penalty trains D. Multiply by gamma / 2 yourself.
    """
    _check_logits("real_logits", real_logits)
    if not isinstance(real, Tensor) or not real.is_floating_point() or real.dim() < 2:
        got = (tuple(real.shape), real.dtype) if isinstance(real, Tensor) else type(real).__name__
        raise TypeError(f"real must be a float tensor [batch, ...] of real samples, got {got}")
    if not real.requires_grad:
        raise ValueError("real must require grad, with real_logits computed from it: "
                         "real = real.detach().requires_grad_(True); real_logits = D(real)")
    if real_logits.grad_fn is None:
        raise ValueError("real_logits carry no graph back to real: compute them as D(real) with grad enabled")
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError("real_logits carry a graph, but not back to this real batch: compute them as D(real) "
                         "from the same tensor you pass as real")
    return grad.flatten(1).pow(2).sum(1).mean()


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge discriminator loss  L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]  (Lim & Ye 2017).

    Samples beyond the margin (D(x) > 1, D(G(z)) < -1) contribute zero loss and zero gradient.
    Book: chapter "Hinge loss and spectral normalisation", eq. (hinge-d).
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    """Hinge generator loss  L_G = -E[D(G(z))]  (Miyato et al. 2018; Brock et al. 2019)."""
    _check_logits("fake_logits", fake_logits)
    return -fake_logits.mean()


def hinge_active(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Which samples the hinge loss of D still learns from: (D(x) < 1, D(G(z)) > -1) as bool tensors.

    relu(1 - D(x)) and relu(1 + D(G(z))) are flat (zero gradient) beyond the margins D(x) >= 1 and
    D(G(z)) <= -1: those samples are ignored. (At exactly the margin the subgradient torch uses is 0 too.)
    """
    for name, t in (("real_logits", real_logits), ("fake_logits", fake_logits)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a float tensor of raw discriminator outputs, got {type(t).__name__}")
    return real_logits < 1, fake_logits > -1


def _check_logits(name: str, t: object) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of raw discriminator outputs, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}: call .float() first")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}): pass at least one logit")
