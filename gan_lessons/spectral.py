"""Spectral normalisation, Lipschitz bounds and orthogonal initialisation: controlling sigma(W).

Book: chapter "Hinge loss and spectral normalisation".

* :func:`power_iteration` estimates the largest singular value sigma(W) of a weight matrix the way
  spectral normalisation does (Miyato et al. 2018, Alg. 1), written out for teaching; the estimate after
  each step is in :func:`power_iteration_trace`. Torch's own implementation is
  ``torch.nn.utils.parametrizations.spectral_norm``; :func:`spectral_normalize` applies it to every
  linear and convolutional layer of a model.
* sigma(W) is the Lipschitz constant of x -> W x, and ReLU / leaky ReLU are 1-Lipschitz, so the product of
  the layers' sigmas bounds the Lipschitz constant of a whole MLP (:func:`lipschitz_upper_bound`);
  :func:`empirical_lipschitz` gives a lower bound from input gradients.
* :func:`orthogonal_init_` is BigGAN's initialisation (Saxe et al. 2014; Brock et al. 2019), which keeps every
  singular value at 1 at the start; :func:`orthogonal_penalty` is BigGAN's orthogonal regularisation during
  training; BigGAN's truncation trick is :func:`gan_lessons.latent.truncated_noise`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from .checks import check_int

__all__ = [
    "power_iteration",
    "power_iteration_trace",
    "top_singular_value",
    "spectral_normalize",
    "weight_layers",
    "lipschitz_upper_bound",
    "empirical_lipschitz",
    "orthogonal_init_",
    "orthogonal_penalty",
    "ensemble_sigma",
    "ensemble_lipschitz_bounds",
]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


def power_iteration(weight: Tensor, v: Tensor, n_iters: int = 1, eps: float = 1e-12,
                    trace: list[float] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Estimate sigma(W), the largest singular value of W [out, in], by ``n_iters`` power-iteration steps.

    Starting from v [in] (any non-zero vector), each step computes (Miyato et al. 2018, Alg. 1)::

        u = W v / |W v|,    v = W^T u / |W^T u|

    and the estimate is sigma = u^T W v. Returns (sigma, u, v); appends each step's estimate to ``trace``
    if a list is given. The same order of updates as ``torch.nn.utils.parametrizations.spectral_norm``;
    convolution weights are flattened to [out, -1].
    """
    w = _as_matrix(weight)  # [out, in], detached
    _check_v(v, w)
    _check_iters(n_iters)
    v = F.normalize(v.to(w.dtype), dim=0, eps=eps)
    estimates = []
    with torch.no_grad():
        for _ in range(n_iters):
            u = F.normalize(w @ v, dim=0, eps=eps)  # [out]
            v = F.normalize(w.T @ u, dim=0, eps=eps)  # [in]
            estimates.append(u @ w @ v)  # sigma estimate, a 0-dim tensor
    if trace is not None:
        trace.extend(torch.stack(estimates).tolist())
    return estimates[-1], u, v


def power_iteration_trace(weight: Tensor, v: Tensor, n_iters: int) -> list[float]:
    """The estimate sigma = u^T W v after 1, 2, ..., ``n_iters`` power-iteration steps, as floats."""
    trace: list[float] = []
    power_iteration(weight, v, n_iters, trace=trace)
    return trace


def top_singular_value(weight: Tensor) -> float:
    """The exact sigma(W) = ||W||_2 = ``torch.linalg.matrix_norm(W, ord=2)`` (W flattened to [out, -1])."""
    return float(torch.linalg.matrix_norm(_as_matrix(weight).double(), ord=2))


def spectral_normalize(model: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Apply ``torch.nn.utils.parametrizations.spectral_norm`` to every Linear / Conv layer of ``model``.

    Each layer's weight becomes W / sigma(W), sigma estimated by ``n_power_iterations`` power-iteration
    steps per training-mode forward pass. Modifies ``model`` in place and returns it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int("n_power_iterations", n_power_iterations, minimum=1)
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to normalise")
    for layer in layers:
        if not torch.nn.utils.parametrize.is_parametrized(layer, "weight"):
            torch.nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=n_power_iterations)
    return model


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The Linear and Conv layers of ``model``, in the order ``model.modules()`` visits them."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, _LAYERS)]


