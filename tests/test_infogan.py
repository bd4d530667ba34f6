"""InfoGAN: the codes' layout and memory contract, the mutual-information bound's formula and limits, the
objective through the one trainer, the Hungarian-matched accuracy, the correlations."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import infogan, losses
from gan_lessons.train import GANTrainer, TrainConfig


def test_codes_are_laid_out_noise_onehot_continuous_and_split_back():
    codes = infogan.LatentCodes(noise_dim=3, categories=4, continuous=2)
    z = codes(6, torch.Generator().manual_seed(0))
    assert z.shape == (6, 9) and codes.last is z
    noise, category, cont = codes.split(z)
    torch.testing.assert_close(z[:, 3:7], torch.nn.functional.one_hot(category, 4).float())
    assert cont.abs().max() <= 1 and noise.shape == (6, 3)
    torch.testing.assert_close(codes.assemble(noise, category, cont), z)


def test_noise_std_scales_only_the_noise_and_split_undoes_it():
    plain = infogan.LatentCodes(noise_dim=3, categories=4, continuous=2)
    small = infogan.LatentCodes(noise_dim=3, categories=4, continuous=2, noise_std=0.1)
    z_plain, z_small = plain(500, torch.Generator().manual_seed(0)), small(500, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z_small[:, :3], 0.1 * z_plain[:, :3])  # the same draw, a tenth of the spread
    torch.testing.assert_close(z_small[:, 3:], z_plain[:, 3:])  # one-hot and continuous codes untouched
    assert 0.08 < float(z_small[:, :3].std()) < 0.12
    noise, category, cont = small.split(z_small)
    torch.testing.assert_close(noise, z_plain[:, :3])  # back in standard units
    torch.testing.assert_close(cont, z_plain[:, 7:])
    torch.testing.assert_close(small.assemble(noise, category, cont), z_small)
    assert small.remembered(500)[1] is not None
    torch.testing.assert_close(small.remembered(500)[1], z_plain[:, 7:])
    grid_noise, _, _ = small.split(small.category_grid(per_category=2, seed=1))
    torch.testing.assert_close(grid_noise, plain.split(plain.category_grid(per_category=2, seed=1))[0])


def test_category_grid_and_traversal_fix_what_they_say():
    codes = infogan.LatentCodes(noise_dim=2, categories=3, continuous=2)
    grid = codes.category_grid(per_category=4, seed=1)
    noise, category, cont = codes.split(grid)
    assert category.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and cont.abs().max() == 0
    torch.testing.assert_close(noise[:4], noise[4:8])  # one noise per column, the same in every row
    sweep = codes.traversal(1, [-1.0, 0.0, 1.0], rows=[2, 0], seed=3)
    noise, category, cont = codes.split(sweep)
    assert category.tolist() == [2, 2, 2, 0, 0, 0]
    assert cont[:, 1].tolist() == [-1.0, 0.0, 1.0] * 2 and cont[:, 0].abs().max() == 0
    torch.testing.assert_close(noise[0], noise[2])


def test_bound_is_log_k_plus_the_gaussian_term_when_q_reads_perfectly():
    k, n = 10, 5
    category = torch.arange(n)
    perfect = torch.full((n, k), -1e4).scatter(1, category[:, None], 1e4)
    cont = torch.zeros(n, 2)
    got = float(infogan.mutual_information_bound(perfect, category, cont, cont, std=1.0))
    expected = math.log(k) + 2 * math.log(2.0) - 2 * 0.5 * math.log(2 * math.pi)  # log Q of a perfect guess
    assert got == pytest.approx(expected, abs=1e-4)
    uniform = float(infogan.mutual_information_bound(torch.zeros(n, k), category, torch.zeros(n, 0),
                                                     torch.zeros(n, 0)))
    assert uniform == pytest.approx(0.0, abs=1e-6)  # Q that knows nothing: the bound is 0


def test_the_objective_adds_the_bound_to_both_players_through_the_one_trainer():
    torch.manual_seed(0)
    codes = infogan.LatentCodes(noise_dim=2, categories=3, continuous=1)
    from gan_lessons import models
    G, D = models.DCGANGenerator(codes.dim, 4), infogan.InfoGANDiscriminator(4, 3, 1, hidden=8)
    objective = infogan.InfoGANObjective(codes, info_weight=2.0)
    fake = G(codes(8))
    logits, cat_logits, means = D.heads(fake)
    category, cont = codes.remembered(8)
    bound = infogan.mutual_information_bound(cat_logits, category, means, cont)
    torch.testing.assert_close(objective.generator_loss(D, fake, None),
                               losses.modified_generator_loss(logits) - 2.0 * bound)
    sampler = lambda n, rng: torch.rand(n, 1, 28, 28, generator=rng) * 2 - 1  # noqa: E731
    trainer = GANTrainer(G, D, sampler, TrainConfig(steps=2, batch_size=8), noise_sampler=codes,
                         objective=objective)
    q_before = [p.detach().clone() for p in D.q.parameters()]
    trainer.fit(progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(q_before, D.q.parameters())), "Q never trained"
    with pytest.raises(ValueError, match="same LatentCodes"):
        codes.last = None
        objective.generator_loss(D, fake, None)


def test_late_codes_enter_at_the_7x7_features_and_only_there():
    torch.manual_seed(0)
    codes = infogan.LatentCodes(noise_dim=3, categories=4, continuous=2)
    G = infogan.InfoGANGenerator(codes.dim, 4, late=2).eval()
    assert G.project[0].in_features == codes.dim - 2 and G.up[0].in_channels == 4 * 4 + 2
    z = codes(6)
    moved = z.clone()
    moved[:, -2:] += 0.5  # only the continuous codes change
    h, h_moved = G.project(z[:, :-2]), G.project(moved[:, :-2])
    torch.testing.assert_close(h, h_moved)  # the 7x7 features do not see them ...
    assert not torch.allclose(G(z), G(moved))  # ... but the image does
    by_hand = G.up(torch.cat([h, z[:, -2:, None, None].expand(-1, -1, 7, 7)], dim=1))
    torch.testing.assert_close(G(z), by_hand)
    plain = infogan.InfoGANGenerator(codes.dim, 4)  # late=0: the DCGAN generator, every code at the input
    assert plain.project[0].in_features == codes.dim and plain(z).shape == (6, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[batch, 9\]"):
        G(torch.zeros(6, 7))
    with pytest.raises(ValueError, match="late"):
        infogan.InfoGANGenerator(codes.dim, 4, late=codes.dim)


def test_random_shift_moves_each_image_by_a_whole_number_of_pixels_and_keeps_gradients():
    x = torch.full((50, 2, 9, 9), -1.0)
    x[:, :, 4, 4] = torch.tensor([1.0, 0.5])  # one bright pixel in the centre of both channels
    x.requires_grad_(True)
    torch.manual_seed(0)
    y = infogan.random_shift(x, 2)
    assert y.shape == x.shape and y.is_contiguous()
    for image in y.detach():
        rows, cols = torch.nonzero(image[0] > 0, as_tuple=True)
        assert len(rows) == 1 and abs(int(rows) - 4) <= 2 and abs(int(cols) - 4) <= 2
        assert image[1, rows, cols] == 0.5 and (image < 0).sum() == 2 * 81 - 2  # moved together, filled with -1
    offsets = {tuple((torch.nonzero(image[0] > 0)[0] - 4).tolist()) for image in y.detach()}
    assert len(offsets) > 5  # each image its own shift
    y.sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}  # each output pixel is one input pixel, copied
    assert (x.grad[:, :, 4, 4] == 1).all()  # the centre is never moved out of the image
    assert infogan.random_shift(x, 0) is x
    torch.manual_seed(0)
    torch.testing.assert_close(infogan.random_shift(x, 2), y)  # the global generator decides: seeded, repeatable
    with pytest.raises(ValueError, match="images must be"):
        infogan.random_shift(torch.zeros(3, 28, 28), 2)
    with pytest.raises(ValueError, match="shift"):
        infogan.random_shift(x, -1)
    with pytest.raises(ValueError, match="NaN"):
        infogan.random_shift(torch.full((2, 1, 4, 4), float("nan")), 1)
    with pytest.raises(ValueError, match="fill"):
        infogan.random_shift(x, 1, fill=float("inf"))
    with pytest.raises(ValueError, match="floating-point"):
        infogan.random_shift(torch.zeros(2, 1, 4, 4, dtype=torch.int64), 1)


def test_the_discriminator_shifts_only_while_training():
    torch.manual_seed(0)
    D = infogan.InfoGANDiscriminator(4, 3, 1, hidden=8, shift=2)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    D.eval()
    torch.testing.assert_close(D(x), D.base(x))
    D.train()
    torch.manual_seed(1)
    shifted = D.base(infogan.random_shift(x, 2))
    torch.manual_seed(1)
    torch.testing.assert_close(D(x), shifted)


class _Painter(torch.nn.Module):
    """A generator that paints c_1's one-hot and a weight times the noise into the first pixels."""

    def __init__(self, codes, noise_weight):
        super().__init__()
        self.codes, self.noise_weight, self.w = codes, noise_weight, torch.nn.Parameter(torch.zeros(1))

    def forward(self, z):
        noise, category, _ = self.codes.split(z)
        x = torch.zeros(len(z), 1, 4, 4)
        x.view(len(z), -1)[:, :3] = torch.nn.functional.one_hot(category, 3).float()
        x.view(len(z), -1)[:, 3:5] = self.noise_weight * noise
        return x + self.w


