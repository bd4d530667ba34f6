"""Chapter "DCGAN on MNIST": feature matching, historical averaging, the experiment's helpers and its JSON."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from gan_lessons import data, latent, metrics, models, objectives, runtime, train
from gan_lessons.experiments import dcgan


# --- feature matching (Salimans et al. 2016, sec. 3.1) ------------------------------------------------------------

def test_feature_matching_loss_by_hand():
    real = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # mean (2, 1)
    fake = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 4.0]])  # mean (0, 2)
    assert objectives.feature_matching_loss(real, fake).item() == pytest.approx(4.0 + 1.0)
    assert objectives.feature_matching_loss(real, real).item() == 0.0


@pytest.mark.parametrize("args, match", [
    ((torch.ones(3), torch.ones(3, 1)), "real_features"),
    ((torch.ones(2, 3), torch.ones(0, 3)), "fake_features"),
    ((torch.ones(2, 3), torch.ones(2, 4)), "same width"),
    ((torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3)), "float"),
])
def test_feature_matching_loss_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        objectives.feature_matching_loss(*args)


class _LinearFeatures(nn.Module):
    """A 'discriminator' whose features are 2x: makes the feature matching loss computable by hand."""

    def features(self, x):
        return 2 * x

    def forward(self, x):
        return self.features(x).sum(1)


def test_feature_matching_objective_uses_the_features_and_only_the_generator_loss():
    obj = objectives.FeatureMatchingObjective()
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])  # feature means 4 and 1
    assert obj.generator_loss(_LinearFeatures(), fake, real).item() == pytest.approx(9.0)
    d_loss, _, _ = obj.discriminator_loss(_LinearFeatures(), real, fake, torch.Generator())
    plain, _, _ = objectives.JSObjective().discriminator_loss(_LinearFeatures(), real, fake, torch.Generator())
    assert d_loss.item() == pytest.approx(plain.item())  # D trains as in the original GAN
    with pytest.raises(TypeError, match="features"):
        obj.generator_loss(lambda x: x.sum(1), fake, real)


def test_feature_matching_trains_a_conditional_dcgan():
    runtime.seed_everything(0)
    G, D = models.DCGANGenerator(8, width=4, n_classes=3), models.DCGANDiscriminator(width=4, n_classes=3)
    sampler = data.TensorSampler(torch.rand(20, 1, 28, 28) * 2 - 1, torch.arange(20) % 3)
    t = train.GANTrainer(G, D, sampler, train.TrainConfig(steps=3, batch_size=4), latent_dim=8,
                         objective=objectives.FeatureMatchingObjective(), device="cpu")
    t.fit(progress=False)
    assert len(t.history) == 3 and all(math.isfinite(v) for v in t.history.g_loss)


# --- historical averaging (Salimans et al. 2016, sec. 3.3) --------------------------------------------------------

class _Constant(nn.Module):
    """A one-parameter network whose loss gradient is zero: only the historical term moves it."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([value]))

    def forward(self, x):
        return 0 * self.w.sum() + torch.zeros(x.shape[0])


def test_historical_averaging_gradient_and_running_mean_by_hand():
    G, D = _Constant(0.0), _Constant(0.0)
    cfg = train.TrainConfig(steps=0, batch_size=2, optimizer="sgd", lr_d=0.1, lr_g=0.1, historical_weight=0.5)
    t = train.GANTrainer(G, D, lambda n, rng: torch.zeros(n), cfg, latent_dim=1, device="cpu")
    with torch.no_grad():
        D.w.fill_(2.0)  # theta = 2, mean of past weights = 0 (the initial 0)
    t.update_discriminator()  # grad = 2 * 0.5 * (2 - 0) = 2; SGD: 2 - 0.1 * 2 = 1.8
    assert D.w.item() == pytest.approx(1.8)
    assert t.averages["count_D"] == 2 and t.averages["D"][0].item() == pytest.approx((0.0 + 1.8) / 2)
    t.update_discriminator()  # grad = 2 * 0.5 * (1.8 - 0.9) = 0.9; 1.8 - 0.09 = 1.71
    assert D.w.item() == pytest.approx(1.71)
    assert t.averages["D"][0].item() == pytest.approx((0.0 + 1.8 + 1.71) / 3)
    assert G.w.item() == 0.0  # G was not updated


def test_historical_averaging_off_by_default_and_validated():
    assert train.TrainConfig().historical_weight == 0.0
    for bad in (-1.0, float("inf"), "1"):
        with pytest.raises(ValueError, match="historical_weight"):
            train.TrainConfig(historical_weight=bad)