def lipschitz_upper_bound(model: nn.Module) -> float:
    """prod_l sigma(W_l) over the Linear layers of an MLP with 1-Lipschitz activations (ReLU, leaky ReLU).

    |f(x) - f(y)| <= prod_l sigma(W_l) |x - y| because |W x - W y| <= sigma(W) |x - y| and the
    activations never stretch distances. For a spectrally normalised layer ``layer.weight`` is already
    W / sigma-estimate, so its factor is (close to) 1. Only for models made of Linear layers and
    1-Lipschitz activations (for convolutions sigma of the flattened kernel is not the operator norm).
    """
    layers = weight_layers(model)
    if not layers or not all(isinstance(m, nn.Linear) for m in layers):
        raise ValueError("lipschitz_upper_bound needs a model made of nn.Linear layers (an MLP); "
                         f"{type(model).__name__} has {[type(m).__name__ for m in layers] or 'none'}")
    was = model.training
    model.eval()  # read the weights without another power-iteration step
    try:
        bound = 1.0
        for layer in layers:
            bound *= top_singular_value(layer.weight.detach())
    finally:
        model.train(was)
    return bound


def empirical_lipschitz(f: nn.Module, x: Tensor) -> float:
    """max_i |grad_x f(x_i)|_2 over the points x [n, dim]: a lower bound of f's Lipschitz constant.

    f (an ``nn.Module``, evaluated in eval mode) maps [n, dim] to n scalars ([n] or [n, 1]).
    """
    if not isinstance(f, nn.Module):
        raise TypeError(f"f must be a torch.nn.Module (e.g. a discriminator), got {type(f).__name__}")
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] == 0 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor [n, dim] with n >= 1, got {getattr(x, 'shape', type(x))}")
    x = x.detach().clone().requires_grad_(True)
    was = f.training
    f.eval()  # eval mode: batch norm uses running statistics, so the points do not interact
    try:
        out = f(x)
    finally:
        f.train(was)
    if out.numel() != x.shape[0]:
        raise ValueError(f"f must return one scalar per point ({x.shape[0]}), got shape {tuple(out.shape)}")
    (grad,) = torch.autograd.grad(out.sum(), x)  # row i is the gradient of f at x_i
    return float(grad.norm(dim=1).max())


def orthogonal_init_(model: nn.Module, gain: float = 1.0) -> nn.Module:
    """BigGAN's initialisation: every Linear / Conv weight orthogonal (``nn.init.orthogonal_``), biases 0.

    An orthogonal W [out, in] has all its singular values equal to ``gain`` (Saxe et al. 2014), so
    sigma(W) = gain exactly and the layer neither stretches nor squashes signals at the start of training.
    """
    if not (isinstance(gain, (int, float)) and not isinstance(gain, bool) and gain > 0):
        raise ValueError(f"gain must be a positive number, got {gain!r}")
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to initialise")
    with torch.no_grad():
        for layer in layers:
            if torch.nn.utils.parametrize.is_parametrized(layer, "weight"):
                raise ValueError("initialise before spectral_normalize: the layer's weight is already parametrised")
            nn.init.orthogonal_(layer.weight, gain=gain)
            if layer.bias is not None:
                layer.bias.zero_()
    return model


