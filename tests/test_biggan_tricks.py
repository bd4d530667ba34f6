"""Chapter "Scaling up": class-conditional batch norm, the projection discriminator, the experiment's helpers,
its checked claims, the exercise check, and the JSON of ``python -m gan_lessons run biggan-tricks``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from gan_lessons import exercises, models, objectives, spectral
from gan_lessons.exercises import scaling
from gan_lessons.experiments import biggan_tricks as chapter


def test_conditional_batchnorm_is_batchnorm_at_init_and_follows_its_formula():
    torch.manual_seed(0)
    cbn = models.ConditionalBatchNorm2d(3, embed_dim=4)
    x, e = torch.randn(6, 3, 5, 5), torch.randn(6, 4)
    plain = nn.functional.batch_norm(x, None, None, training=True)
    torch.testing.assert_close(cbn(x, e), plain)  # W_gain = W_bias = 0 at initialisation
    nn.init.normal_(cbn.gain.weight)
    nn.init.normal_(cbn.bias.weight)
    gain, bias = 1 + e @ cbn.gain.weight.T, e @ cbn.bias.weight.T  # [6, 3] per sample and channel
    torch.testing.assert_close(cbn(x, e), gain[:, :, None, None] * plain + bias[:, :, None, None])
    with pytest.raises(ValueError, match="one row per sample"):
        cbn(x, torch.randn(5, 4))


def test_ccbn_generator_uses_the_label_only_through_batch_norm():
    torch.manual_seed(0)
    G = models.CCBNGenerator(8, width=4, n_classes=10, embed_dim=6)
    z = torch.randn(4, 8)
    out = G(z, torch.tensor([0, 1, 2, 3]))
    assert out.shape == (4, 1, 28, 28) and out.abs().max() <= 1
    for layer in (G.bn1, G.bn2):  # make the gains depend on the class
        nn.init.normal_(layer.gain.weight)
    assert not torch.allclose(G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="conditional"):
        G(z)
    with pytest.raises(ValueError, match="n_classes"):
        models.CCBNGenerator(8, 4, n_classes=1)


def test_projection_discriminator_by_hand():
    torch.manual_seed(0)
    D = models.ProjectionDiscriminator(width=4, n_classes=3).eval()
    x, y = torch.randn(5, 1, 28, 28), torch.tensor([0, 1, 2, 1, 0])
    phi = D.features(x)
    expected = D.base.head(phi).squeeze(1) + (D.embed.weight[y] * phi).sum(1)  # w^T phi + b + V_y^T phi
    torch.testing.assert_close(D(x, y), expected)
    with pytest.raises(ValueError, match="labels"):
        D(x, torch.tensor([0, 1, 5, 1, 0]))


def test_models_and_config_reject_bad_input():
    with pytest.raises(ValueError, match="conditional GAN"):
        chapter.make_conditional("film", 4)
    with pytest.raises(ValueError, match="initialisation"):
        chapter.make_unconditional("xavier", 4)
    with pytest.raises(ValueError, match="multiple of 4"):
        chapter.budget("quick", steps=10)
    with pytest.raises(ValueError, match="divide"):
        chapter.config(chapter.budget("quick", steps=8), batch_size=1024)


def test_orthogonal_variant_has_orthogonal_weights():
    _, D = chapter.make_unconditional("orthogonal", 4)
    w = D.head.weight  # [1, k]: one orthogonal row has norm 1
    assert spectral.top_singular_value(w) == pytest.approx(1.0, rel=1e-5)


def test_the_regularised_variant_trains_with_the_orthogonal_penalty(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    g = torch.Generator().manual_seed(0)
    digits = {"train_x": torch.rand(64, 1, 28, 28, generator=g) * 2 - 1}
    runs = {init: chapter.train_unconditional(digits, "quick", init=init, progress=False, steps=8)
            for init in ("orthogonal", "orthogonal-reg")}
    assert isinstance(runs["orthogonal-reg"].objective, objectives.OrthogonalRegularisedObjective)
    assert runs["orthogonal-reg"].objective.model is runs["orthogonal-reg"].G
    assert not isinstance(runs["orthogonal"].objective, objectives.OrthogonalRegularisedObjective)


def test_budget_keeps_samples_seen_equal_across_the_sweep():
    b = chapter.budget("quick")
    steps = [chapter.config(b, batch_size=bs).steps for bs in b.batch_sizes]
    assert {s * bs for s, bs in zip(steps, b.batch_sizes)} == {b.samples_seen}
    assert chapter.config(b).batch_size == 64 and chapter.config(b, batch_size=256).lr_g == b.lr_g


def test_comparison_words():
    assert chapter.comparison(1.0, 2.0) == "lower"
    assert chapter.comparison(2.0, 1.0) == "higher"
    assert chapter.comparison(1.0, 1.05) == "about the same"
    with pytest.raises(ValueError):
        chapter.comparison(1.0, 1.0, rel_tol=-1)


def test_batch_size_finding_words_and_says_when_the_phenomenon_is_missing():
    rising = chapter.batch_size_finding({32: 10.0, 64: 12.0, 128: 15.0})
    assert rising["worse"] and rising["rising"] and rising["wording"] == "rose with every doubling of the batch"
    bumpy = chapter.batch_size_finding({32: 11.0, 64: 10.0, 128: 15.0})
    assert bumpy["worse"] and bumpy["best_batch"] == 64 and "lowest at batch 64" in bumpy["wording"]
    flat = chapter.batch_size_finding({32: 10.0, 64: 9.0, 128: 10.2})
    assert not flat["worse"] and "did not end clearly worse" in flat["wording"]
    with pytest.raises(ValueError):
        chapter.batch_size_finding({32: 1.0})


def test_global_variance_check_passes_the_formula_and_catches_mistakes(capsys):
    def mine(counts, means, variances):
        share = counts.double()[:, None] / counts.sum()
        mean = (share * means).sum(0)
        return ((share * (variances + means**2)).sum(0) - mean**2).float()

    assert exercises.check_global_variance(mine)
    with pytest.raises(AssertionError, match="spread"):  # a failing check raises (nbgrader counts it),
        exercises.check_global_variance(scaling._wrong_unweighted)  # its hint names the case that failed


def test_cli_prints_the_json_summary(tmp_path):
    env = {**os.environ, "GAN_LESSONS_CACHE": str(tmp_path), "GAN_LESSONS_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "gan_lessons", "run", "biggan-tricks", "--profile", "quick",
                           "--steps", "8"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("ccbn_class_accuracy", "projection_fid", "concat_fid", "orthogonal_fid", "normal_fid",
                "orthogonal_reg_fid"):
        assert isinstance(out[key], float)
    assert set(out["fid_vs_batch_size"]) == {"32", "64", "128", "256"}
    assert out["samples_seen"] == 8 * 64 and 0 <= out["ccbn_class_accuracy"] <= 1
    assert out["magan_margin_fixed_at_1"] == 1.0  # the smoke trains the margin runs for two epochs of the rule
    assert out["magan_margin_adaptive_from_3"] <= 3.0 and 0 <= out["magan_hq_adaptive_from_1"] <= 1


@pytest.mark.parametrize("scale", ["1", "0.5", "0.01", "0.003"])
def test_every_batch_of_the_sweep_fits_a_step_scaled_full_budget(monkeypatch, scale):
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", scale)
    b = chapter.budget("full")
    for batch in b.batch_sizes:  # the full sweep goes up to 512 = 8 x the reference batch
        assert chapter.config(b, batch_size=batch).steps * batch == b.samples_seen