def test_resume_with_historical_averaging_is_identical(tmp_path):
    def make(steps):
        runtime.seed_everything(0)
        G, D = models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1)
        cfg = train.TrainConfig(steps=steps, batch_size=8, historical_weight=0.1, seed=3)
        return train.GANTrainer(G, D, data.ring().sample, cfg, latent_dim=2, device="cpu")

    whole = make(6)
    whole.fit(progress=False)
    half = make(6)
    half.fit(3, checkpoint_path=tmp_path / "ck.pt", progress=False)
    resumed = make(6).load(tmp_path / "ck.pt")
    resumed.fit(progress=False)
    for a, b in zip(whole.G.parameters(), resumed.G.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.averages["count_G"] == whole.averages["count_G"] == 7


# --- the experiment's helpers ---------------------------------------------------------------------------------------

def test_interpolate_by_hand_and_bad_input():
    z = latent.interpolate(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]), 3)
    torch.testing.assert_close(z, torch.tensor([[0.0, 2.0], [0.5, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="n must be"):
        latent.interpolate(torch.zeros(2), torch.ones(2), 1)
    with pytest.raises(ValueError, match="z0 and z1"):
        latent.interpolate(torch.zeros(2), torch.ones(3), 4)


def test_nearest_neighbours_finds_the_copy():
    pool = torch.zeros(3, 1, 28, 28)
    pool[1] += 1.0
    pool[2] -= 1.0
    queries = torch.stack([pool[2] + 0.01, pool[1]])
    idx, dist = dcgan.nearest_neighbours(queries, pool, batch=1)
    assert idx.tolist() == [2, 1]
    assert dist[0].item() == pytest.approx(0.01 * 28, rel=1e-4) and dist[1].item() == 0.0
    with pytest.raises(ValueError, match="one size"):
        dcgan.nearest_neighbours(torch.zeros(2, 1, 14, 14), pool)


def test_budget_models_and_variants_reject_bad_input():
    assert dcgan.budget("quick")["steps"] > dcgan.budget("quick")["compare_steps"]
    assert dcgan.budget("full")["width"] == 64
    with pytest.raises(ValueError, match="steps"):
        dcgan.budget("quick", steps=3)
    with pytest.raises(ValueError, match="unknown model kind"):
        dcgan.make_models("resnet")
    with pytest.raises(ValueError, match="unknown variant"):
        dcgan.config_for_variant("dropout")
    with pytest.raises(TypeError, match="GANTrainer"):
        dcgan.generate(None, 10)


def test_every_variant_is_a_valid_config():
    b = dcgan.budget("quick")
    for variant in (*dcgan.VARIANTS, "d-wins"):
        objective, options = dcgan.config_for_variant(variant)
        cfg = dcgan.config(b, **options)
        assert isinstance(objective, objectives.Objective) and cfg.steps == b["steps"]
    smoothing, _ = dcgan.config_for_variant("label smoothing")
    assert smoothing.real_label == 0.9  # the objective's own setting: one home


def test_r1_weight_adds_gamma_half_r1_to_the_discriminators_loss_only():
    w = torch.tensor([0.5, -2.0, 1.0])
    D = lambda x: x @ w + x[:, 0] ** 2  # noqa: E731 - grad_x D = w + (2 x_0, 0, 0)
    real, fake = torch.tensor([[1.0, 0.0, 3.0], [-0.25, 2.0, 1.0]]), torch.randn(2, 3)
    plain, with_r1 = objectives.make_objective("ns"), objectives.make_objective("ns", r1_weight=2.0)
    base, real_out, _ = plain.discriminator_loss(D, real, fake, None)
    penalised, real_out_r1, _ = with_r1.discriminator_loss(D, real, fake, None)
    assert (penalised - base).item() == pytest.approx(2.0 / 2 * (11.25 + 5.0) / 2)  # gamma / 2 * R1 by hand
    torch.testing.assert_close(real_out_r1.detach(), real_out)
    assert not real.requires_grad  # the caller's batch is untouched
    assert with_r1.generator_loss(D, fake, real).item() == plain.generator_loss(D, fake, real).item()
    for bad in (-1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="r1_weight"):
            objectives.make_objective("ns", r1_weight=bad)


def test_lazy_r1_penalises_every_kth_d_update_k_times_as_strongly():
    w = torch.tensor([0.5, -2.0, 1.0])
    D = lambda x: x @ w + x[:, 0] ** 2  # noqa: E731 - the R1 of these two samples is (11.25 + 5) / 2 by hand
    real, fake = torch.tensor([[1.0, 0.0, 3.0], [-0.25, 2.0, 1.0]]), torch.randn(2, 3)
    plain = objectives.make_objective("ns").discriminator_loss(D, real, fake, None)[0].item()
    lazy = objectives.make_objective("ns", r1_weight=2.0, r1_every=3)
    added = [lazy.discriminator_loss(D, real, fake, None)[0].item() - plain for _ in range(7)]
    r1_by_hand = 3 * 2.0 / 2 * (11.25 + 5.0) / 2  # k * gamma / 2 * R1
    assert added == pytest.approx([r1_by_hand, 0, 0, r1_by_hand, 0, 0, r1_by_hand])  # updates 0, 3, 6
    assert lazy.state_dict() == {"d_updates": 7} and lazy.d_updates == 7
    assert objectives.make_objective("ns", r1_weight=2.0).state_dict() == {}  # every update: nothing to count
    assert "d_updates" not in repr(lazy)  # the run cache's key is the settings, not the count
    fresh = objectives.make_objective("ns", r1_weight=2.0, r1_every=3)
    fresh.load_state_dict(lazy.state_dict())
    assert fresh.d_updates == 7
    fresh.load_state_dict({})  # a checkpoint written before lazy R1 counts from where it is
    for bad in ({"d_updates": -1}, {"d_updates": 1.5}, {"d_updates": True}, {"m": 1}, {"d_updates": 1, "m": 1}):
        with pytest.raises(ValueError, match="count of D updates"):
            fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match="r1_every=1"):  # a lazy run's checkpoint into R1 on every update
        objectives.make_objective("ns", r1_weight=2.0).load_state_dict(lazy.state_dict())
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="r1_every"):
            objectives.make_objective("ns", r1_weight=1.0, r1_every=bad)
    with pytest.raises(ValueError, match="r1_every=1"):
        objectives.UnrolledObjective(base=lazy)
    objectives.UnrolledObjective(base=objectives.JSObjective(r1_every=3))  # no penalty: nothing to count


def test_a_resumed_lazy_r1_run_penalises_the_same_updates(tmp_path):
    def make():
        runtime.seed_everything(0)
        G, D = models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1)
        cfg = train.TrainConfig(steps=7, batch_size=8, seed=3)
        return train.GANTrainer(G, D, data.ring().sample, cfg, latent_dim=2, device="cpu",
                                objective=objectives.JSObjective(r1_weight=1.0, r1_every=3))

    whole = make()
    whole.fit(progress=False)
    half = make()
    half.fit(4, checkpoint_path=tmp_path / "ck.pt", progress=False)  # 4 updates: the next one is not penalised
    resumed = make().load(tmp_path / "ck.pt")
    assert resumed.objective.d_updates == 4
    resumed.fit(progress=False)
    assert resumed.objective.d_updates == whole.objective.d_updates == 7
    for a, b in zip(whole.D.parameters(), resumed.D.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_chapters_dcgan_trains_with_the_budgets_r1_weight(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    digits = {"train_x": torch.rand(16, 1, 28, 28) * 2 - 1, "train_y": torch.arange(16) % 10}
    gamma = dcgan.budget("quick")["r1_weight"]
    assert gamma > 0 and dcgan.budget("full")["r1_weight"] > 0
    t = dcgan.train_run("dcgan", digits, "quick", steps=2, progress=False, batch_size=4, r1_weight=gamma)
    assert t.objective.r1_weight == gamma and not t.objective.saturating and t.step == 2
    smoothed = dcgan.train_run("dcgan", digits, "quick", variant="label smoothing", steps=2, progress=False,
                               batch_size=4, r1_weight=gamma)
    assert (smoothed.objective.real_label, smoothed.objective.r1_weight) == (0.9, gamma)  # the variant is kept
    paper = dcgan.train_run("dcgan", digits, "quick", steps=2, progress=False, batch_size=4)
    assert paper.objective.r1_weight == 0  # the default: the paper's discriminator
    with pytest.raises(ValueError, match="r1_weight"):
        dcgan.train_run("dcgan", digits, "quick", steps=2, progress=False, batch_size=4, r1_weight=-1.0)


@pytest.mark.parametrize("asked", ["fp32", "bf16", None])
def test_the_runs_train_in_the_precision_the_policy_picks(monkeypatch, asked):
    if asked:
        monkeypatch.setenv("GAN_LESSONS_PRECISION", asked)
    else:
        monkeypatch.delenv("GAN_LESSONS_PRECISION", raising=False)
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    digits = {"train_x": torch.rand(16, 1, 28, 28) * 2 - 1, "train_y": torch.arange(16) % 10}
    t = dcgan.train_run("dcgan", digits, "quick", steps=2, progress=False, batch_size=4)
    policy = runtime.image_precision(t.device)
    assert t.config.precision == policy["precision"] == (asked or policy["precision"])
    assert t.G.up[0].weight.is_contiguous(memory_format=torch.channels_last) == policy["channels_last"]
    assert t.G.up[0].weight.dtype == torch.float32  # autocast: the weights stay fp32


def test_tiny_training_run_through_the_experiment(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    digits = {"train_x": torch.rand(32, 1, 28, 28, generator=g) * 2 - 1, "train_y": torch.arange(32) % 10}
    t = dcgan.train_run("conditional", digits, "quick", steps=2, progress=False, batch_size=4)
    assert t.step == 2 and len(t.snapshots) == 3
    snap = t.snapshots[-1][1]
    assert set(snap) == {"grid"} and snap["grid"].shape == (dcgan.GRID, 1, 28, 28)  # checkpoints=False: no more
    again = dcgan.train_run("conditional", digits, "quick", steps=2, progress=False, batch_size=4)  # cached
    torch.testing.assert_close(again.snapshots[-1][1]["grid"], snap["grid"], rtol=0, atol=0)
    images = dcgan.generate(t, 7, torch.arange(7) % 10, batch=3)
    assert images.shape == (7, 1, 28, 28)
    with pytest.raises(ValueError, match="kept no weights"):
        dcgan.checkpoint_samples(t, 2, 4)


def test_checkpoints_give_an_fid_per_snapshot_and_the_generator_of_each(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    digits = {"train_x": torch.rand(32, 1, 28, 28, generator=g) * 2 - 1, "train_y": torch.arange(32) % 10}
    t = dcgan.train_run("dcgan", digits, "quick", steps=24, progress=False, batch_size=4, checkpoints=True,
                        log_every=1)
    real = metrics.classifier_features(digits["train_x"].repeat(20, 1, 1, 1)[:600])
    ck = dcgan.checkpoint_fids(t, real)
    assert t.snapshots[0][1]["features"].shape == (dcgan.CHECKPOINT_EVAL, real.shape[1])
    torch.testing.assert_close(t.snapshots[-1][1]["grid"], t.sample(z=dcgan.fixed_noise(0)))  # the first 64 codes
    assert ck["steps"] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24] and len(ck["fid"]) == 13
    assert ck["best_fid"] == min(ck["fid"]) == ck["fid"][ck["steps"].index(ck["best_step"])]
    assert ck["final_fid"] == ck["fid"][-1]
    assert ck["fid"][-1] == pytest.approx(metrics.fid_from_features(real, t.snapshots[-1][1]["features"]))
    # the last snapshot's weights are the EMA generator's at the end: the same digits for the same codes
    z = torch.randn(5, dcgan.LATENT_DIM, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(dcgan.checkpoint_samples(t, 24, 5, seed=3), t.sample(z=z))
    first = dcgan.checkpoint_samples(t, 0, 5, seed=3)
    assert not torch.equal(first, t.sample(z=z))  # step 0's generator is another one
    with pytest.raises(ValueError, match="no snapshot at step 5"):
        dcgan.checkpoint_samples(t, 5, 4)
    with pytest.raises(ValueError, match="snapshots hold"):
        dcgan.checkpoint_fids("a run", real)
    assert ck["g_loss"] == dcgan.losses_between(t.history, ck["steps"]) and len(ck["g_loss"]) == 12
    assert -1 <= ck["loss_fid_rank_corr"] <= 1


def test_losses_between_checkpoints_by_hand():
    h = train.History(step=[1, 2, 3, 4, 5, 6], d_loss=[0.0] * 6, g_loss=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                      d_real=[0.5] * 6, d_fake=[0.5] * 6)
    assert dcgan.losses_between(h, [0, 2, 6]) == [1.5, 4.5]  # (0, 2] and (2, 6]
    assert dcgan.losses_between(h, [0, 6, 8]) == [3.5, 6.0]  # nothing logged in (6, 8]: the last value, 6
    sparse = train.History(step=[5, 10], d_loss=[0.0] * 2, g_loss=[1.0, 2.0], d_real=[0.5] * 2, d_fake=[0.5] * 2)
    with pytest.raises(ValueError, match="logged no step up to 3"):
        dcgan.losses_between(sparse, [0, 3, 10])
    with pytest.raises(ValueError, match="key must be"):
        dcgan.losses_between(h, [0, 2], key="fid")


@pytest.mark.slow
def test_cli_prints_the_issue_json(tmp_path):
    env = {"GAN_LESSONS_CACHE": str(tmp_path), "GAN_LESSONS_PROGRESS": "0", "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-m", "gan_lessons", "run", "dcgan", "--profile", "quick",
                          "--steps", "10"], capture_output=True, text=True, env=env, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"steps", "seconds", "recognised_fraction", "real_recognised_fraction", "classifier_accuracy",
            "class_entropy", "cgan_class_accuracy"} <= set(result)
    assert result["steps"] == 10
    assert 0 <= result["recognised_fraction"] <= 1 and 0 <= result["class_entropy"] <= math.log(10) + 1e-6
    assert result["classifier_accuracy"] > 0.9  # the judge itself must be good before it judges GANs
