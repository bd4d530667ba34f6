"""The loss functions against hand-computed values (fixed logits), and their bad-input errors."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import losses

LOGITS = torch.tensor([0.0, 2.0, -1.0])  # sigmoid: 0.5, 0.880797, 0.268941


def sp(x: float) -> float:  # softplus, by hand
    return math.log1p(math.exp(x))


def test_minimax_discriminator_loss_by_hand():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 1.0])
    # -E[log sigmoid(real)] - E[log(1 - sigmoid(fake))] = E[softplus(-real)] + E[softplus(fake)]
    expected = (sp(0.0) + sp(-2.0)) / 2 + (sp(-1.0) + sp(1.0)) / 2
    assert losses.minimax_discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_by_hand():
    real, fake = torch.tensor([1.5]), torch.tensor([-0.5])
    a, p = 0.9, 1 / (1 + math.exp(-1.5))
    expected = -(a * math.log(p) + (1 - a) * math.log(1 - p)) + sp(-0.5)
    assert losses.minimax_discriminator_loss(real, fake, real_label=0.9).item() == pytest.approx(expected, rel=1e-6)


def test_saturating_generator_loss_by_hand():
    # E[log(1 - sigmoid(l))] = -E[softplus(l)]
    expected = -(sp(0.0) + sp(2.0) + sp(-1.0)) / 3
    assert losses.minimax_generator_loss(LOGITS).item() == pytest.approx(expected, rel=1e-6)


def test_non_saturating_generator_loss_by_hand():
    expected = (sp(-0.0) + sp(-2.0) + sp(1.0)) / 3  # -E[log sigmoid(l)]
    assert losses.modified_generator_loss(LOGITS).item() == pytest.approx(expected, rel=1e-6)


def test_wasserstein_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5])
    assert losses.wasserstein_critic_loss(real, fake).item() == pytest.approx(-0.75 - 2.0)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(0.75)


def test_hinge_losses_by_hand():
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-3.0, 0.0])
    # E[relu(1 - D(x))] = (0.5 + 0)/2 ; E[relu(1 + D(G(z)))] = (0 + 1)/2
    assert losses.hinge_discriminator_loss(real, fake).item() == pytest.approx(0.25 + 0.5)
    assert losses.hinge_generator_loss(fake).item() == pytest.approx(1.5)


def test_logit_gradients_match_the_chapter_formula():
    """d/da log(1 - sigmoid(a)) = -sigmoid(a), d/da -log sigmoid(a) = -(1 - sigmoid(a))  (eq. logit-gradients)."""
    a = torch.tensor([-6.0, -1.0, 0.0, 3.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(losses.minimax_generator_loss(a) * a.numel(), a)
    (g_ns,) = torch.autograd.grad(losses.modified_generator_loss(a) * a.numel(), a)
    torch.testing.assert_close(g_sat, -torch.sigmoid(a.detach()))
    torch.testing.assert_close(g_ns, -(1 - torch.sigmoid(a.detach())))


def test_losses_are_finite_for_extreme_logits():
    extreme = torch.tensor([-200.0, 200.0])
    for value in (losses.minimax_discriminator_loss(extreme, extreme), losses.minimax_generator_loss(extreme),
                  losses.modified_generator_loss(extreme)):
        assert torch.isfinite(value)


ONE_ARG = [losses.minimax_generator_loss, losses.modified_generator_loss, losses.wasserstein_generator_loss,
           losses.hinge_generator_loss]
TWO_ARG = [losses.minimax_discriminator_loss, losses.wasserstein_critic_loss, losses.hinge_discriminator_loss]


@pytest.mark.parametrize("fn", ONE_ARG, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad, error, match", [
    ([0.1, 0.2], TypeError, "torch.Tensor"),
    (torch.tensor([1, 2]), TypeError, "floating-point"),
    (torch.zeros(0), ValueError, "empty"),
])
def test_generator_losses_reject_bad_input(fn, bad, error, match):
    with pytest.raises(error, match=match):
        fn(bad)


@pytest.mark.parametrize("fn", TWO_ARG, ids=lambda f: f.__name__)
def test_discriminator_losses_reject_bad_input(fn):
    with pytest.raises(TypeError, match="real_logits"):
        fn(None, torch.zeros(2))
    with pytest.raises(ValueError, match="fake_logits"):
        fn(torch.zeros(2), torch.zeros(0))


@pytest.mark.parametrize("fn", ONE_ARG, ids=lambda f: f.__name__)
def test_shape_batch_or_batch_by_one_gives_the_same(fn):
    x = torch.tensor([0.3, -1.2, 2.0])
    torch.testing.assert_close(fn(x), fn(x.unsqueeze(1)))


def test_label_smoothing_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="real_label"):
        losses.minimax_discriminator_loss(torch.zeros(2), torch.zeros(2), real_label=1.5)


def test_r1_penalty_by_hand_and_its_graph():
    """D(x) = w . x + x_0^2: grad_x D = w + (2 x_0, 0, ...), so R1 = mean over the batch of ||w + (2 x_0, 0)||^2."""
    w = torch.tensor([0.5, -2.0, 1.0], requires_grad=True)
    real = torch.tensor([[1.0, 0.0, 3.0], [-0.25, 2.0, 1.0]], requires_grad=True)
    penalty = losses.r1_penalty(real @ w + real[:, 0] ** 2, real)
    by_hand = ((0.5 + 2) ** 2 + 4 + 1 + (0.5 - 0.5) ** 2 + 4 + 1) / 2
    assert penalty.item() == pytest.approx(by_hand)
    penalty.backward()  # the graph is kept: the penalty trains D's weights
    assert w.grad is not None and w.grad.tolist() == pytest.approx([2.5 + 0.0, -4.0, 2.0])


def test_r1_penalty_rejects_a_batch_without_a_graph():
    real = torch.randn(4, 2)
    with pytest.raises(ValueError, match="requires_grad_"):
        losses.r1_penalty(real.sum(1), real)  # real does not require grad
    with pytest.raises(ValueError, match="no graph"):
        losses.r1_penalty(torch.zeros(4), real.requires_grad_(True))  # logits not computed from real
    other = torch.randn(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match="not back to this real batch"):
        losses.r1_penalty(other.sum(1), real)  # logits computed from another tensor
    with pytest.raises(TypeError, match="float tensor"):
        losses.r1_penalty(torch.zeros(4), torch.zeros(4, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="raw discriminator outputs"):
        losses.r1_penalty([0.0], real)
