"""Measured attributes of digit images [n, 1, H, W] in [-1, 1], one number per image or per batch: the
slant and the stroke weight of each digit (what InfoGAN's continuous codes and DCGAN's latent arithmetic
are checked against), and the sharpness of a batch (what tells a VAE's blur from a GAN's strokes).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["slant", "ink", "sharpness"]


def slant(images: Tensor) -> Tensor:
    """The slant of each digit from its image moments, [n]: with ink w = (x + 1) / 2 in [0, 1], column u and
    height v = -row (up), centroid (u_bar, v_bar),

        slant = mu11 / mu02 = sum w (u - u_bar)(v - v_bar) / sum w (v - v_bar)^2

    the shear dx/dy of the least-squares line through the ink (the moment used to deskew MNIST): > 0 leans
    right ("/"), < 0 leans left, 0 upright. 0 for an image with no ink or with ink in a single row.
    """
    w = _ink_weights(images)  # [n, H, W]
    rows, cols = w.shape[1:]
    v = -torch.arange(rows, dtype=w.dtype)[None, :, None]  # [1, H, 1] height, up
    u = torch.arange(cols, dtype=w.dtype)[None, None, :]  # [1, 1, W]
    mass = w.sum((1, 2))
    safe = mass.clamp_min(1e-12)
    du = u - ((w * u).sum((1, 2)) / safe)[:, None, None]
    dv = v - ((w * v).sum((1, 2)) / safe)[:, None, None]
    mu11, mu02 = (w * du * dv).sum((1, 2)), (w * dv * dv).sum((1, 2))
    ok = (mass > 1e-12) & (mu02 > 1e-9 * mass.clamp_min(1.0))
    return torch.where(ok, mu11 / torch.where(ok, mu02, torch.ones_like(mu02)), torch.zeros_like(mu02))


def ink(images: Tensor) -> Tensor:
    """Stroke weight of each digit: the fraction of its pixels brighter than mid-grey (> 0 in [-1, 1]), [n]."""
    _check_images(images)
    return (images > 0).float().flatten(1).mean(1)


def sharpness(images: Tensor) -> float:
    """Mean image-gradient energy of a batch: the mean over images and pixel pairs of the squared difference
    between horizontally and vertically neighbouring pixels (images in [-1, 1]). Blur lowers it; noise
    raises it."""
    _check_images(images)
    x = images.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    return float((dx + dy) / 2)


def _check_images(images: object) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 1 or 0 in images.shape:
        raise ValueError(f"images must be a tensor [n, 1, H, W] with n, H, W >= 1 (e.g. [n, 1, 28, 28]), got "
                         f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
    if not images.is_floating_point() or not torch.isfinite(images).all():
        raise ValueError("images must be finite floating-point pixels in [-1, 1]")


def _ink_weights(images: object) -> Tensor:
    """w = (x + 1) / 2 clamped to [0, 1], [n, H, W] in float64, of images [n, 1, H, W] in [-1, 1]."""
    _check_images(images)
    return ((images[:, 0].detach().double() + 1) / 2).clamp(0, 1)
