"""Paired image-to-image translation with a conditional GAN: super-resolution (Yu & Porikli 2016) and pix2pix
(Isola et al. 2017), at digit scale.

Book: chapter "Conditional image generation". A paired data set gives, for every target image y, its input x
(a 7 x 7 low-resolution digit, or a digit with its lower half masked). The generator G(x) is a small U-Net;
the discriminator D(y, x) is a PatchGAN that sees the **pair** (candidate output, input) and gives one logit
per overlapping patch. The generator minimises::

    L_G = E |y - G(x)|_1  +  adversarial_weight * E[-log D(G(x), x)]

(:class:`PairedObjective`; ``adversarial_weight = 0`` is the L1-only baseline), while D plays the original
game on the pairs. Both train through the book's one trainer: the real sampler returns (y, x), so the trainer
calls G(z, x) and D(y, x), the fakes made from the inputs of the real batch. G ignores z: like pix2pix, it is a
deterministic map of its input (Isola et al. found input noise ignored and used dropout instead).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import losses
from .checks import check_int, check_real
from .objectives import JSObjective

__all__ = ["SIZE", "downsample", "upsample", "mask_lower_half", "psnr", "receptive_field", "UNetGenerator",
           "PatchDiscriminator", "PairedObjective", "l1_loss"]

SIZE = 28  # the side of a digit image


def downsample(images: Tensor, factor: int = 4) -> Tensor:
    """The low-resolution input: the mean of each ``factor`` x ``factor`` block (an area filter), [n, 1,
    28 / factor, 28 / factor] of images [n, 1, 28, 28] in [-1, 1]."""
    _check_images("images", images)
    check_int("factor", factor, minimum=1, maximum=SIZE)
    if SIZE % factor:
        raise ValueError(f"factor must divide {SIZE} (1, 2, 4, 7, 14 or 28), got {factor}")
    return F.avg_pool2d(images, factor)


def upsample(low: Tensor, size: int = SIZE) -> Tensor:
    """Bicubic interpolation of images [n, 1, h, w] to [n, 1, size, size], clamped to [-1, 1]: the classical
    baseline of super-resolution (an image already of that size is returned as it is)."""
    _check_images("low", low, square=None)
    check_int("size", size, minimum=1, maximum=4 * SIZE)
    if tuple(low.shape[2:]) == (size, size):
        return low
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def mask_lower_half(images: Tensor) -> Tensor:
    """pix2pix's input: the digit with rows 14..27 set to the background value -1, [n, 1, 28, 28]."""
    _check_images("images", images)
    out = images.clone()
    out[:, :, SIZE // 2:] = -1.0
    return out


def psnr(images: Tensor, targets: Tensor, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB, averaged over the images::

        PSNR_i = 10 log10( data_range^2 / MSE_i ),   MSE_i = mean over pixels of (images_i - targets_i)^2

    data_range = 2 for pixels in [-1, 1]. An image equal to its target (MSE 0) counts as 100 dB."""
    _check_images("images", images, square=None)
    _check_images("targets", targets, square=None)
    if images.shape != targets.shape:
        raise ValueError(f"images and targets must have one shape, got {tuple(images.shape)} and "
                         f"{tuple(targets.shape)}")
    check_real("data_range", data_range, 0, 1e6, open_low=True)  # the largest pixel difference
    mse = (images.double() - targets.double()).pow(2).flatten(1).mean(1)  # [n]
    db = 10 * torch.log10(data_range**2 / mse.clamp_min(1e-10))
    return float(db.clamp_max(100.0).mean())


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """The side of the input patch that one output of a stack of convolutions sees, for layers given as
    (kernel, stride) from the input on::

        r = 1 + sum_l (k_l - 1) * prod_{j < l} s_j
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"layers must be a non-empty list of (kernel, stride) pairs, got {layers!r}")
    r, jump = 1, 1
    for layer in layers:
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise ValueError(f"each layer must be a (kernel, stride) pair, got {layer!r}")
        k, s = check_int("kernel", layer[0], minimum=1), check_int("stride", layer[1], minimum=1)
        r, jump = r + (k - 1) * jump, jump * s
    return r


class UNetGenerator(nn.Module):
    """A two-level U-Net for 28 x 28 (Ronneberger et al. 2015, as pix2pix uses it): the input x, brought to
    28 x 28 by :func:`upsample`, -> Conv(stride 2) [w, 14, 14] -> Conv(stride 2) BN [2w, 7, 7] ->
    ConvT BN [w, 14, 14] ++ skip -> ConvT [w, 28, 28] ++ x -> Conv 3x3 -> Tanh [1, 28, 28].

    The skips carry the input's detail past the bottleneck: the decoder only has to add what is missing.
    ``forward(z, x)``: z (the trainer's noise) is ignored, see the module's docstring.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        check_int("width", width, minimum=1, maximum=1024)
        self.down1 = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2))  # [n, w, 14, 14]
        self.down2 = nn.Sequential(nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width),
                                   nn.LeakyReLU(0.2))  # [n, 2w, 7, 7]
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width),
                                 nn.ReLU())  # [n, w, 14, 14]
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU())  # [n, w, 28, 28]
        self.out = nn.Sequential(nn.Conv2d(width + 1, 1, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor | None, x: Tensor | None = None) -> Tensor:
        if x is None:
            raise ValueError("the U-Net translates an input: call it as G(z, x) with x [n, 1, h, w] (z is ignored)")
        _check_images("x", x, square=None)
        x = upsample(x)  # [n, 1, 28, 28]
        h1 = self.down1(x)
        h = self.up1(self.down2(h1))
        h = self.up2(torch.cat([h, h1], 1))  # the skip from the first level
        return self.out(torch.cat([h, x], 1))  # and the input itself: [n, 1, 28, 28]


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017) for 28 x 28 pairs: (candidate y, input x brought to 28 x 28) as two channels
    -> Conv(4, stride 2) [w, 14, 14] -> Conv(4, stride 2) BN [2w, 7, 7] -> Conv(3, stride 1) -> logits
    [n, 49], one per patch of :attr:`receptive_field` = 18 pixels square, overlapping.

    It judges whether each patch of y is a plausible *translation of x there*: seeing x is what stops G from
    drawing any sharp digit unrelated to its input."""

    layers = ((4, 2), (4, 2), (3, 1))  # (kernel, stride) of the three convolutions

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        check_int("width", width, minimum=1, maximum=1024)
        self.net = nn.Sequential(
            nn.Conv2d(2, width, 4, 2, 1), nn.LeakyReLU(0.2),  # [n, w, 14, 14]
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),  # [n, 2w, 7, 7]
            nn.Conv2d(2 * width, 1, 3, 1, 1), nn.Flatten())  # [n, 49]

    @property
    def receptive_field(self) -> int:
        """The side of the input patch each logit sees (:func:`receptive_field` of :attr:`layers`)."""
        return receptive_field(list(self.layers))

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        if x is None:
            raise ValueError("a conditional discriminator judges pairs: call it as D(y, x) with the input x")
        _check_images("y", y)
        _check_images("x", x, square=None)
        return self.net(torch.cat([y, upsample(x)], 1))  # [n, 49] patch logits


