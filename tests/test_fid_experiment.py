"""The chapter "Evaluating GANs": its helpers (corruptions, k-means, FID_N) and the headline experiment."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_lessons import metrics, train
from gan_lessons.experiments import dcgan, hinge_sn, wgan_gp
from gan_lessons.experiments import fid as chapter


def test_budget_quick_and_overrides():
    b = chapter.budget("quick")
    assert b["fid_ns"] == [b["n_eval"] // 8, b["n_eval"] // 4, b["n_eval"] // 2, b["n_eval"]]
    assert chapter.budget("quick", n_eval=64)["n_eval"] == 64
    with pytest.raises(ValueError, match="n_eval"):
        chapter.budget("quick", n_eval=4)


def test_gaussian_blur_keeps_constants_and_mass():
    flat = torch.full((2, 1, 28, 28), 0.3)
    torch.testing.assert_close(chapter.gaussian_blur(flat, 1.5), flat)
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 14, 14] = 1.0
    blurred = chapter.gaussian_blur(dot, 1.0)
    assert blurred.sum().item() == pytest.approx(1.0, rel=1e-5)  # the kernel sums to 1, far from the border
    assert blurred[0, 0, 14, 14] < 0.2 and blurred[0, 0, 14, 15] > 0.05
    torch.testing.assert_close(chapter.gaussian_blur(dot, 0.0), dot)


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(200, 1, 28, 28, generator=g) * 2 - 1
    labels = torch.arange(200) % 10
    noisy = chapter.corrupt(images, labels, "noise", 0.5)
    assert noisy.shape == images.shape and noisy.abs().max() <= 1.0 and not torch.equal(noisy, images)
    torch.testing.assert_close(chapter.corrupt(images, labels, "noise", 0.0), images)
    dropped = chapter.corrupt(images, labels, "drop classes", 3)
    assert dropped.shape == images.shape
    kept = {int(labels[(images == d).all(dim=(1, 2, 3)).nonzero()[0, 0]]) for d in dropped}
    assert kept <= set(range(3, 10)) and len(kept) > 1  # classes 0, 1, 2 are gone
    with pytest.raises(ValueError, match="unknown corruption"):
        chapter.corrupt(images, labels, "rotate", 1.0)
    with pytest.raises(ValueError, match="cannot drop all 10"):
        chapter.corrupt(images, labels, "drop classes", 10)


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = centres.repeat(50, 1) + 0.1 * torch.randn(150, 2, generator=g)
    found = chapter.kmeans(x, 3, seed=0)
    dist = torch.cdist(found, centres).min(dim=1).values
    assert found.shape == (3, 2) and dist.max() < 0.1


def test_one_per_class_repeats_ten_digits():
    images = torch.arange(30, dtype=torch.float32).view(30, 1, 1, 1).expand(30, 1, 28, 28)
    labels = torch.arange(30) % 10
    out = chapter.one_per_class(images, labels, 25)
    assert out.shape == (25, 1, 28, 28)
    assert [int(v) for v in out[:12, 0, 0, 0]] == list(range(10)) + [0, 1]


def test_fid_curve_and_its_errors():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(2000, 4, generator=g)
    fake = torch.randn(800, 4, generator=g) + 1.0
    stats = metrics.feature_statistics(real)
    curve = chapter.fid_curve(stats, fake, [100, 200, 800])
    assert len(curve) == 3 and all(3.0 < v < 6.0 for v in curve)  # ~ |1|^2 * 4 plus a small bias
    with pytest.raises(ValueError, match="exceeds"):
        chapter.fid_curve(stats, fake, [1000])


def test_the_leaderboard_loads_the_runs_its_chapters_trained(tmp_path, monkeypatch):
    """The leaderboard trains nothing when chapters "DCGAN", "WGAN" and "Hinge loss and SN" have run: their pages'
    own calls (1 % of the quick steps here) leave runs in the cache that train_models finds under the same keys."""
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.01")
    digits = chapter.load_digits()
    b = dcgan.budget("quick")
    pages = {  # the calls of the chapters' notebooks, verbatim
        "mlp-ns": dcgan.train_run("mlp", digits, "quick", seed=0, steps=b["mlp_steps"]),
        "ns": dcgan.train_run("dcgan", digits, "quick", seed=0, steps=b["steps"], r1_weight=b["r1_weight"],
                              checkpoints=True),
        "wgan-gp": wgan_gp.train_mnist("quick", seed=0),
        "hinge-sn": hinge_sn.train_mnist_variant("hinge-sn", digits["train_x"], "quick", seed=0),
    }

    def fit(*args, **kwargs):
        raise AssertionError("the leaderboard trained a model its chapter had trained already")

    monkeypatch.setattr(train.GANTrainer, "fit", fit)
    board = chapter.train_models(digits, "quick", seed=0)
    assert list(board) == list(chapter.MODELS)
    for name, trainer in board.items():
        assert trainer.step == pages[name].step >= 1
        torch.testing.assert_close(trainer.sample(4, rng=torch.Generator().manual_seed(1)),
                                   pages[name].sample(4, rng=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="unknown leaderboard model"):
        chapter.train_models(digits, "quick", names=("ns", "VAE"))


def test_the_chapters_pages_still_make_the_calls_the_leaderboard_repeats():
    """train_models repeats the calls of chapters 5-7's pages; if a page changes its call, train_models must change
    with it, or chapter 8 would train a second copy of the run (the cache key is the call)."""
    calls = {
        "05_dcgan": ['chapter.train_run("mlp",digits,profile,seed=seed,steps=budget["mlp_steps"])',
                     'chapter.train_run("dcgan",digits,profile,seed=seed,steps=budget["steps"],'
                     'r1_weight=budget["r1_weight"],checkpoints=True,)'],
        "06_wgan": ["chapter.train_mnist(profile,seed=seed)"],
        "07_hinge_sn": ["chapter.train_mnist_variant(v,mnist_x,profile,seed=seed)"],
    }
    book = Path(__file__).resolve().parents[1] / "book"
    for notebook, expected in calls.items():
        cells = json.loads((book / f"{notebook}.ipynb").read_text())["cells"]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        code = "".join(code.split())  # whitespace and line breaks do not change a call
        for call in expected:
            assert call in code, f"{notebook} no longer calls {call}: update fid.train_models to match"


@pytest.mark.slow
def test_headline_experiment_runs_and_reports():
    out = chapter.run("quick", seed=0, steps=2, n_eval=160)
    assert {"real_vs_real", "fid_infinity", "leaderboard", "features"} <= set(out)
    assert set(out["leaderboard"]) == set(chapter.MODELS) == set(out["fid_infinity"])
    assert out["features"] == "FID (MNIST-classifier features)"
    assert all(math.isfinite(v) and v > 0 for v in out["leaderboard"].values())
    floor = out["real_vs_real"]
    assert 0 < floor["test_vs_train"] < min(out["leaderboard"].values())  # 2 steps of training: far from real
    noise = out["corruptions"]["noise"]
    assert noise[-1] > noise[0]
    parzen = out["parzen_log_likelihood"]
    assert parzen["copies of training digits"] > max(parzen[m] for m in chapter.MODELS)
    json.dumps(out)


@pytest.mark.slow
def test_cli_prints_json_last():
    proc = subprocess.run([sys.executable, "-m", "gan_lessons", "run", "fid", "--profile", "quick",
                           "--steps", "1", "--n-eval", "96"], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "GAN_LESSONS_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["leaderboard"]) == set(chapter.MODELS)
    assert isinstance(out["real_vs_real"]["train_halves"], float) and np.isfinite(out["fid_infinity"]["ns"])


def test_sample_sizes_fit_the_digits_at_hand():
    assert chapter.sample_sizes(1000, [250, 500, 1000, 2000]) == [250, 500, 1000]  # the quick page
    assert chapter.sample_sizes(1000, [1250, 2500, 5000, 10_000]) == [125, 250, 500, 1000]  # full, offline
    with pytest.raises(ValueError, match="limit"):
        chapter.sample_sizes(4, [1, 2])


def test_parzen_candidates_share_one_size_no_larger_than_the_digits_allow():
    train_x = torch.rand(60, 1, 28, 28) * 2 - 1
    fakes = {"a": torch.rand(100, 1, 28, 28), "b": torch.rand(50, 1, 28, 28)}
    candidates, validation = chapter.parzen_candidates(train_x, fakes, n_centres=1000, n_val=20)
    assert validation.shape[0] == 20
    assert {name: c.shape[0] for name, c in candidates.items()} == dict.fromkeys(
        ["a", "b", "k-means centroids", "copies of training digits"], 40)
    with pytest.raises(ValueError, match="n_val"):
        chapter.parzen_candidates(train_x, fakes, n_centres=10, n_val=60)
