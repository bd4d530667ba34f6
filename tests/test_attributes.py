"""The measured image attributes: slant reads a shear's sign and size, ink counts bright pixels, sharpness
drops under blur; bad images get clear errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_lessons import attributes


def _bar(shear: float) -> torch.Tensor:
    """A vertical bar through the centre of a 28 x 28 image, sheared by ``shear`` columns per row up."""
    img = -torch.ones(1, 1, 28, 28)
    for row in range(4, 24):
        col = round(14 + shear * (14 - row))
        img[0, 0, row, col - 1:col + 1] = 1.0
    return img


def test_slant_has_the_sign_and_size_of_the_shear():
    upright, right, left = (float(attributes.slant(_bar(s))) for s in (0.0, 0.5, -0.5))
    assert abs(upright) < 1e-6
    assert right == pytest.approx(0.5, abs=0.06) and left == pytest.approx(-0.5, abs=0.06)


def test_slant_of_a_blank_or_one_row_image_is_zero():
    blank = -torch.ones(2, 1, 28, 28)
    line = blank.clone()
    line[1, 0, 10, 3:20] = 1
    assert attributes.slant(torch.cat([blank, line])).abs().max() == 0


def test_ink_is_the_fraction_of_bright_pixels():
    img = -torch.ones(1, 1, 4, 4)
    img[0, 0, :2, :2] = 0.5
    img[0, 0, 3, 3] = 0.0  # exactly mid-grey: not ink
    assert attributes.ink(img).tolist() == [0.25]


def test_sharpness_drops_under_blur():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 28, 28, generator=g) > 0.7).float() * 2 - 1
    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert attributes.sharpness(blurred) < 0.5 * attributes.sharpness(x)
    assert attributes.sharpness(torch.zeros(2, 1, 5, 5)) == 0


@pytest.mark.parametrize("bad", [torch.zeros(3, 28, 28), torch.zeros(0, 1, 28, 28), torch.zeros(2, 3, 8, 8),
                                 torch.full((1, 1, 4, 4), float("nan")), torch.zeros(1, 1, 4, 4, dtype=torch.long),
                                 "pixels"])
@pytest.mark.parametrize("measure", [attributes.slant, attributes.ink, attributes.sharpness])
def test_bad_images_are_refused_clearly(measure, bad):
    with pytest.raises(ValueError, match="images must"):
        measure(bad)