def l1_loss(fake: Tensor, target: Tensor) -> Tensor:
    """E |target - fake|_1: the mean absolute difference over every pixel of the batch."""
    if not isinstance(fake, Tensor) or not isinstance(target, Tensor) or fake.shape != target.shape \
            or fake.numel() == 0 or not fake.is_floating_point() or not target.is_floating_point():
        raise ValueError("fake and target must be two non-empty float tensors of one shape")
    if not (torch.isfinite(fake).all() and torch.isfinite(target).all()):
        raise ValueError("fake or target has NaN or infinite values")
    return (target - fake).abs().mean()


@dataclass
class PairedObjective(JSObjective):
    """L1 + conditional GAN (Isola et al. 2017, eq. 4):  L_G = E|y - G(x)|_1 + adversarial_weight *
    E[-log D(G(x), x)], the non-saturating loss averaged over D's patches; D: the original game on pairs.

    Isola et al. weigh L1 by 100 against 1 for the GAN term, i.e. adversarial_weight = 0.01. 0 trains on L1
    only (D still trains, but G ignores it): the baseline. ``real`` in the generator loss is the paired target.
    """

    adversarial_weight: float = 0.01  # weight of the GAN term against L1 (Isola et al.: 1/100)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("adversarial_weight", self.adversarial_weight, 0, 1e6)

    def generator_loss(self, D, fake, real):
        loss = l1_loss(fake, real)
        if self.adversarial_weight > 0:
            loss = loss + self.adversarial_weight * losses.modified_generator_loss(D(fake))
        return loss


def _check_images(name: str, images: object, square: int | None = SIZE) -> None:
    """images [n, 1, h, w] of finite floats; h = w = ``square`` unless it is None (then h, w <= 28)."""
    ok = isinstance(images, Tensor) and images.dim() == 4 and images.shape[0] > 0 and images.shape[1] == 1 \
        and images.is_floating_point()
    if ok:
        h, w = images.shape[2:]
        ok = (h, w) == (square, square) if square else 1 <= h <= SIZE and 1 <= w <= SIZE
    if not ok:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        side = f"{square} x {square}" if square else f"at most {SIZE} x {SIZE}"
        raise ValueError(f"{name} must be float images [n, 1, h, w] with n >= 1, {side}, got {shape}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} has NaN or infinite pixels")
