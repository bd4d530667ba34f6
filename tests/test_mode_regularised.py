"""The mode-regularised GAN (Che et al. 2017): the loss is what its docstring says, E trains with G, and the
chapter's mode study reports what its runs measured."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import collapse, losses, mode_regularised
from gan_lessons.experiments import encoders
from gan_lessons.train import GANTrainer, TrainConfig


def _model(members=2):
    torch.manual_seed(0)
    return mode_regularised.build(members, hidden=8, depth=1, geometric_weight=0.5, mode_weight=0.25)


def test_generator_loss_is_the_formula_of_the_docstring():
    model, objective = _model()
    D = collapse.build_method("ns", 2, collapse.NetSpec(d_hidden=8, d_depth=1))[1]
    real, z = torch.randn(16, 2, 2), torch.randn(16, 2, 2)
    fake, recon = model(z), model.generator(model.encoder(real))
    expected = (losses.modified_generator_loss(D(fake)) + 0.5 * (real - recon).pow(2).sum(-1).mean()
                + 0.25 * losses.modified_generator_loss(D(recon)))
    torch.testing.assert_close(objective.generator_loss(D, fake, real), expected)


def test_saturating_base_and_zero_weights_give_the_plain_gan():
    model, _ = _model()
    plain = mode_regularised.ModeRegularisedObjective(model=model, geometric_weight=0, mode_weight=0)
    D = collapse.build_method("ns", 2, collapse.NetSpec(d_hidden=8, d_depth=1))[1]
    fake, real = torch.randn(8, 2, 2), torch.randn(8, 2, 2)
    torch.testing.assert_close(plain.generator_loss(D, fake, real), losses.modified_generator_loss(D(fake)))
    sat = mode_regularised.ModeRegularisedObjective(model=model, saturating=True, geometric_weight=0,
                                                    mode_weight=0)
    torch.testing.assert_close(sat.generator_loss(D, fake, real), losses.minimax_generator_loss(D(fake)))


def test_the_encoder_trains_with_the_generator_through_the_one_trainer():
    G, D, objective = collapse.build_method("mrgan", 2, collapse.NetSpec(g_hidden=8, d_hidden=8))
    before = [p.detach().clone() for p in G.encoder.parameters()]
    sampler = lambda n, rng: torch.randn(n, 2, 2, generator=rng)  # noqa: E731
    trainer = GANTrainer(G, D, sampler, TrainConfig(steps=3, batch_size=16), objective=objective,
                         noise_sampler=sampler)
    trainer.fit(progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(before, G.encoder.parameters())), "E never moved"
    assert trainer.sample(5).shape == (5, 2, 2)


def test_reconstruction_pulls_towards_a_missing_point():
    """The gradient of |x - G(E(x))|^2 moves G's output for E(x) towards x: the reason an encoder helps."""
    model, objective = _model(members=1)
    x = torch.full((4, 1, 2), 5.0)  # far from anything G makes at initialisation
    before = mode_regularised.reconstruction_error(x, model.reconstruct(x)).item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        mode_regularised.reconstruction_error(x, model.reconstruct(x)).backward()
        opt.step()
    assert mode_regularised.reconstruction_error(x, model.reconstruct(x)).item() < before / 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(model=None), "EncodedGenerator"),
    (dict(model="G"), "EncodedGenerator"),
    (dict(geometric_weight=-1.0), "geometric_weight"),
    (dict(mode_weight=math.nan), "mode_weight"),
    (dict(mode_weight=True), "mode_weight"),
])
def test_bad_settings_are_refused(kwargs, match):
    model, _ = _model()
    with pytest.raises((TypeError, ValueError), match=match):
        mode_regularised.ModeRegularisedObjective(**{"model": model, **kwargs})


def test_reconstruction_error_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="one shape"):
        mode_regularised.reconstruction_error(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="non-empty float"):
        mode_regularised.reconstruction_error(torch.zeros(0, 2), torch.zeros(0, 2))


def test_separation_counts_standard_errors():
    a, b = {"modes_mean": 25.0, "modes_se": 0.0}, {"modes_mean": 24.0, "modes_se": 0.5}
    assert encoders.separation(a, b) == pytest.approx(2.0)
    assert encoders.separation(b, a) == pytest.approx(-2.0)
    assert encoders.separation(a, {"modes_mean": 24.0, "modes_se": 0.0}) == math.inf
    assert encoders.separation(a, a) == 0.0


def test_the_mode_study_is_a_real_comparison_at_one_budget():
    b = encoders.budget("quick", grid_steps=20, grid_seeds=2, grid_eval=200)
    cfg = encoders.mode_config(b)
    net = collapse.NetSpec(g_hidden=16, d_hidden=16)
    runs = {m: collapse.train_method(m, collapse.test_beds(), 2, cfg, net=net, n_eval=200)
            for m in encoders.MODE_METHODS}
    assert runs["ns"].trainer.step == runs["mrgan"].trainer.step == 20
    table = encoders.mode_table(runs)
    assert set(table) == {"ring", "grid"} and set(table["grid"]) == set(encoders.MODE_METHODS)
    x, recon = encoders.reconstructions(runs["mrgan"], "grid", seed=0, n=50)
    assert x.shape == recon.shape == (50, 2)
    with pytest.raises(ValueError, match="no encoder"):
        encoders.reconstructions(runs["ns"], "grid", seed=0)
