"""WGAN and WGAN-GP (chapter "WGAN and WGAN-GP"): the losses against hand-computed values, the penalty at the
interpolates, weight clipping in the trainer, the chapter's measuring tools and its experiment."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_lessons import data, losses, models, objectives, train, wgan
from gan_lessons.experiments import wgan_gp


def linear_critic(w: list[float], b: float = 0.5) -> nn.Linear:
    """D(x) = w . x + b: its gradient is w at every point."""
    layer = nn.Linear(len(w), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([w]))
        layer.bias.fill_(b)
    return layer


class Recording(nn.Module):
    """D(x) = 0.5 ||x||^2 (gradient x, norm ||x||), remembering every input it was called on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return 0.5 * x.flatten(1).pow(2).sum(1)


# --- the losses ------------------------------------------------------------------------------------------------

def test_critic_loss_sign_matches_its_docstring():
    """L_D = E[D(G(z))] - E[D(x)]: real [1, 3] (mean 2), fake [-1, 0.5] (mean -0.25) -> -2.25."""
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.5])
    assert losses.wasserstein_critic_loss(real, fake).item() == pytest.approx(-2.25)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(0.25)
    # minimising L_D pushes real scores up and fake scores down: dL/dreal_i = -1/2, dL/dfake_i = +1/2
    real.requires_grad_(True), fake.requires_grad_(True)
    losses.wasserstein_critic_loss(real, fake).backward()
    assert real.grad.tolist() == [-0.5, -0.5] and fake.grad.tolist() == [0.5, 0.5]


def test_one_critic_step_raises_the_wasserstein_estimate():
    """A descent step of the trainer on L_D increases E[D(x)] - E[D(G(z))] (the sign is right end to end)."""
    torch.manual_seed(0)
    G, D = models.MLPGenerator(2, 2, 16, 1), linear_critic([0.1, -0.2])
    cfg = train.TrainConfig(steps=0, batch_size=256, loss="wasserstein", optimizer="sgd", lr_d=0.1)
    t = train.GANTrainer(G, D, _shifted, cfg, latent_dim=2)
    real, fake = _shifted(512, torch.Generator().manual_seed(1)), t.sample(512)
    before = float(wgan.wasserstein_estimate(D, real, fake).squeeze())
    t.update_discriminator()
    after = float(wgan.wasserstein_estimate(D, real, fake).squeeze())
    assert after > before + 0.05


def _shifted(n, rng=None):
    return torch.randn(n, 2, generator=rng) + torch.tensor([3.0, 0.0])


