"""Virtual batch norm (gan_lessons.vbn) by hand, its independence from the rest of the batch, and chapter 5's
comparison with batch norm."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_lessons import models, vbn
from gan_lessons.experiments import dcgan


def test_vbn_by_hand_one_channel():
    layer = vbn.VirtualBatchNorm2d(1, reference=2, eps=1e-12)
    h = torch.tensor([0.0, 2.0, 5.0]).view(3, 1, 1, 1)  # reference {0, 2}, then the example 5
    out = layer(h).view(-1)
    # reference alone: mean 1, E[h^2] 2, var 1 -> (0 - 1) / 1 and (2 - 1) / 1
    torch.testing.assert_close(out[:2], torch.tensor([-1.0, 1.0]))
    # the example with the reference, c = 1/3: mean = 5/3 + 2/3 * 1 = 7/3, E[h^2] = 25/3 + 2/3 * 2 = 29/3
    mu, m2 = 7 / 3, 29 / 3
    torch.testing.assert_close(out[2], torch.tensor((5 - mu) / math.sqrt(m2 - mu * mu)))


def test_gamma_beta_and_reference_statistics():
    layer = vbn.VirtualBatchNorm2d(3, reference=4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        layer.bias.copy_(torch.tensor([0.0, -1.0, 1.0]))
    h = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 4 + 2
    ref = layer(h)[:4]
    torch.testing.assert_close(ref.mean((0, 2, 3)), layer.bias.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(ref.var((0, 2, 3), unbiased=False).sqrt(), layer.weight.detach(), atol=1e-3, rtol=0)


def test_an_example_does_not_depend_on_the_rest_of_its_batch():
    torch.manual_seed(0)
    G = vbn.VirtualBatchNormGenerator(models.DCGANGenerator(16, 8), reference=8, seed=3)
    z = torch.randn(6, 16)
    alone = torch.cat([G(z[i:i + 1]) for i in range(6)])
    together = G(z)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    G.eval()
    torch.testing.assert_close(G(z), together, atol=1e-6, rtol=0)  # no running statistics: eval is the same
    plain = models.DCGANGenerator(16, 8)
    assert not torch.allclose(plain(z)[:1], plain(z[:2])[:1])  # batch norm: the batch changes the output


def test_wrapping_keeps_gamma_beta_and_the_reference_is_a_seeded_buffer():
    torch.manual_seed(0)
    inner = models.DCGANGenerator(16, 8)
    bns = [m for m in inner.modules() if isinstance(m, nn.BatchNorm2d)]
    gammas = [m.weight.detach().clone() for m in bns]
    G = vbn.VirtualBatchNormGenerator(inner, reference=5, seed=1)
    vbns = [m for m in G.modules() if isinstance(m, vbn.VirtualBatchNorm2d)]
    assert len(vbns) == len(bns) == 2 and not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    for g, m in zip(gammas, vbns):
        torch.testing.assert_close(m.weight.detach(), g)
    assert "reference" in dict(G.named_buffers())
    again = vbn.VirtualBatchNormGenerator(models.DCGANGenerator(16, 8), reference=5, seed=1)
    torch.testing.assert_close(again.reference, G.reference)
    out = G(torch.randn(3, 16))
    out.sum().backward()
    assert all(p.grad is not None for p in G.parameters())


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="reference"):
        vbn.VirtualBatchNorm2d(2, reference=3)(torch.zeros(3, 2, 4, 4))  # no example after the reference
    with pytest.raises(ValueError, match="num_features"):
        vbn.VirtualBatchNorm2d(0, reference=3)
    with pytest.raises(TypeError, match="latent_dim"):
        vbn.VirtualBatchNormGenerator(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unconditional"):
        vbn.VirtualBatchNormGenerator(models.DCGANGenerator(16, 8, n_classes=10))
    with pytest.raises(ValueError, match="BatchNorm2d"):
        vbn.VirtualBatchNormGenerator(models.without_batchnorm(models.DCGANGenerator(16, 8)))
    G = vbn.VirtualBatchNormGenerator(models.DCGANGenerator(16, 8), reference=4)
    with pytest.raises(ValueError, match=r"z must be \[n, 16\]"):
        G(torch.zeros(3, 15))


def test_mean_and_se_by_hand():
    assert dcgan.mean_and_se([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2) / math.sqrt(2)))
    assert dcgan.mean_and_se([0.5]) == (0.5, 0.0)
    for bad in ([], [float("nan")], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="one per seed"):
            dcgan.mean_and_se(bad)


def test_norm_runs_train_through_the_trainer_and_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.04")  # 10 steps of the quick budget's 250
    g = torch.Generator().manual_seed(0)
    digits = {"train_x": torch.rand(64, 1, 28, 28, generator=g) * 2 - 1, "train_y": torch.arange(64) % 10}
    runs = {norm: dcgan.train_norm_run(norm, digits, "quick", progress=False) for norm in dcgan.NORMS}
    assert all(t.step == 10 for t in runs.values())
    assert isinstance(runs["virtual"].G, vbn.VirtualBatchNormGenerator)
    assert not isinstance(runs["batch"].G, vbn.VirtualBatchNormGenerator)
    again = dcgan.train_norm_run("virtual", digits, "quick", progress=False)  # cached: the same digits
    torch.testing.assert_close(again.sample(z=torch.zeros(2, dcgan.LATENT_DIM)),
                               runs["virtual"].sample(z=torch.zeros(2, dcgan.LATENT_DIM)))
    with pytest.raises(ValueError, match="unknown normalisation"):
        dcgan.train_norm_run("layer", digits, "quick")
    before = {k: v.clone() for k, v in runs["batch"].G.state_dict().items()}
    assert dcgan.batch_dependence(runs["virtual"]) < 1e-5 < 1e-3 < dcgan.batch_dependence(runs["batch"], n=8)
    for k, v in runs["batch"].G.state_dict().items():  # the test ran on a copy: running statistics untouched
        torch.testing.assert_close(v, before[k])
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        dcgan.batch_dependence(runs["batch"], n=1)