@pytest.mark.parametrize("noise_weight, share", [(0.0, 0.0), (1e6, 1.0)])
def test_noise_share_is_zero_when_g_ignores_the_noise_and_one_when_only_the_noise_counts(noise_weight, share):
    codes = infogan.LatentCodes(noise_dim=2, categories=3, continuous=1)
    sampler = lambda n, rng: torch.zeros(n, 1, 4, 4)  # noqa: E731
    trainer = GANTrainer(_Painter(codes, noise_weight), torch.nn.Linear(16, 1), sampler,
                         TrainConfig(steps=0, batch_size=2), noise_sampler=codes)
    assert infogan.noise_share(trainer, per_category=5) == pytest.approx(share, abs=1e-6)
    with pytest.raises(ValueError, match="per_category"):
        infogan.noise_share(trainer, per_category=1)


def test_within_share_is_the_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 1, 2, 2, generator=g)  # 3 groups of 4 images
    flat = x.flatten(2).double()
    within = sum((flat[k] - flat[k].mean(0)).pow(2).sum() for k in range(3))
    total = (flat.reshape(12, -1) - flat.reshape(12, -1).mean(0)).pow(2).sum()
    assert infogan.within_share(x) == pytest.approx(float(within / total))
    with pytest.raises(ValueError, match="all the images are the same"):
        infogan.within_share(torch.ones(2, 2, 3))
    with pytest.raises(ValueError, match=r"\[K, n, \.\.\.\]"):
        infogan.within_share(torch.ones(1, 2, 3))


