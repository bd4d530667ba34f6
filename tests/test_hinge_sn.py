"""Hinge losses, spectral normalisation, Lipschitz bounds, orthogonal init, truncation (chapter 7)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_lessons import exercises, latent, losses, models, objectives, spectral, train
from gan_lessons.experiments import hinge_sn


# --- hinge losses on fixed logits ------------------------------------------------------------------------------
REAL = torch.tensor([0.5, 2.0, -1.0])  # relu(1 - x) = 0.5, 0, 2   -> mean 2.5 / 3
FAKE = torch.tensor([-3.0, 0.0, 0.5])  # relu(1 + x) = 0, 1, 1.5   -> mean 2.5 / 3


def test_hinge_discriminator_loss_by_hand():
    assert losses.hinge_discriminator_loss(REAL, FAKE).item() == pytest.approx(5.0 / 3.0)
    assert losses.hinge_discriminator_loss(torch.zeros(4), torch.zeros(2)).item() == pytest.approx(2.0)
    beyond = losses.hinge_discriminator_loss(torch.tensor([1.0, 7.0]), torch.tensor([-1.0, -9.0]))
    assert beyond.item() == 0.0


def test_hinge_generator_loss_by_hand():
    assert losses.hinge_generator_loss(FAKE).item() == pytest.approx(2.5 / 3.0)  # -mean(-3, 0, 0.5)
    assert losses.hinge_generator_loss(torch.tensor([[2.0], [4.0]])).item() == pytest.approx(-3.0)


def test_hinge_gradient_is_zero_beyond_the_margin():
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    losses.hinge_discriminator_loss(real, fake).backward()
    # d/dx relu(1 - x) = -1 inside (x < 1), 0 beyond; d/dx relu(1 + x) = +1 inside (x > -1), 0 beyond; / batch
    torch.testing.assert_close(real.grad, torch.tensor([-1.0, 0.0, -1.0]) / 3)
    torch.testing.assert_close(fake.grad, torch.tensor([0.0, 1.0, 1.0]) / 3)
    real_active, fake_active = losses.hinge_active(REAL, FAKE)
    assert real_active.tolist() == [True, False, True] and fake_active.tolist() == [False, True, True]
    assert ((real.grad != 0) == real_active).all() and ((fake.grad != 0) == fake_active).all()


def test_hinge_objective_uses_the_hinge_losses():
    D = lambda x: x.squeeze(1)  # noqa: E731 - the identity "discriminator": logits = inputs
    loss, r, f = objectives.HingeObjective().discriminator_loss(D, REAL[:, None], FAKE[:, None], None)
    assert loss.item() == pytest.approx(5.0 / 3.0) and torch.equal(r, REAL) and torch.equal(f, FAKE)
    assert objectives.HingeObjective().generator_loss(D, FAKE[:, None], REAL[:, None]).item() == pytest.approx(2.5 / 3)
    assert objectives.HingeObjective.probabilities is False


@pytest.mark.parametrize("bad, error", [([1.0, 2.0], TypeError), (torch.tensor([1, 2]), TypeError),
                                        (torch.zeros(0), ValueError)])
def test_hinge_losses_reject_bad_logits(bad, error):
    with pytest.raises(error, match="logits"):
        losses.hinge_discriminator_loss(bad, FAKE)
    with pytest.raises(error, match="logits"):
        losses.hinge_discriminator_loss(REAL, bad)
    with pytest.raises(error, match="logits"):
        losses.hinge_generator_loss(bad)


def test_hinge_active_rejects_bad_input():
    with pytest.raises(TypeError, match="real_logits"):
        losses.hinge_active([0.5], FAKE)
    with pytest.raises(TypeError, match="fake_logits"):
        losses.hinge_active(REAL, torch.tensor([1, 2]))


# --- power iteration ----------------------------------------------------------------------------------------------
DIAG = torch.diag(torch.tensor([3.0, 1.0]))


def test_power_iteration_one_step_by_hand():
    # v = [1, 1]/sqrt2 -> u = [3, 1]/sqrt10 -> v = [9, 1]/sqrt82 -> sigma = u^T W v = 82 / sqrt(820)
    sigma, u, v = spectral.power_iteration(DIAG, torch.tensor([1.0, 1.0]), 1)
    assert sigma.item() == pytest.approx(82 / math.sqrt(820), rel=1e-6)
    torch.testing.assert_close(u, torch.tensor([3.0, 1.0]) / math.sqrt(10))
    torch.testing.assert_close(v, torch.tensor([9.0, 1.0]) / math.sqrt(82))
    assert spectral.power_iteration_trace(DIAG, torch.tensor([1.0, 1.0]), 2)[0] == pytest.approx(sigma.item())


def test_power_iteration_reaches_the_true_sigma():
    for seed in range(3):
        study = hinge_sn.sigma_study(seed, n_iters=200)
        assert study["rel_error"] < 1e-3, f"seed {seed}: {study['rel_error']}"
        assert study["trace"][0] < study["true_sigma"] * (1 + 1e-6)  # estimates approach sigma from below
    W = torch.randn(20, 10, generator=torch.Generator().manual_seed(0))
    sigma, _, _ = spectral.power_iteration(W, torch.ones(10), 500)
    assert sigma.item() == pytest.approx(float(torch.linalg.matrix_norm(W, ord=2)), rel=1e-3)
    assert spectral.top_singular_value(DIAG) == pytest.approx(3.0)


def test_power_iteration_matches_torch_spectral_norm():
    layer = nn.Linear(5, 7)
    v0 = torch.randn(5, generator=torch.Generator().manual_seed(3))
    for n in (1, 4):
        ours = spectral.power_iteration(layer.weight, v0, n)[0].item()
        assert hinge_sn.torch_power_iteration(layer, v0, n) == pytest.approx(ours, rel=1e-5)


@pytest.mark.parametrize("weight, v, n, error, match", [
    (torch.ones(3), torch.ones(3), 1, ValueError, "2 non-empty dimensions"),
    ([[1.0]], torch.ones(1), 1, TypeError, "float tensor"),
    (torch.full((2, 2), float("nan")), torch.ones(2), 1, ValueError, "NaN"),
    (DIAG, torch.ones(3), 1, ValueError, "shape \\[2\\]"),
    (DIAG, torch.zeros(2), 1, ValueError, "non-zero"),
    (DIAG, torch.ones(2), 0, ValueError, "n_iters"),
])
def test_power_iteration_rejects_bad_input(weight, v, n, error, match):
    with pytest.raises(error, match=match):
        spectral.power_iteration(weight, v, n)
    with pytest.raises(error, match=match):
        spectral.power_iteration_trace(weight, v, n)


def test_top_singular_value_rejects_bad_input():
    with pytest.raises(ValueError, match="dimensions"):
        spectral.top_singular_value(torch.ones(4))


# --- spectral normalisation and Lipschitz bounds ------------------------------------------------------------------
def test_spectral_normalize_makes_every_layer_sigma_one():
    torch.manual_seed(0)
    D = spectral.spectral_normalize(models.MLPDiscriminator(2, hidden=16, depth=2), n_power_iterations=1)
    layers = spectral.weight_layers(D)
    assert len(layers) == 3 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    D.train()
    for _ in range(100):  # each training-mode forward runs one more power-iteration step
        D(torch.randn(4, 2))
    for layer in layers:
        assert spectral.top_singular_value(layer.weight.detach()) == pytest.approx(1.0, rel=1e-3)
    assert spectral.lipschitz_upper_bound(D) == pytest.approx(1.0, rel=1e-2)
    assert spectral.empirical_lipschitz(D, torch.randn(64, 2)) <= 1.0 + 1e-4


def test_spectral_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        spectral.spectral_normalize("not a model")
    with pytest.raises(ValueError, match="no Linear or Conv"):
        spectral.spectral_normalize(nn.ReLU())
    with pytest.raises(ValueError, match="n_power_iterations"):
        spectral.spectral_normalize(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(TypeError, match="nn.Module"):
        spectral.weight_layers(3)


def test_lipschitz_upper_bound_by_hand():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.diag(torch.tensor([2.0, 1.0])))
        net[2].weight.copy_(torch.diag(torch.tensor([3.0, 0.5])))
    assert spectral.lipschitz_upper_bound(net) == pytest.approx(6.0)  # 2 * 3
    with pytest.raises(ValueError, match="nn.Linear"):
        spectral.lipschitz_upper_bound(nn.Conv2d(1, 1, 3))


def test_empirical_lipschitz_of_a_linear_function():
    f = nn.Linear(2, 1)
    with torch.no_grad():
        f.weight.copy_(torch.tensor([[3.0, 4.0]]))
    assert spectral.empirical_lipschitz(f, torch.randn(10, 2)) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="\\[n, dim\\]"):
        spectral.empirical_lipschitz(f, torch.randn(2))
    with pytest.raises(ValueError, match="one scalar per point"):
        spectral.empirical_lipschitz(nn.Linear(2, 3), torch.randn(4, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        spectral.empirical_lipschitz(lambda x: x.sum(1), torch.randn(4, 2))


def test_ensemble_bounds_of_a_spectrally_normalised_ensemble():
    from gan_lessons.ensemble import EnsembleDiscriminator

    torch.manual_seed(0)
    D = EnsembleDiscriminator(3, 2, 16, 2, spectral_norm=True)
    D.train()
    for _ in range(100):
        D(torch.randn(8, 3, 2))
    torch.testing.assert_close(spectral.ensemble_lipschitz_bounds(D), torch.ones(3, dtype=torch.float64),
                               rtol=1e-3, atol=0)
    assert (hinge_sn.ensemble_gradient_norms(D, torch.randn(50, 3, 2)) <= 1 + 1e-4).all()


# --- orthogonal init and truncation -------------------------------------------------------------------------------
def test_orthogonal_init_gives_equal_singular_values():
    torch.manual_seed(0)
    D = spectral.orthogonal_init_(models.MLPDiscriminator(2, hidden=16, depth=2), gain=2.0)
    for layer in spectral.weight_layers(D):
        s = torch.linalg.svdvals(layer.weight.detach())
        torch.testing.assert_close(s, torch.full_like(s, 2.0))
        assert (layer.bias == 0).all()
    with pytest.raises(ValueError, match="gain"):
        spectral.orthogonal_init_(D, gain=0)
    with pytest.raises(ValueError, match="no Linear or Conv"):
        spectral.orthogonal_init_(nn.Tanh())
    with pytest.raises(ValueError, match="before spectral_normalize"):
        spectral.orthogonal_init_(spectral.spectral_normalize(nn.Linear(2, 2)))


def test_truncated_noise():
    z = latent.truncated_noise((2000, 3), 0.5, torch.Generator().manual_seed(0))
    assert z.shape == (2000, 3) and z.abs().max() <= 0.5
    assert z.std() < 0.35  # the truncated normal on [-0.5, 0.5] has std 0.28; N(0, 1) has 1
    again = latent.truncated_noise((2000, 3), 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(z, again)
    plain = latent.truncated_noise((5, 2), None, torch.Generator().manual_seed(1))
    assert torch.equal(plain, torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("shape, threshold, match", [((3,), 0, "threshold"), ((3,), -1.0, "threshold"),
                                                     ((3,), "1", "threshold"), ((-1, 2), 1.0, "shape"),
                                                     (3, 1.0, "shape")])
def test_truncated_noise_rejects_bad_input(shape, threshold, match):
    with pytest.raises(ValueError, match=match):
        latent.truncated_noise(shape, threshold)


# --- the experiment's pieces ---------------------------------------------------------------------------------
def test_margin_probe_ignored_samples_have_zero_gradient():
    probe = hinge_sn.margin_probe("quick", seed=0)
    for kind in ("real", "fake"):
        active, grad = probe[f"{kind}_active"], probe[f"{kind}_grad"]
        assert (grad[~active] == 0).all()
        assert (grad[active] > 0).all()
    assert (~probe["fake_active"]).any() and probe["fake_active"].any()


def test_train_variant_rejects_unknown_variant():
    with pytest.raises(ValueError, match="hinge-sn"):
        hinge_sn.train_variant("hinge+sn")  # the old name: the book's one vocabulary is ns / hinge / hinge-sn


def test_exercise_checks_pass_the_solutions(capsys):
    def hinge(real, fake):
        return torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()

    def power(W, v, n):
        v = v / v.norm()
        for _ in range(n):
            u = W @ v / (W @ v).norm()
            v = W.T @ u / (W.T @ u).norm()
        return u @ W @ v

    assert exercises.check_hinge_discriminator_loss(hinge)
    assert exercises.check_power_iteration(power)
    assert "passed" in capsys.readouterr().out


def test_mnist_variant_pieces():
    with pytest.raises(ValueError, match="hinge-sn"):
        hinge_sn.train_mnist_variant("sn", torch.zeros(4, 1, 28, 28))
    D = spectral.spectral_normalize(models.without_batchnorm(models.DCGANDiscriminator(width=4)))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in spectral.weight_layers(D))
    assert D(torch.zeros(3, 1, 28, 28)).shape == (3,)


@pytest.mark.slow
def test_run_reports_every_variant():
    out = hinge_sn.run("quick", seed=0, mnist=False)  # the MNIST part trains DCGANs: run by the notebook
    assert out["sigma_rel_error"] < 1e-3 and out["sigma_torch_rel_diff"] < 1e-5
    for variant in hinge_sn.VARIANTS:
        assert 0 <= out[variant]["ring_modes_mean"] <= 8 and 0 <= out[variant]["ring_hq_mean"] <= 1
    assert out["hinge-sn"]["d_lipschitz_bound_mean"] == pytest.approx(1.0, rel=0.05)
    assert set(out["truncation"]) == {"none" if t is None else f"{t:g}" for t in hinge_sn.THRESHOLDS}


def test_orthogonal_penalty_is_the_formula_with_hand_computed_values():
    layer = nn.Linear(2, 3, bias=False)  # W [3, 2]: rows (1, 0), (1, 1), (0, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))
    # W W^T = [[1, 1, 0], [1, 2, 2], [0, 2, 4]]: off the diagonal 1, 0, 2 twice each -> 2 * (1 + 0 + 4) = 10
    assert float(spectral.orthogonal_penalty(layer, beta=1.0)) == pytest.approx(10.0)
    assert float(spectral.orthogonal_penalty(layer)) == pytest.approx(10.0 * 1e-4)  # BigGAN's beta
    conv = nn.Conv2d(1, 2, 2, bias=False)  # two 2x2 filters, flattened to the rows (1, 0, 0, 0), (1, 1, 0, 0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]).view(2, 1, 2, 2))
    both = nn.Sequential(layer, conv)
    assert float(spectral.orthogonal_penalty(both, beta=1.0)) == pytest.approx(10.0 + 2.0)
    square = spectral.orthogonal_init_(nn.Linear(4, 4), gain=3.0)  # orthogonal rows of any norm: no penalty
    assert float(spectral.orthogonal_penalty(square, beta=1.0)) == pytest.approx(0.0, abs=1e-9)
    spectral.orthogonal_penalty(layer, beta=1.0).backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    for bad, message in ((-1.0, "beta"), (float("nan"), "beta")):
        with pytest.raises(ValueError, match=message):
            spectral.orthogonal_penalty(layer, beta=bad)
    with pytest.raises(ValueError, match="no Linear or Conv"):
        spectral.orthogonal_penalty(nn.Tanh())


def test_orthogonal_regularised_objective_adds_the_penalty_to_g_only():
    torch.manual_seed(0)
    G, D = models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1)
    objective = objectives.OrthogonalRegularisedObjective(model=G, beta=0.5)
    plain = objectives.JSObjective()
    fake, real = G(torch.randn(16, 2)), torch.randn(16, 2)
    torch.testing.assert_close(objective.generator_loss(D, fake, real),
                               plain.generator_loss(D, fake, real) + spectral.orthogonal_penalty(G, 0.5))
    rng = torch.Generator().manual_seed(0)
    torch.testing.assert_close(objective.discriminator_loss(D, real, fake.detach(), rng)[0],
                               plain.discriminator_loss(D, real, fake.detach(), rng)[0])
    assert "beta=0.5" in repr(objective) and "MLPGenerator" not in repr(objective)  # the run cache's key
    with pytest.raises(TypeError, match="generator the trainer trains"):
        objectives.OrthogonalRegularisedObjective()
    with pytest.raises(ValueError, match="beta"):
        objectives.OrthogonalRegularisedObjective(model=G, beta=-1.0)
