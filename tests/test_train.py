"""The one training loop: Algorithm 1, pluggable objectives, NaN guard, checkpoints, the run cache."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from gan_lessons import data, models, objectives, runtime, train

RING = data.ring(8, radius=2.0, std=0.05)


def small_trainer(steps=20, **cfg) -> train.GANTrainer:
    runtime.seed_everything(0)
    G, D = models.MLPGenerator(2, 2, 16, 1), models.MLPDiscriminator(2, 16, 1)
    config = train.TrainConfig(steps=steps, batch_size=16, **cfg)
    return train.GANTrainer(G, D, RING.sample, config, latent_dim=2, device="cpu")


def test_config_is_frozen_and_validated():
    cfg = train.TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 5  # type: ignore[misc]
    for bad, match in [({"steps": -1}, "steps"), ({"batch_size": 0}, "batch_size"), ({"loss": "lsgan"}, "unknown loss"),
                       ({"optimizer": "lbfgs"}, "optimizer"), ({"lr_d": 0.0}, "lr_d"), ({"betas": (0.5, 1.0)}, "betas"),
                       ({"clip_value": -0.01}, "clip_value"), ({"ema_decay": 1.0}, "ema_decay"),
                       ({"d_steps": 0}, "d_steps"),
                       ({"precision": "fp16"}, "precision")]:
        with pytest.raises(ValueError, match=match):
            train.TrainConfig(**bad)


def test_k_discriminator_steps_per_generator_step():
    calls = {"d": 0, "g": 0}

    class Counting(train.JSObjective):
        def discriminator_loss(self, D, real, fake, rng):
            calls["d"] += 1
            return super().discriminator_loss(D, real, fake, rng)

        def generator_loss(self, D, fake, real):
            calls["g"] += 1
            return super().generator_loss(D, fake, real)

    t = small_trainer(steps=7, d_steps=3)
    t.objective = Counting()
    t.fit(progress=False)
    assert calls == {"d": 21, "g": 7} and t.step == 7 and len(t.history) == 7


@pytest.mark.parametrize("k", [1, 3])
def test_generator_runs_once_per_discriminator_update_and_the_g_update_reuses_the_last_fakes(k):
    t = small_trainer(steps=4, d_steps=k)
    g_inputs, d_inputs = [], []
    t.G.register_forward_hook(lambda m, args, out: g_inputs.append(out.detach().clone()))
    t.D.register_forward_pre_hook(lambda m, args: d_inputs.append(args[0].detach().clone()))
    t.fit(progress=False)
    assert len(g_inputs) == 4 * k  # not 4 * (k + 1): no second G forward for the G update
    # per D update: D(real), D(fake); then the G update: D(fake) on exactly the fakes of the last D update
    assert len(d_inputs) == 4 * (2 * k + 1)
    for step in range(4):
        last_fakes = g_inputs[step * k + k - 1]
        assert torch.equal(d_inputs[step * (2 * k + 1) + 2 * k], last_fakes)


def test_a_lone_generator_update_draws_its_own_batch():
    t = small_trainer()
    t.update_discriminator()  # keep_fakes=False: nothing is kept
    assert t._kept is None
    calls = []
    t.G.register_forward_hook(lambda m, args, out: calls.append(1))
    t.update_generator()
    assert calls == [1]


def test_bf16_mixed_precision_runs_the_networks_in_bfloat16():
    dtypes = []
    runtime.seed_everything(0)
    G, D = models.DCGANGenerator(8, 4), models.DCGANDiscriminator(4)
    D.body[0].register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
    images = torch.rand(32, 1, 28, 28) * 2 - 1
    cfg = train.TrainConfig(steps=3, batch_size=8, precision="bf16")
    t = train.GANTrainer(G, D, data.TensorSampler(images), cfg, latent_dim=8, device="cpu")
    hist = t.fit(progress=False)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])  # weights stay fp32
    assert all(map(torch.isfinite, map(torch.tensor, hist.d_loss + hist.g_loss)))
    assert t.sample(4).dtype == torch.float32


def test_generator_update_leaves_the_discriminator_untouched():
    t = small_trainer()
    before = [p.clone() for p in t.D.parameters()]
    t.update_generator()
    assert all(torch.equal(a, b) for a, b in zip(before, t.D.parameters()))
    assert all(p.requires_grad for p in t.D.parameters())


@pytest.mark.parametrize("loss", [n for n in objectives.OBJECTIVES if n != "feature-matching"])
def test_every_builtin_objective_trains_and_logs(loss):
    t = small_trainer(steps=5, loss=loss)
    hist = t.fit(progress=False)
    assert len(hist) == 5 and all(map(torch.isfinite, map(torch.tensor, hist.d_loss)))
    if loss in ("minimax", "ns"):
        assert all(0 <= v <= 1 for v in hist.d_real + hist.d_fake)


def test_weight_clipping_keeps_weights_in_range():
    t = small_trainer(steps=5, loss="wasserstein", clip_value=0.01, optimizer="rmsprop", lr_d=0.1)
    t.fit(progress=False)
    assert all(p.abs().max() <= 0.01 for p in t.D.parameters())


def test_training_learns_the_1d_mean():
    runtime.seed_everything(0)
    target = data.gaussian_1d(3.0, 0.5)
    G, D = models.MLPGenerator(1, 1, 16, 1), models.MLPDiscriminator(1, 16, 1)
    cfg = train.TrainConfig(steps=400, batch_size=64, lr_d=2e-3, lr_g=2e-3)
    t = train.train_gan(G, D, target.sample, cfg, latent_dim=1, progress=False)
    assert abs(float(t.sample(2000).mean()) - 3.0) < 0.5


def test_nan_stops_training_with_a_clear_message():
    class Poison(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return (x.sum(1) * self.w) * float("nan")

    runtime.seed_everything(0)
    t = train.GANTrainer(models.MLPGenerator(2, 2, 8, 1), Poison(), RING.sample, train.TrainConfig(steps=3),
                         latent_dim=2, device="cpu")
    before = t.D.w.detach().clone()
    with pytest.raises(train.TrainingDiverged, match=r"diverged at generator step 1.*learning rate"):
        t.fit(progress=False)
    assert torch.equal(t.D.w.detach(), before)  # no NaN update was applied


def test_resumed_run_ends_identical_to_an_uninterrupted_one(tmp_path):
    full = small_trainer(steps=30, ema_decay=0.9)
    full.fit(progress=False)
    part = small_trainer(steps=30, ema_decay=0.9)
    part.fit(steps=12, checkpoint_path=tmp_path / "ck.pt", progress=False)
    resumed = small_trainer(steps=30, ema_decay=0.9).load(tmp_path / "ck.pt")
    assert resumed.step == 12
    resumed.fit(progress=False)
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
    assert full.history.d_loss == resumed.history.d_loss
    assert torch.equal(full.sample(8), resumed.sample(8))


def test_checkpoint_errors(tmp_path):
    t = small_trainer()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        t.load(tmp_path / "missing.pt")
    t.save(tmp_path / "ck.pt")
    with pytest.raises(ValueError, match="different TrainConfig"):
        small_trainer(steps=99).load(tmp_path / "ck.pt")


def test_snapshots_are_taken_at_start_every_n_and_end():
    t = small_trainer(steps=10)
    t.fit(snapshot=lambda tr: tr.step, snapshot_every=4, progress=False)
    assert [s for s, _ in t.snapshots] == [0, 4, 8, 10]


def test_run_cache_reuses_an_identical_run_and_only_that(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))

    def run(steps=15, seed=0, lr=2e-4):
        runtime.seed_everything(seed)
        G, D = models.MLPGenerator(2, 2, 16, 1), models.MLPDiscriminator(2, 16, 1)
        cfg = train.TrainConfig(steps=steps, batch_size=16, lr_g=lr)
        return train.train_gan(G, D, RING.sample, cfg, latent_dim=2, cache="unit", progress=False)

    a = run()
    files = list((tmp_path / "runs").glob("unit-*.pt"))
    assert len(files) == 1
    b = run()
    assert a.history.d_loss == b.history.d_loss and torch.equal(a.sample(4), b.sample(4))
    assert len(list((tmp_path / "runs").glob("*.pt"))) == 1  # loaded, not trained again
    run(seed=1)
    run(lr=1e-3)
    assert len(list((tmp_path / "runs").glob("*.pt"))) == 3  # other weights or config: other entries


def test_run_cache_can_be_switched_off_and_rejects_bad_names(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    t = small_trainer()
    assert train.run_cache_path("ok-name", t) is None
    with pytest.raises(ValueError, match="cache must be a short name"):
        train.run_cache_path("../escape", t)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"generator": "G"}, TypeError, "nn.Module"),
    ({"real_sampler": 5}, TypeError, "real_sampler"),
    ({"config": {"steps": 3}}, TypeError, "TrainConfig"),
    ({"latent_dim": None}, ValueError, "exactly one of latent_dim"),
])
def test_trainer_rejects_bad_arguments(kwargs, error, match):
    args = {"generator": models.MLPGenerator(2, 2, 8, 1), "discriminator": models.MLPDiscriminator(2, 8, 1),
            "real_sampler": RING.sample, "config": train.TrainConfig(steps=1), "latent_dim": 2}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        train.GANTrainer(args.pop("generator"), args.pop("discriminator"), args.pop("real_sampler"),
                         args.pop("config"), **args)


def test_sampler_returning_the_wrong_batch_is_caught():
    t = train.GANTrainer(models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 8, 1),
                         lambda n, rng: RING.sample(n + 1, rng), train.TrainConfig(steps=1), latent_dim=2)
    with pytest.raises(ValueError, match="asked"):
        t.fit(progress=False)


def test_mlp_models_check_their_input():
    with pytest.raises(ValueError, match=r"z must have shape \[batch, 2\]"):
        models.MLPGenerator(2, 2)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="unknown activation"):
        models.mlp(2, 2, activation="swish")
    with pytest.raises(ValueError, match="hidden"):
        models.mlp(2, 2, hidden=0)
    assert models.MLPDiscriminator(2)(torch.zeros(4, 2)).shape == (4,)


class _GridProbe:  # a snapshot object with Python's default repr (it names a memory address)
    def __init__(self, grid: torch.Tensor) -> None:
        self.grid, self.rng = grid, torch.Generator().manual_seed(0)

    def __call__(self, trainer) -> torch.Tensor:
        return trainer.D(self.grid)


def test_run_cache_key_of_a_snapshot_object_is_its_state_not_its_address():
    t = small_trainer()
    grid = torch.zeros(4, 2)
    key = lambda probe: train.run_cache_path("unit", t, {"snapshot": probe, "snapshot_every": 2})  # noqa: E731
    a, b = _GridProbe(grid), _GridProbe(grid.clone())
    assert repr(a) != repr(b) and key(a) == key(b)  # every process (and every object) gets the same key
    assert key(_GridProbe(grid + 1)) != key(a)  # other state: another entry


def test_run_cache_key_of_a_snapshot_closure_is_its_code_and_data_in_every_process():
    t = small_trainer()
    source = ("def make(grid):\n    def probe(trainer):\n        return [trainer.D(g) for g in grid]\n"
              "    return probe\n")
    makers = []
    for _ in range(2):  # two definitions: other code objects at other addresses, as in two processes
        namespace: dict = {}
        exec(source, namespace)  # noqa: S102 - our own test source
        makers.append(namespace["make"])
    key = lambda probe: train.run_cache_path("unit", t, {"snapshot": probe, "snapshot_every": 2})  # noqa: E731
    grid = torch.zeros(3, 2)
    assert key(makers[0](grid)) == key(makers[1](grid.clone()))
    assert key(makers[0](grid + 1)) != key(makers[0](grid))  # the data it closes over is part of the key