def test_penalty_of_a_linear_critic_by_hand():
    """grad D = w = (3, 4) everywhere: ||w|| = 5, GP = (5 - 1)^2 = 16 for any real, fake and eps."""
    D = linear_critic([3.0, 4.0])
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = losses.wasserstein_gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0)
    unit = linear_critic([0.6, 0.8])  # ||w|| = 1: a 1-Lipschitz critic with gradient norm 1 pays nothing
    assert losses.wasserstein_gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_penalty_is_differentiable_in_the_critic_weights():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (0.6, 0.8) = (4.8, 6.4) for w = (3, 4)."""
    D = linear_critic([3.0, 4.0])
    losses.wasserstein_gradient_penalty(D, torch.randn(4, 2), torch.randn(4, 2)).backward()
    torch.testing.assert_close(D.weight.grad, torch.tensor([[4.8, 6.4]]))
    assert D.bias.grad is None or D.bias.grad.item() == 0.0  # the bias does not change the gradient


def test_penalty_is_taken_at_the_interpolates_not_the_real_data():
    """x_hat = eps x + (1 - eps) x~ with D = 0.5 ||x||^2, so ||grad D(x_hat)|| = ||x_hat||.

    real (4, 0), fake (0, 0), eps 0.25 -> x_hat (1, 0), norm 1, GP 0. At the real data it would be (4 - 1)^2 = 9;
    with eps and 1 - eps swapped x_hat = (3, 0) and GP = 4; at the fakes GP = 1.
    Second sample: real (0, 2), fake (0, 6), eps 0.5 -> x_hat (0, 4), GP 9. Mean GP = 4.5.
    """
    D = Recording()
    real = torch.tensor([[4.0, 0.0], [0.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 6.0]])
    gp = losses.wasserstein_gradient_penalty(D, real, fake, eps=torch.tensor([0.25, 0.5]))
    assert gp.item() == pytest.approx(4.5)
    assert len(D.seen) == 1
    torch.testing.assert_close(D.seen[0], torch.tensor([[1.0, 0.0], [0.0, 4.0]]))


def test_random_eps_is_one_per_sample_on_the_segment():
    D = Recording()
    real, fake = torch.zeros(500, 2), torch.ones(500, 2)  # x_hat = (1 - eps)(1, 1): both coordinates equal
    losses.wasserstein_gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    x_hat = D.seen[0]
    torch.testing.assert_close(x_hat[:, 0], x_hat[:, 1])  # one eps per sample, shared by its coordinates
    one_minus_eps = x_hat[:, 0]
    assert one_minus_eps.min() >= 0 and one_minus_eps.max() <= 1
    assert one_minus_eps.std() > 0.2  # different per sample (U[0, 1] has std 0.289)


def test_penalty_norm_is_per_sample_over_all_input_dimensions():
    """Images [2, 1, 2, 2] with D = 0.5 ||x||^2 and eps = 1 (x_hat = real): norms ||x_1|| = 2, ||x_2|| = 0.5
    (all four pixels), GP = ((2 - 1)^2 + (0.5 - 1)^2) / 2 = 0.625."""
    real = torch.stack([torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.25)])  # [2, 1, 2, 2]
    gp = losses.wasserstein_gradient_penalty(Recording(), real, torch.zeros_like(real), eps=torch.ones(2))
    assert gp.item() == pytest.approx(0.625)


@pytest.mark.parametrize("kwargs, match", [
    (dict(real=torch.zeros(3, 2), fake=torch.zeros(4, 2)), "one shape"),
    (dict(real=torch.zeros(3), fake=torch.zeros(3)), "one shape"),
    (dict(real=[0.0], fake=[0.0]), "tensors"),
    (dict(real=torch.zeros(3, 2), fake=torch.zeros(3, 2), eps=torch.zeros(2)), "eps"),
])
def test_penalty_rejects_bad_input(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        losses.wasserstein_gradient_penalty(linear_critic([1.0, 0.0]), **kwargs)


def test_objective_adds_lambda_times_the_penalty():
    D = linear_critic([3.0, 4.0], b=0.0)
    real, fake = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])  # D(real) = 3, D(fake) = 4
    loss, _, _ = objectives.WassersteinObjective(gp_weight=10.0).discriminator_loss(D, real, fake, torch.Generator())
    assert loss.item() == pytest.approx((4 - 3) + 10 * 16)
    loss0, _, _ = objectives.WassersteinObjective().discriminator_loss(D, real, fake, torch.Generator())
    assert loss0.item() == pytest.approx(1.0)


# --- weight clipping in the trainer ---------------------------------------------------------------------------

def test_clipping_keeps_every_weight_in_range():
    torch.manual_seed(0)
    G, D = models.MLPGenerator(2, 2, 32, 2), models.MLPDiscriminator(2, 32, 2, norm="layer")
    c = 0.01
    assert max(p.abs().max().item() for p in D.parameters()) > 10 * c  # the init is far outside [-c, c]
    cfg = train.TrainConfig(steps=3, batch_size=32, loss="wasserstein", clip_value=c, optimizer="rmsprop",
                            lr_d=5e-5, d_steps=5)
    t = train.train_gan(G, D, data.ring().sample, cfg, latent_dim=2, progress=False)
    for name, p in t.D.named_parameters():  # every parameter, layer norm's gain and bias included
        assert p.abs().max().item() <= c, name
    w = wgan.linear_weights(t.D)
    assert w.abs().max() >= c * (1 - 1e-6)  # the clamp binds
    assert (w.abs() > c / 2).float().mean() > 0.8  # and holds most of this init's weights near +-c


# --- the chapter's measuring tools ----------------------------------------------------------------------------

def test_wasserstein_estimate_by_hand_and_per_member():
    D = linear_critic([1.0, 0.0], b=0.0)
    real, fake = torch.tensor([[2.0, 5.0], [4.0, -1.0]]), torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    assert wgan.wasserstein_estimate(D, real, fake).item() == pytest.approx(3.0 - 0.5)
    ens = lambda x: x[..., 0]  # an "ensemble critic" [batch, members, 2] -> [batch, members]
    est = wgan.wasserstein_estimate(ens, torch.ones(4, 3, 2), torch.zeros(4, 3, 2))
    assert est.tolist() == [1.0, 1.0, 1.0]


def test_interpolate_gradient_norms_by_hand():
    real, fake = torch.tensor([[4.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, 6.0]])
    norms = wgan.interpolate_gradient_norms(Recording(), real, fake, eps=torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(norms, torch.tensor([1.0, 4.0]))
    assert wgan.interpolate_gradient_norms(linear_critic([3.0, 4.0]), real, fake).tolist() == [5.0, 5.0]
    # ensemble layout: norm over the last dimension, per (sample, member)
    ens = lambda x: 0.5 * x.pow(2).sum(2)  # [batch, members, 2] -> [batch, members]
    r = torch.tensor([[[4.0, 0.0], [0.0, 2.0]]])  # [1, 2, 2]
    out = wgan.interpolate_gradient_norms(ens, r, torch.zeros_like(r), eps=torch.tensor([[0.25, 1.0]]), ensemble=True)
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0]]))


def test_layer_gradient_norms_of_a_two_layer_linear_critic():
    """D(x) = v . (W x): dL/dW = v (m_fake - m_real)^T, dL/dv = W (m_fake - m_real), with m the batch means."""
    D = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        D[1].weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]])  # m_fake - m_real = (0, -1)
    first, last = wgan.layer_gradient_norms(D, real, fake)
    assert first == pytest.approx(5.0)  # ||v (0, -1)^T||_F = ||v|| = 5
    assert last == pytest.approx(2.0)  # ||W (0, -1)|| = ||(0, -2)|| = 2


def test_linear_weights_and_conv_critic():
    D = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert wgan.linear_weights(D).shape == (2 * 3 + 3,)
    critic = models.ConvCritic(width=4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert critic(torch.zeros(5, 1, 28, 28)).shape == (5,)
    # no batch norm: a sample's score does not depend on the rest of its batch
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(critic(x)[:1], critic(x[:1]))


def test_tools_reject_bad_input():
    D = linear_critic([1.0, 0.0])
    with pytest.raises(ValueError, match="one shape"):
        wgan.wasserstein_estimate(D, torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="tensors"):
        wgan.interpolate_gradient_norms(D, [1.0], [1.0])
    with pytest.raises(ValueError, match="eps"):
        wgan.interpolate_gradient_norms(D, torch.zeros(3, 2), torch.zeros(3, 2), eps=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="ensemble"):
        wgan.interpolate_gradient_norms(D, torch.zeros(3, 2), torch.zeros(3, 2), ensemble=True)
    with pytest.raises(TypeError, match="nn.Module"):
        wgan.layer_gradient_norms(lambda x: x, torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="no Linear"):
        wgan.linear_weights(nn.ReLU())
    with pytest.raises(ValueError, match="width"):
        models.ConvCritic(width=0)
    with pytest.raises(ValueError, match="28, 28"):
        models.ConvCritic(width=2)(torch.zeros(2, 784))


def test_swiss_roll_is_seeded_and_on_the_roll():
    a = data.swiss_roll(1000, torch.Generator().manual_seed(0))
    b = data.swiss_roll(1000, torch.Generator().manual_seed(0))
    assert a.shape == (1000, 2) and torch.equal(a, b)
    clean = data.swiss_roll(1000, torch.Generator().manual_seed(0), noise=0.0, scale=1.0)
    r = clean.norm(dim=1)  # = t, the roll's angle, in [1.5 pi, 4.5 pi]
    assert r.min() >= 1.5 * math.pi - 1e-4 and r.max() <= 4.5 * math.pi + 1e-4
    with pytest.raises(ValueError, match="non-negative integer"):
        data.swiss_roll(-1)
    with pytest.raises(ValueError, match="scale"):
        data.swiss_roll(10, scale=0.0)


# --- the experiment ---------------------------------------------------------------------------------------------

def test_experiment_rejects_bad_options():
    with pytest.raises(ValueError, match="objective"):
        wgan_gp.train_toys("hinge")
    with pytest.raises(ValueError, match="ring_seeds"):
        wgan_gp.train_toys("wgan-gp", ring_seeds=0)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        wgan_gp.train_mnist_clipped("sgd")


def test_roughness_by_hand():
    assert wgan_gp.roughness([1.0, 3.0, 1.0, 3.0]) == pytest.approx(2.0 / 2.0)  # mean |diff| 2, mean |x| 2
    assert wgan_gp.roughness([2.0, 2.0, 2.0]) == 0.0
    assert wgan_gp.roughness([-1.0, 1.0]) == pytest.approx(2.0)
    for bad in ([1.0], [0.0, 0.0], [1.0, float("nan")], [[1.0, 2.0]]):
        with pytest.raises(ValueError):
            wgan_gp.roughness(bad)


def test_clipped_mnist_runs_use_the_papers_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.008")  # 2 generator steps of the quick budget
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    monkeypatch.setattr(wgan_gp.data, "mnist", lambda split, verbose=True: (images, torch.zeros(64).long()))
    runs = {opt: wgan_gp.train_mnist_clipped(opt, "quick") for opt in wgan_gp.CLIP_OPTIMIZERS}
    for opt, t in runs.items():
        assert t.config.optimizer == opt and t.config.clip_value == wgan_gp.MNIST_CLIP and t.config.d_steps == 5
        assert t.config.loss == "wasserstein" and t.step == t.config.steps >= 1
        assert all(p.abs().max() <= wgan_gp.MNIST_CLIP for p in t.D.parameters())
    assert runs["adam"].config.betas[0] == 0.5 and runs["adam"].config.lr_d == runs["rmsprop"].config.lr_d


@pytest.mark.slow
def test_the_mnist_summary_judges_the_wgan_gp_and_both_clipped_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.008")  # a few steps of every quick run
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    monkeypatch.setattr(wgan_gp.data, "mnist", lambda split, verbose=True: (images, torch.zeros(64).long()))
    assert wgan_gp.train_mnist("quick", steps=3).step == 3  # steps replaces the budget's mnist_steps
    out = wgan_gp.run("quick", seed=0, mnist=True)
    for key in ("mnist", "clip_rmsprop", "clip_adam"):
        assert 0 <= out[f"{key}_recognised"] <= 1 and 0 <= out[f"{key}_entropy"] <= math.log(10) + 1e-6


@pytest.mark.slow
def test_short_toy_run_is_reproducible_and_summarised(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    runs = [wgan_gp.train_toys("wgan-gp", "quick", seed=0, ring_seeds=2, steps=20) for _ in range(2)]
    torch.testing.assert_close(runs[0].samples, runs[1].samples, rtol=0, atol=0)
    summary = wgan_gp.ring_summary(runs[0])
    assert runs[0].members == ["8 Gaussians"] * 2 + ["25 Gaussians", "swiss roll"]
    assert len(summary["ring_modes_per_seed"]) == 2
    assert summary["ring_modes_mean"] == pytest.approx(sum(summary["ring_modes_per_seed"]) / 2)
    assert 0 <= summary["ring_hq_mean"] <= 1 and summary["gp_grad_norm_mean"] > 0
    snaps = runs[0].trainer.snapshots
    assert snaps[0][0] == 0 and snaps[-1][0] == 20 and snaps[-1][1]["score"].shape == (4,)