def test_matched_accuracy_finds_the_best_one_to_one_map():
    acc, mapping = infogan.matched_accuracy(torch.tensor([[0, 5], [5, 0]]))
    assert acc == 1.0 and mapping.tolist() == [1, 0]
    acc, _ = infogan.matched_accuracy(torch.tensor([[3, 1], [2, 0]]))
    assert acc == pytest.approx(3 / 6)  # both prefer label 0; greedy would say 5 / 6
    c = infogan.confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 0, 3]), 3, 4)
    assert c.tolist() == [[0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]


def test_correlation_pearson_and_spearman():
    x = torch.arange(10.0)
    assert infogan.correlation(x, x ** 3) < 1 and infogan.correlation(x, x ** 3, "spearman") == pytest.approx(1)
    assert infogan.correlation(x, -x) == pytest.approx(-1)
    with pytest.raises(ValueError, match="constant"):
        infogan.correlation(x, torch.ones(10))


@pytest.mark.parametrize("call", [lambda: infogan.LatentCodes(categories=1),
                                  lambda: infogan.LatentCodes(categories=0, continuous=0),
                                  lambda: infogan.LatentCodes(noise_std=0.0),
                                  lambda: infogan.LatentCodes(noise_std=float("nan")),
                                  lambda: infogan.InfoGANObjective(codes="codes"),
                                  lambda: infogan.matched_accuracy(torch.zeros(2, 2)),
                                  lambda: infogan.confusion_matrix(torch.tensor([3]), torch.tensor([0]), 2),
                                  lambda: infogan.code_accuracy("a trainer"),
                                  lambda: infogan.LatentCodes().traversal(5, [0.0])])
def test_bad_input_is_refused_clearly(call):
    with pytest.raises((ValueError, TypeError)):
        call()