def orthogonal_penalty(model: nn.Module, beta: float = 1e-4) -> Tensor:
    """BigGAN's orthogonal regularisation (Brock et al. 2019, eq. 3), summed over the Linear / Conv layers::

        R_beta(W) = beta * || W W^T * (1 - I) ||_F^2      (* elementwise; W as [rows, -1], a row per output
                                                          channel of a Linear or Conv, per input channel of a
                                                          transposed Conv)

    It pushes the rows of every W towards orthogonality and, unlike beta * ||W W^T - I||_F^2, leaves their
    norms free. A 0-d tensor with gradients to the weights; 0 when the rows of every W are orthogonal.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < float("inf"):
        raise ValueError(f"beta must be a finite number >= 0 (BigGAN uses 1e-4), got {beta!r}")
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to regularise")
    total = torch.zeros((), device=layers[0].weight.device)
    for layer in layers:
        w = layer.weight.flatten(1)  # [rows, fan]
        gram = w @ w.T  # [rows, rows]: inner products of the rows
        total = total + (gram * (1 - torch.eye(len(gram), device=w.device, dtype=w.dtype))).pow(2).sum()
    return beta * total


def ensemble_sigma(weight: Tensor, u: Tensor, update: bool = True) -> Tensor:
    """sigma(W_m) of every member's weight W [members, in, out] (the ensemble layout y = x W), differentiable.

    The power iteration of :func:`power_iteration`, one step per call and member, on the transposed layout:
    with ``update`` (a training-mode forward) ``v = W u / |W u|`` then ``u <- W^T v / |W^T v|`` in place;
    then sigma_m = v^T W_m u with v recomputed from the (new) u and held constant, as spectral_norm does.
    u: [members, out], the persistent right singular vector estimates (a buffer of the layer).
    """
    if not (isinstance(weight, Tensor) and isinstance(u, Tensor) and weight.dim() == 3 and u.dim() == 2
            and u.shape == (weight.shape[0], weight.shape[2]) and weight.is_floating_point()):
        raise ValueError(f"weight must be [members, in, out] and u [members, out] (floating point), got "
                         f"{tuple(getattr(weight, 'shape', ()))} and {tuple(getattr(u, 'shape', ()))}")
    if update:
        with torch.no_grad():
            v = F.normalize(torch.bmm(weight, u.unsqueeze(2)).squeeze(2), dim=1)  # [members, in]
            u.copy_(F.normalize(torch.bmm(v.unsqueeze(1), weight).squeeze(1), dim=1))  # [members, out]
    u = u.clone()  # a copy: the next training-mode forward updates the buffer in place
    v = F.normalize(torch.bmm(weight, u.unsqueeze(2)).squeeze(2), dim=1).detach()
    return torch.einsum("mi,mio,mo->m", v, weight, u)  # [members]


def ensemble_lipschitz_bounds(model: nn.Module) -> Tensor:
    """prod_l sigma(W_l) per member [members]: :func:`lipschitz_upper_bound` for an ensemble MLP, whose
    layers (``ensemble.EnsembleLinear``) hold one weight per member and expose ``effective_weight()``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an ensemble network (nn.Module), got {type(model).__name__}")
    layers = [m for m in model.modules() if hasattr(m, "effective_weight") and hasattr(m, "members")]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no ensemble linear layer (ensemble.EnsembleLinear)")
    was = model.training
    model.eval()  # read the weights without another power-iteration step
    try:
        with torch.no_grad():
            bound = torch.ones(layers[0].members, dtype=torch.float64)
            for layer in layers:
                bound *= torch.linalg.matrix_norm(layer.effective_weight().double(), ord=2)  # [members]
    finally:
        model.train(was)
    return bound


def _check_iters(n_iters: object) -> None:
    check_int("n_iters", n_iters, minimum=1)


def _as_matrix(weight: object) -> Tensor:
    if not isinstance(weight, Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight must be a float tensor [out, in], got {type(weight).__name__}")
    if weight.dim() < 2 or weight.numel() == 0:
        raise ValueError(f"weight must have at least 2 non-empty dimensions [out, in, ...], got {tuple(weight.shape)}")
    if not torch.isfinite(weight).all():
        raise ValueError("weight contains NaN or inf")
    return weight.detach().flatten(1)  # [out, in * kernel...]


def _check_v(v: object, w: Tensor) -> None:
    if not isinstance(v, Tensor) or v.shape != (w.shape[1],) or not v.is_floating_point():
        raise ValueError(f"v must be a float vector of shape [{w.shape[1]}] (W's input size), got "
                         f"{getattr(v, 'shape', type(v).__name__)}")
    if not float(v.norm()) > 0:
        raise ValueError("v must be non-zero: start from a random vector, e.g. torch.randn(in_features)")
