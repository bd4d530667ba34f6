"""Checks for chapter "Conditional image generation": the PSNR of super-resolved digits and the receptive field
of a PatchGAN discriminator."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import image_to_image
from ._core import Case, CheckResult, check_function

__all__ = ["check_psnr", "check_receptive_field"]


def check_psnr(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(images, targets) -> float``: the mean over images of 10 log10(2^2 / MSE_i) in dB, for
    pixels in [-1, 1] (:func:`image_to_image.psnr`)."""
    g = torch.Generator().manual_seed(11)
    target = torch.zeros(1, 1, 2, 2)
    cases = [
        Case("every pixel off by 0.2 (MSE 0.04: answer 10 log10(4 / 0.04) = 20 dB)", (target + 0.2, target)),
        Case("every pixel off by 2 (MSE 4: answer 0 dB; the range of [-1, 1] pixels is 2, not 1 or 255)",
             (target + 2.0, target)),
        Case("two images, MSE 0.04 and 0.0004 (answer the MEAN of 20 and 40 dB = 30, not the PSNR of the "
             "mean MSE)", (torch.cat([target + 0.2, target + 0.02]), torch.cat([target, target]))),
        Case("a batch [4, 1, 7, 7] of random images and targets",
             (torch.rand(4, 1, 7, 7, generator=g) * 2 - 1, torch.rand(4, 1, 7, 7, generator=g) * 2 - 1)),
    ]
    return check_function(student_fn, _reference_psnr, cases, name="PSNR",
                          blocked=["gan_lessons.image_to_image.psnr"], atol=1e-4, rtol=1e-5)


def check_receptive_field(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(layers) -> int``: the receptive field 1 + sum_l (k_l - 1) prod_{j<l} s_j of a stack
    of convolutions given as (kernel, stride) pairs (:func:`image_to_image.receptive_field`)."""
    cases = [
        Case("one 3 x 3 convolution [(3, 1)] (answer 3)", ([(3, 1)],)),
        Case("two 3 x 3 convolutions of stride 1 [(3, 1), (3, 1)] (answer 5)", ([(3, 1), (3, 1)],)),
        Case("[(4, 2), (4, 2)] (the second layer's kernel covers 4 positions 2 pixels apart: answer 10)",
             ([(4, 2), (4, 2)],)),
        Case("the chapter's PatchGAN [(4, 2), (4, 2), (3, 1)] (answer 18)",
             ([(4, 2), (4, 2), (3, 1)],)),
        Case("pix2pix's 70 x 70 PatchGAN [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)] (answer 70)",
             ([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],)),
    ]
    return check_function(student_fn, _reference_receptive_field, cases, name="receptive field",
                          blocked=["gan_lessons.image_to_image.receptive_field"], atol=0, rtol=0)


def _reference_psnr(images, targets) -> float:
    return image_to_image.psnr(images, targets)  # looked up at call time, so it can be blocked


def _reference_receptive_field(layers) -> int:
    return image_to_image.receptive_field(layers)


def _wrong_range_one(images, targets) -> float:
    """takes the peak value as 1 (pixels in [0, 1]) although they lie in [-1, 1]"""
    mse = (images - targets).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / mse)).mean())


def _wrong_mean_mse(images, targets) -> float:
    """the PSNR of the batch's mean MSE instead of the mean of the images' PSNRs"""
    return float(10 * math.log10(4 / float((images - targets).pow(2).mean())))


def _wrong_sum_kernels(layers) -> int:
    """adds the kernels and ignores the strides"""
    return 1 + sum(k - 1 for k, _ in layers)


def _wrong_stride_after(layers) -> int:
    """multiplies each layer's kernel by its own stride as well as the earlier ones"""
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


WRONG_IMPLEMENTATIONS = {  # tests/test_student_edition.py: each must be rejected with a hint
    "check_psnr": [_wrong_range_one, _wrong_mean_mse],
    "check_receptive_field": [_wrong_sum_kernels, _wrong_stride_after],
}
