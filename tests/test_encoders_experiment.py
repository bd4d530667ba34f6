"""The encoders chapter end to end at a tiny step scale: the CLI prints the JSON the issue asks for, every
number finite and in range; the chapter's figures draw from the runs."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from gan_lessons import infogan, vae  # noqa: E402
from gan_lessons.experiments import encoders  # noqa: E402

KEYS = {"vae_recognised", "vaegan_recognised", "vae_sharpness", "vaegan_sharpness", "real_sharpness",
        "mrgan_grid_modes_mean", "mrgan_grid_modes_se", "gan_grid_modes_mean", "gan_grid_modes_se",
        "infogan_code_accuracy", "infogan_slant_correlation", "vae_reconstruction_error",
        "vaegan_reconstruction_error", "infogan_noise_share", "infogan_paper_layout_accuracy",
        "infogan_ink_correlation"}


@pytest.mark.slow
def test_cli_prints_the_issue_json(tmp_path):
    env = {**os.environ, "GAN_LESSONS_CACHE": str(tmp_path), "GAN_LESSONS_PROGRESS": "0",
           "GAN_LESSONS_STEP_SCALE": "0.01", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "gan_lessons", "run", "encoders", "--profile", "quick"],
                         capture_output=True, text=True, env=env, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert KEYS <= set(result), sorted(KEYS - set(result))
    assert all(math.isfinite(result[k]) for k in KEYS)
    for k in ("vae_recognised", "vaegan_recognised", "infogan_code_accuracy", "infogan_paper_layout_accuracy"):
        assert 0 <= result[k] <= 1
    for k in ("infogan_code_accuracy", "infogan_paper_layout_accuracy"):
        assert 0.1 <= result[k]  # a one-to-one map is never below chance for 10 x 10
    assert all(-1 <= result[f"infogan_{a}_correlation"] <= 1 for a in infogan.ATTRIBUTES)
    assert 0 <= result["infogan_noise_share"] <= 1
    assert 0 < result["gan_grid_modes_mean"] <= 25 and result["gan_grid_modes_se"] >= 0


def test_figures_draw_from_tiny_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    digits = {"train_x": torch.rand(64, 1, 28, 28, generator=g) * 2 - 1, "train_y": torch.arange(64) % 10,
              "test_x": torch.rand(16, 1, 28, 28, generator=g) * 2 - 1, "test_y": torch.arange(16) % 10}
    torch.manual_seed(0)
    pair = {"vae": vae.VAE(4, 4).eval(), "vae-gan": vae.VAE(4, 4).eval()}
    encoders.draw_interpolation(Figure(), 0.5, pair, digits, rows=2)
    with pytest.raises(ValueError, match="t must lie"):
        encoders.draw_interpolation(Figure(), 1.5, pair, digits, rows=2)
    options = {**encoders.info_options("quick"), "steps": 2, "width": 4, "batch_size": 8}
    run = infogan.train_infogan(digits, progress=False, **options)
    codes = run.noise_sampler
    assert run.step == 2 and (codes.continuous, (codes.noise_dim, codes.noise_std)) == (2, encoders.CLUSTER_NOISE)
    assert run.G.late == 2 and run.D.shift == encoders.budget("quick")["info_shift"] > 0
    for code in encoders.CODES:
        encoders.draw_code(Figure(), code, run)
    options = {**encoders.info_options("quick", "paper"), "steps": 2, "width": 4, "batch_size": 8}
    paper = infogan.train_infogan(digits, progress=False, **options)
    assert (paper.G.late, paper.D.shift) == (0, 0) and paper.noise_sampler == codes
    assert paper.config.lr_g == run.config.lr_g == encoders.budget("quick")["info_lr_g"]
    encoders.draw_code(Figure(), "c_1", paper)
    assert 0.1 <= infogan.code_accuracy(paper, per_category=2)[0] <= 1
    with pytest.raises(ValueError, match="unknown layout"):
        encoders.info_options("quick", "early")
    with pytest.raises(ValueError, match="unknown code"):
        encoders.draw_code(Figure(), "c_9", run)


def test_background_infogans_fill_the_run_cache_that_the_chapter_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "0.01")  # 15 steps
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        processes = encoders.start_infogans("quick", seed=3)
        assert torch.get_num_threads() == 1  # this process leaves the cores to its two children while they train
        assert len(processes) == len(encoders.LAYOUTS) and encoders.wait_for(processes) == [0, 0]
        assert torch.get_num_threads() == 2  # and takes its thread count back
    finally:
        torch.set_num_threads(before)
    trained = []
    monkeypatch.setattr(infogan.train.GANTrainer, "fit", lambda self, **kw: trained.append(self))
    for layout in encoders.LAYOUTS:  # the notebook's own calls: loaded from the cache, not trained again
        run = encoders.train_infogan_run("quick", 3, layout)
        assert run.step == encoders.budget("quick")["info_steps"] and run.config.seed == 3
    assert trained == []
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    assert encoders.start_infogans("quick") == []  # no cache to fill: the chapter trains in place
    with pytest.raises(ValueError, match="unknown layout"):
        encoders.start_infogans("quick", layouts=("early",))
    with pytest.raises(ValueError, match="seed"):
        encoders.start_infogans("quick", seed=-1)
