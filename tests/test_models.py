"""The networks: shapes, the DCGAN architecture rules and initialisation, conditional inputs, bad input."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_lessons import models


def _layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if not isinstance(m, (nn.Sequential, type(module)))]


@pytest.mark.parametrize("width", [8, 32])
def test_dcgan_shapes_and_output_range(width):
    torch.manual_seed(0)
    G, D = models.DCGANGenerator(latent_dim=64, width=width), models.DCGANDiscriminator(width=width)
    x = G(torch.randn(5, 64) * 10)  # large codes: the Tanh still bounds the output
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    assert D.features(x).shape == (5, 4 * width * 4 * 4)


def test_dcgan_follows_radford_et_al():
    """Strided convolutions, BN except at G's output and D's input, ReLU + Tanh in G, LeakyReLU(0.2) in D."""
    G, D = models.DCGANGenerator(width=8), models.DCGANDiscriminator(width=8)
    g_layers, d_layers = _layers(G), _layers(D)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert all(c.stride == (2, 2) for c in g_layers if isinstance(c, nn.ConvTranspose2d))
    assert all(c.stride == (2, 2) for c in d_layers if isinstance(c, nn.Conv2d))
    assert not any(isinstance(m, nn.MaxPool2d) for m in d_layers)
    assert isinstance(d_layers[0], nn.Conv2d) and not isinstance(d_layers[1], nn.BatchNorm2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 2
    assert {type(m) for m in g_layers} >= {nn.ReLU} and nn.LeakyReLU not in {type(m) for m in g_layers}
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))


def test_dcgan_init_is_normal_0_002():
    torch.manual_seed(0)
    G = models.DCGANGenerator(width=32)
    w = G.project[0].weight.detach()  # 64 x 6272 weights: the sample std is within 2% of 0.02
    assert abs(float(w.std()) - 0.02) < 0.0004 and abs(float(w.mean())) < 0.0004
    bn = G.project[2].requires_grad_(False)
    assert abs(float(bn.weight.mean()) - 1.0) < 0.01 and float(bn.bias.abs().max()) == 0.0
    assert float(G.up[-2].bias.detach().abs().max()) == 0.0
    with pytest.raises(TypeError, match="nn.Module"):
        models.dcgan_init("not a model")


def test_conditional_models_use_the_label():
    torch.manual_seed(0)
    G, D = models.DCGANGenerator(width=8, n_classes=10), models.DCGANDiscriminator(width=8, n_classes=10)
    G.eval(), D.eval()
    z = torch.randn(1, 64).repeat(2, 1)
    y = torch.tensor([3, 7])
    x = G(z, y)  # same z, two classes: different images
    assert x.shape == (2, 1, 28, 28) and not torch.allclose(x[0], x[1])
    same = x[:1].repeat(2, 1, 1, 1)
    assert not torch.allclose(D(same, y)[0], D(same, y)[1])  # same image, two classes: different logits


@pytest.mark.parametrize("call, match", [
    (lambda: models.DCGANGenerator()(torch.randn(2, 10)), r"z must be a tensor of shape \[batch, 64\]"),
    (lambda: models.DCGANGenerator()(torch.randn(2, 64), torch.tensor([1, 2])), "unconditional"),
    (lambda: models.DCGANGenerator(n_classes=10)(torch.randn(2, 64)), "pass labels"),
    (lambda: models.DCGANGenerator(n_classes=10)(torch.randn(2, 64), torch.tensor([1, 10])), r"0\.\.9"),
    (lambda: models.DCGANGenerator(n_classes=10)(torch.randn(2, 64), torch.tensor([1.0, 2.0])), "int64"),
    (lambda: models.DCGANDiscriminator()(torch.randn(2, 784)), r"\[batch, 1, 28, 28\]"),
    (lambda: models.DCGANDiscriminator()(torch.randn(2, 1, 28, 28), torch.tensor([0, 1])), "unconditional"),
    (lambda: models.DCGANDiscriminator(n_classes=10)(torch.randn(2, 1, 28, 28), torch.tensor([0])), r"\[2\]"),
    (lambda: models.DCGANGenerator(width=0), "width"),
    (lambda: models.DCGANGenerator(latent_dim=2.5), "latent_dim"),
    (lambda: models.DCGANDiscriminator(n_classes=-1), "n_classes"),
    (lambda: models.MLPImageGenerator()(torch.randn(3, 2)), r"\[batch, 64\]"),
    (lambda: models.MLPImageDiscriminator()(torch.randn(3, 1, 14, 14)), r"\[batch, 1, 28, 28\]"),
])
def test_image_models_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mlp_image_gan_shapes():
    torch.manual_seed(0)
    G, D = models.MLPImageGenerator(latent_dim=16, hidden=32), models.MLPImageDiscriminator(hidden=32)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    assert D(x).shape == (4,) and D.features(x).shape == (4, 32)


def test_without_batchnorm_replaces_every_batchnorm_and_checks_its_input():
    D = models.without_batchnorm(models.DCGANDiscriminator(width=4))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
    assert D(torch.zeros(2, 1, 28, 28)).shape[0] == 2
    with pytest.raises(TypeError, match="torch.nn.Module"):
        models.without_batchnorm("critic")
