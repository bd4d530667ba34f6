"""Chapter "Conditional image generation": PSNR, the PatchGAN's receptive field, the paired and matching-aware
objectives, the captions, the trainer's conditioning inputs, bad input, and the CLI's JSON keys."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from gan_lessons import checks, data, image_to_image as i2i, text_to_image as t2i, train
from gan_lessons.experiments import image_to_image as chapter


# -- PSNR -------------------------------------------------------------------------------------------------------
def test_psnr_hand_computed():
    target = torch.zeros(2, 1, 3, 3)
    off = torch.cat([torch.full((1, 1, 3, 3), 0.2), torch.full((1, 1, 3, 3), 0.02)])  # MSE 0.04 and 0.0004
    assert i2i.psnr(off[:1], target[:1]) == pytest.approx(10 * math.log10(4 / 0.04))  # 20 dB
    assert i2i.psnr(off, target) == pytest.approx((20 + 40) / 2)  # the mean of the images' PSNRs
    assert i2i.psnr(target + 2, target) == pytest.approx(0.0)  # an error as large as the range
    assert i2i.psnr(target, target) == 100.0  # identical: capped, not inf
    assert i2i.psnr(off[:1], target[:1], data_range=1.0) == pytest.approx(10 * math.log10(1 / 0.04))


@pytest.mark.parametrize("images, targets, match", [
    (torch.zeros(2, 1, 4, 4), torch.zeros(3, 1, 4, 4), "one shape"),
    (torch.zeros(2, 4, 4), torch.zeros(2, 4, 4), r"\[n, 1, h, w\]"),
    (torch.full((1, 1, 4, 4), math.nan), torch.zeros(1, 1, 4, 4), "NaN"),
    (torch.zeros(1, 1, 4, 4, dtype=torch.long), torch.zeros(1, 1, 4, 4), "float"),
])
def test_psnr_rejects_bad_input(images, targets, match):
    with pytest.raises(ValueError, match=match):
        i2i.psnr(images, targets)


def test_psnr_rejects_a_bad_range():
    with pytest.raises(ValueError, match="data_range"):
        i2i.psnr(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), data_range=0)


# -- the PatchGAN's receptive field ----------------------------------------------------------------------------
@pytest.mark.parametrize("layers, expected", [
    ([(3, 1)], 3), ([(3, 1), (3, 1)], 5), ([(4, 2), (4, 2)], 10), ([(4, 2), (4, 2), (3, 1)], 18),
    ([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)], 70),  # pix2pix's 70 x 70 PatchGAN
])
def test_receptive_field_formula(layers, expected):
    assert i2i.receptive_field(layers) == expected


def test_patch_discriminator_sees_exactly_its_receptive_field():
    """The gradient of one interior patch logit reaches an input square of the computed side, no more."""
    torch.manual_seed(0)
    D = i2i.PatchDiscriminator(4).eval()
    y = torch.randn(1, 1, 28, 28, requires_grad=True)
    logits = D(y, torch.zeros(1, 1, 7, 7))  # [1, 49]: a 7 x 7 map
    assert logits.shape == (1, 49)
    logits[0, 3 * 7 + 3].backward()  # the centre patch
    seen = y.grad[0, 0].abs() > 0
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    assert int(rows.max() - rows.min() + 1) == int(cols.max() - cols.min() + 1) == D.receptive_field == 18


@pytest.mark.parametrize("layers", [[], [(3,)], [(0, 1)], [(3, -1)], "33", None])
def test_receptive_field_rejects_bad_layers(layers):
    with pytest.raises(ValueError, match="layer|kernel|stride"):
        i2i.receptive_field(layers)


# -- inputs of the two tasks -----------------------------------------------------------------------------------
def test_downsample_is_the_block_mean():
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    low = i2i.downsample(x, 4)
    assert low.shape == (1, 1, 7, 7)
    assert low[0, 0, 0, 0] == pytest.approx(float(x[0, 0, :4, :4].mean()))
    with pytest.raises(ValueError, match="divide 28"):
        i2i.downsample(x, 3)


def test_upsample_and_mask():
    low = torch.zeros(2, 1, 7, 7)
    assert i2i.upsample(low).shape == (2, 1, 28, 28)
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert i2i.upsample(x) is x  # already full size
    masked = i2i.mask_lower_half(x)
    assert torch.equal(masked[:, :, :14], x[:, :, :14]) and (masked[:, :, 14:] == -1).all()
    assert not (x[:, :, 14:] == -1).all()  # the input itself is left alone
    with pytest.raises(ValueError, match="unknown task"):
        chapter.task_input("colourise", x)


def test_unet_ignores_z_and_needs_an_input():
    torch.manual_seed(0)
    G = i2i.UNetGenerator(4).eval()
    low = torch.rand(3, 1, 7, 7) * 2 - 1
    out = G(torch.randn(3, 1), low)
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1
    torch.testing.assert_close(out, G(torch.randn(3, 1), low))
    with pytest.raises(ValueError, match=r"G\(z, x\)"):
        G(torch.randn(3, 1))


# -- the objectives --------------------------------------------------------------------------------------------
def test_paired_objective_is_l1_plus_weighted_gan_loss():
    fake, real = torch.zeros(2, 1, 28, 28), torch.full((2, 1, 28, 28), 0.5)
    D = lambda x: torch.full((x.shape[0], 49), 0.3)  # noqa: E731 - fixed patch logits
    assert i2i.PairedObjective(adversarial_weight=0.0).generator_loss(D, fake, real) == pytest.approx(0.5)
    expected = 0.5 + 0.1 * -math.log(1 / (1 + math.exp(-0.3)))  # L1 + w * (-log sigmoid(0.3))
    assert i2i.PairedObjective(adversarial_weight=0.1).generator_loss(D, fake, real) == pytest.approx(expected)
    with pytest.raises(ValueError, match="adversarial_weight"):
        i2i.PairedObjective(adversarial_weight=-1.0)


def test_matching_aware_discriminator_labels_mismatched_real_images_fake():
    """L_D = BCE(D(x, t), 1) + 1/2 BCE(D(G(z), t), 0) + 1/2 BCE(D(x', t), 0), x' the batch rolled by one."""
    real = torch.tensor([1.0, -2.0, 0.5]).view(3, 1, 1, 1).expand(3, 1, 28, 28)
    fake = torch.full((3, 1, 28, 28), -1.0)
    caption_score = torch.tensor([0.0, 1.0, 2.0])  # D(x, t_i) = mean pixel of x + i: "does x fit caption i"
    D = lambda x: x.flatten(1).mean(1) + caption_score  # noqa: E731
    loss, real_out, fake_out = t2i.MatchingAwareObjective().discriminator_loss(D, real, fake, None)
    softplus = F.softplus
    r, f, w = torch.tensor([1.0, -1.0, 2.5]), torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([0.5, 2.0, 0.0])
    expected = softplus(-r).mean() + 0.5 * softplus(f).mean() + 0.5 * softplus(w).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(real_out, r)
    torch.testing.assert_close(fake_out, f)


def test_mismatched_rolls_the_batch():
    x = torch.arange(4.0).view(4, 1)
    assert t2i.mismatched(x).flatten().tolist() == [3.0, 0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="at least 2"):
        t2i.mismatched(x[:1])


# -- captions ----------------------------------------------------------------------------------------------------
def test_caption_and_tokens_agree():
    assert t2i.caption(7, 1, 1) == "a bold right-leaning seven"
    assert t2i.caption(1, 0, 0) == "a thin left-leaning one"
    labels = torch.arange(10).repeat_interleave(4)
    levels = torch.tensor([[a, b] for a in (0, 1) for b in (0, 1)]).repeat(10, 1)
    sentences = [t2i.caption(int(y), *map(int, lv)) for y, lv in zip(labels, levels)]
    assert len(set(sentences)) == 40
    assert torch.equal(t2i.tokenize(sentences), t2i.caption_tokens(labels, levels))


@pytest.mark.parametrize("sentences, match", [
    (["a bold slanted seven"], "not a caption"), (["a bold seven"], "not a caption"), ("a bold", "list"),
    ([], "non-empty"), ([7], "not a caption")])
def test_tokenize_rejects_unknown_captions(sentences, match):
    with pytest.raises(ValueError, match=match):
        t2i.tokenize(sentences)


def _strokes(widths: list[int], label: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Upright bars of the given widths, all of class ``label``."""
    x = torch.full((len(widths), 1, 28, 28), -1.0)
    for i, w in enumerate(widths):
        x[i, 0, 4:24, 14:14 + w] = 1.0
    return x, torch.full((len(widths),), label)


def test_caption_levels_follow_the_measured_attributes():
    xs, ys = zip(*[_strokes([1, 2, 4, 6], k) for k in range(10)])
    x, y = torch.cat(xs), torch.cat(ys)
    medians = t2i.attribute_medians(x, y)
    assert medians.shape == (10, 2)
    levels = t2i.attribute_levels(x, y, medians)
    assert levels[:4, 0].tolist() == [0, 0, 1, 1]  # thin, thin, bold, bold
    assert t2i.attribute_agreement(x, y, levels, medians) == 1.0
    assert t2i.attribute_agreement(x, y, 1 - levels, medians) == 0.0
    sheared = x.clone()  # a right-leaning bar: the top shifted right
    for r in range(28):
        sheared[:, 0, r] = x[:, 0, r].roll(-(r - 14) // 4, dims=-1)
    assert (t2i.attribute_levels(sheared, y, medians)[:, 1] == 1).all()


def test_caption_helpers_reject_bad_input():
    x, y = _strokes([1, 2], 3)
    with pytest.raises(ValueError, match="missing"):
        t2i.attribute_medians(x, y)  # classes other than 3 have no images
    with pytest.raises(ValueError, match="medians"):
        t2i.attribute_levels(x, y, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="labels"):
        t2i.attribute_levels(x, y.float(), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="label must be an integer <= 9"):
        t2i.caption(10, 0, 0)
    with pytest.raises(ValueError, match="levels"):
        t2i.caption_tokens(torch.tensor([1]), torch.tensor([[2, 0]]))


def test_text_networks_shapes_and_errors():
    torch.manual_seed(0)
    G, D = t2i.TextGenerator(8, 4, 8), t2i.TextDiscriminator(4, 8)
    tokens = t2i.tokenize(["a bold right-leaning seven", "a thin left-leaning two"])
    x = G(torch.randn(2, 8), tokens)
    assert x.shape == (2, 1, 28, 28) and D(x, tokens).shape == (2,)
    with pytest.raises(ValueError, match="caption"):
        G(torch.randn(2, 8))
    with pytest.raises(ValueError, match="one caption per code"):
        G(torch.randn(3, 8), tokens)
    with pytest.raises(ValueError, match="token ids must lie"):
        D(x, tokens + 100)


# -- the trainer takes conditioning inputs ---------------------------------------------------------------------
def test_trainer_trains_paired_and_text_runs_and_still_refuses_float_labels():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    cfg = train.TrainConfig(steps=2, batch_size=4, seed=0)
    sampler = data.TensorSampler(x, i2i.downsample(x))
    run = train.train_gan(i2i.UNetGenerator(4), i2i.PatchDiscriminator(4), sampler, cfg, latent_dim=1,
                          objective=i2i.PairedObjective(), progress=False)
    assert chapter.translate(run, i2i.downsample(x[:3])).shape == (3, 1, 28, 28)
    tokens = t2i.caption_tokens(torch.arange(16) % 10, torch.zeros(16, 2, dtype=torch.long))
    run = train.train_gan(t2i.TextGenerator(4, 4, 4), t2i.TextDiscriminator(4, 4), data.TensorSampler(x, tokens),
                          cfg, latent_dim=4, objective=t2i.MatchingAwareObjective(), progress=False)
    assert run.sample(2, labels=tokens[:2]).shape == (2, 1, 28, 28)
    real = x[:4]
    checks.check_first_batch("sampler", real, i2i.downsample(real), real, torch.float32)  # an input per sample
    with pytest.raises(TypeError, match="integer class per sample"):  # one float per sample: neither
        checks.check_first_batch("sampler", real, torch.rand(4), real, torch.float32)
    with pytest.raises(ValueError, match="NaN"):
        checks.check_first_batch("sampler", real, torch.full((4, 1, 7, 7), math.nan), real, torch.float32)


def test_chapter_helpers_reject_bad_arguments():
    with pytest.raises(TypeError, match="GANTrainer"):
        chapter.translate("not a run", torch.zeros(1, 1, 7, 7))
    with pytest.raises(ValueError, match="no run with adversarial weight"):
        chapter.draw_sr(None, 0.7, {0.0: None}, {"test_x": torch.zeros(8, 1, 28, 28)})


# -- the command line -------------------------------------------------------------------------------------------
def test_cli_prints_every_promised_key(tmp_path):
    env = {**os.environ, "GAN_LESSONS_PROGRESS": "0", "GAN_LESSONS_CACHE": str(tmp_path),
           "GAN_LESSONS_STEP_SCALE": "0.02", "GAN_LESSONS_PROFILE": "quick"}  # 10-12 steps a run: the keys only
    proc = subprocess.run([sys.executable, "-m", "gan_lessons", "run", "image-to-image"], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = [f"sr_psnr_{m}" for m in ("bicubic", "l1", "gan")] + [f"sr_accuracy_{m}" for m in ("bicubic", "l1", "gan")]
    keys += [f"sr_sharpness_{m}" for m in ("l1", "gan", "real")]
    keys += ["pix2pix_l1_only_sharpness", "pix2pix_gan_sharpness", "text_class_accuracy", "text_attribute_agreement"]
    missing = [k for k in keys if k not in out]
    assert not missing, missing
    assert all(isinstance(out[k], float) and math.isfinite(out[k]) for k in keys)
    assert 0 <= out["text_class_accuracy"] <= 1 and 0 <= out["text_attribute_agreement"] <= 1
