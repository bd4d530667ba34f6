"""The VAE and VAE-GAN of the encoders chapter: the reparameterisation trick and the KL are the formulas of
their docstrings, training lowers the ELBO's loss, the VAE-GAN's generator loss trains E and G through the
one trainer."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import losses, models, vae
from gan_lessons.config import TrainingDiverged
from gan_lessons.train import GANTrainer, TrainConfig


def test_reparameterise_is_mu_plus_sigma_eps_and_differentiable():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(4.0), 0.0]], requires_grad=True)
    z = vae.reparameterise(mu, logvar, eps=torch.tensor([[0.5, -1.0]]))
    torch.testing.assert_close(z, torch.tensor([[2.0, -3.0]]))
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(1, 2))
    torch.testing.assert_close(logvar.grad, torch.tensor([[0.5, -0.5]]))  # d/dlogvar exp(logvar/2) eps


def test_reparameterise_samples_have_the_asked_moments():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.full((20_000, 1), 3.0), torch.full((20_000, 1), math.log(0.25))
    z = vae.reparameterise(mu, logvar, generator=g)
    assert float(z.mean()) == pytest.approx(3.0, abs=0.02) and float(z.std()) == pytest.approx(0.5, abs=0.02)


def test_kl_divergence_matches_the_closed_form_and_is_zero_at_the_prior():
    assert float(vae.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))) == 0
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    expected = 0.5 * 1.0 + 0.5 * (2.0 - 1 - math.log(2.0))  # sum of 1/2 (mu^2 + s^2 - 1 - log s^2)
    assert float(vae.kl_divergence(mu, logvar)) == pytest.approx(expected)


@pytest.mark.parametrize("call", [lambda: vae.reparameterise(torch.zeros(2, 3), torch.zeros(2, 4)),
                                  lambda: vae.reparameterise(torch.zeros(2, 3), torch.zeros(2, 3), eps="x"),
                                  lambda: vae.kl_divergence(torch.full((1, 2), float("nan")), torch.zeros(1, 2)),
                                  lambda: vae.pixel_loss(torch.zeros(2, 4), torch.zeros(2, 5)),
                                  lambda: vae.pixel_loss(torch.zeros(2, 4), torch.full((2, 4), float("inf"))),
                                  lambda: vae.VAE(latent_dim=0), lambda: vae.VAEGANObjective("a model")])
def test_bad_input_is_refused_clearly(call):
    with pytest.raises((ValueError, TypeError)):
        call()


def _digits(n=64):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.8).float() * 2 - 1


def test_train_vae_lowers_the_loss_and_is_seeded():
    images = _digits()
    torch.manual_seed(0)
    model = vae.VAE(latent_dim=4, width=4)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def loss(m):
        with torch.no_grad():
            mu, logvar = m.encode(images)
            return float(vae.pixel_loss(images, m(mu)) + vae.kl_divergence(mu, logvar))

    before = loss(model.eval())
    vae.train_vae(model, images, steps=40, batch_size=16, lr=3e-3, seed=0, progress=False)
    after = loss(model)
    twin = vae.VAE(latent_dim=4, width=4)
    twin.load_state_dict(state)
    vae.train_vae(twin, images, steps=40, batch_size=16, lr=3e-3, seed=0, progress=False)
    assert after < 0.8 * before
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    assert model.reconstruct(images[:3]).shape == (3, 1, 28, 28)


def test_train_vae_stops_with_a_clear_message_when_it_diverges():
    images = _digits(8)
    with pytest.raises(TrainingDiverged, match="diverged at step"):
        vae.train_vae(vae.VAE(latent_dim=2, width=2), images, steps=5, batch_size=4, lr=1e30, progress=False)


def test_vaegan_generator_loss_is_the_formula_and_trains_the_encoder():
    torch.manual_seed(0)
    model = vae.VAE(latent_dim=4, width=4)
    D = models.DCGANDiscriminator(4)
    objective = vae.VAEGANObjective(model, feature_weight=0.5, kl_weight=2.0, seed=7)
    real, fake = _digits(8), model(torch.randn(8, 4))
    got = objective.generator_loss(D, fake, real)
    mu, logvar = model.encode(real)
    recon = model(vae.reparameterise(mu, logvar, generator=torch.Generator().manual_seed(7)))
    target = D.features(real).detach()
    feature = (D.features(recon) - target).pow(2).sum(1).mean() / target.shape[1] * 100
    expected = (2.0 * vae.kl_divergence(mu, logvar) / 4 + 0.5 * feature
                + losses.modified_generator_loss(D(fake)) + losses.modified_generator_loss(D(recon)))
    torch.testing.assert_close(got, expected)
    before = [p.detach().clone() for p in model.body.parameters()]
    sampler = lambda n, rng: _digits(n)  # noqa: E731
    trainer = GANTrainer(model, D, sampler, TrainConfig(steps=2, batch_size=8), latent_dim=4,
                         objective=vae.VAEGANObjective(model))
    trainer.fit(progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.body.parameters())), "the encoder never moved"


def test_train_vae_goes_through_the_run_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    images = _digits(32)
    torch.manual_seed(0)
    model = vae.VAE(latent_dim=2, width=2)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    vae.train_vae(model, images, steps=3, batch_size=8, seed=0, progress=False)
    files = list((tmp_path / "runs").glob("vae-mnist-*.pt"))
    assert len(files) == 1
    twin = vae.VAE(latent_dim=2, width=2)
    twin.load_state_dict(start)
    calls = []
    monkeypatch.setattr(vae, "_fit_vae", lambda *a: calls.append(a))  # a cache hit never trains
    vae.train_vae(twin, images, steps=3, batch_size=8, seed=0, progress=False)
    assert not calls and not twin.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    monkeypatch.undo()
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    other = vae.VAE(latent_dim=2, width=2)
    other.load_state_dict(start)
    vae.train_vae(other, images, steps=4, batch_size=8, seed=0, progress=False)  # other settings: a new entry
    assert len(list((tmp_path / "runs").glob("vae-mnist-*.pt"))) == 2


def test_run_cache_of_a_module_repairs_a_damaged_entry_and_survives_a_failed_save(tmp_path, monkeypatch):
    from gan_lessons import fitcache

    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    data = torch.ones(4, 2)

    def fit(model):
        with torch.no_grad():
            model.weight.fill_(0.5)
        return model

    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2)
    fitcache.load_or_fit("lin", net, {"a": 1}, data, lambda: fit(net))
    (path,) = (tmp_path / "runs").glob("lin-*.pt")
    path.write_bytes(b"damaged")
    torch.manual_seed(0)
    again = torch.nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="training again"):
        fitcache.load_or_fit("lin", again, {"a": 1}, data, lambda: fit(again))
    assert torch.all(again.weight == 0.5) and torch.load(path, weights_only=True)["sha256"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(blocker))
    kept = torch.nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="GAN_LESSONS_CACHE"):
        out = fitcache.load_or_fit("lin", kept, {"a": 1}, data, lambda: fit(kept))
    assert out is kept and torch.all(kept.weight == 0.5)
    with pytest.raises(ValueError, match="short name"):
        fitcache.load_or_fit("a b", kept, {}, data, lambda: kept)
    with pytest.raises(TypeError, match="fit a function"):
        fitcache.load_or_fit("lin", kept, {}, data, None)
