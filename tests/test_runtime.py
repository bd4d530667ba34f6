"""Device choice, profiles, seeding and the banner."""
from __future__ import annotations

import os
import time

import pytest
import torch

from gan_lessons import runtime


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "full")
    assert runtime.get_profile() == "full"
    assert runtime.pick(quick=1, full=2) == 2
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "quick")
    assert runtime.pick(quick=1, full=2) == 1


def test_auto_profile_follows_the_device(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "auto")
    expected = "full" if (torch.cuda.is_available() or runtime._mps_available()) else "quick"
    assert runtime.get_profile() == expected


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "fast")
    with pytest.raises(ValueError, match="GAN_LESSONS_PROFILE.*quick, full, auto"):
        runtime.get_profile()


def test_device_override_and_errors(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        runtime.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.get_device("cuda")
    monkeypatch.setenv("GAN_LESSONS_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")


def test_seeding_makes_runs_identical():
    runtime.seed_everything(3)
    a = (torch.rand(3), __import__("numpy").random.rand(2), __import__("random").random())
    runtime.seed_everything(3)
    b = (torch.rand(3), __import__("numpy").random.rand(2), __import__("random").random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(bad)


def test_banner_names_profile_device_torch_and_budget(capsys):
    line = runtime.banner({"steps": 10}, profile="quick", device="cpu")
    out = capsys.readouterr().out
    assert "profile=quick" in out and "device=cpu" in out and f"torch={torch.__version__}" in out
    assert "steps=10" in line


def test_book_seed_from_environment(monkeypatch):
    monkeypatch.delenv("GAN_LESSONS_SEED", raising=False)
    assert runtime.book_seed() == 0
    monkeypatch.setenv("GAN_LESSONS_SEED", "7")
    assert runtime.book_seed() == 7


@pytest.mark.parametrize("bad", ["-1", "one", "1.5"])
def test_book_seed_rejects_bad_values(monkeypatch, bad):
    monkeypatch.setenv("GAN_LESSONS_SEED", bad)
    with pytest.raises(ValueError, match="GAN_LESSONS_SEED"):
        runtime.book_seed()


# --- the precision policy (issue 17) -------------------------------------------------------------------------

def test_image_precision_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("GAN_LESSONS_PRECISION", raising=False)
    assert runtime.image_precision(torch.device("cuda")) == {"precision": "bf16", "channels_last": True, "why": "GPU"}
    for native in (True, False):
        monkeypatch.setattr(runtime, "native_bf16", lambda native=native: native)
        cpu = runtime.image_precision(torch.device("cpu"))
        assert cpu["precision"] == ("bf16" if native else "fp32") and cpu["channels_last"] == native
        assert ("without" in cpu["why"]) != native
    assert runtime.image_precision(torch.device("mps"))["precision"] == "fp32"


@pytest.mark.parametrize("asked", ["fp32", "bf16", " BF16 "])
def test_image_precision_can_be_fixed_for_every_machine(monkeypatch, asked):
    monkeypatch.setenv("GAN_LESSONS_PRECISION", asked)
    for device in ("cpu", "cuda"):
        got = runtime.image_precision(torch.device(device))
        assert got["precision"] == asked.strip().lower() and got["why"] == "GAN_LESSONS_PRECISION"
        assert got["channels_last"] == (got["precision"] == "bf16")


def test_image_precision_rejects_bad_input(monkeypatch):
    with pytest.raises(TypeError, match="torch.device"):
        runtime.image_precision("cpu")
    monkeypatch.setenv("GAN_LESSONS_PRECISION", "fp16")
    with pytest.raises(ValueError, match="GAN_LESSONS_PRECISION='fp16'.*auto, fp32, bf16"):
        runtime.image_precision(torch.device("cpu"))


def test_native_bf16_is_what_torch_reports(monkeypatch):
    caps = torch.cpu.get_capabilities()
    assert runtime.native_bf16() == bool(caps.get("avx512_bf16") or caps.get("amx_bf16") or caps.get("bf16")
                                         or caps.get("sve_bf16"))
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": False})
    assert runtime.native_bf16() is False
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert runtime.native_bf16() is True


def test_the_banner_records_the_image_precision(monkeypatch, capsys):
    monkeypatch.setenv("GAN_LESSONS_PRECISION", "bf16")
    line = runtime.banner(profile="quick", device="cpu", precision=True)
    assert "image GANs in bf16 + channels_last (GAN_LESSONS_PRECISION)" in line
    monkeypatch.setenv("GAN_LESSONS_PRECISION", "fp32")
    assert "image GANs in fp32 (GAN_LESSONS_PRECISION)" in runtime.banner(profile="quick", device="cpu", precision=True)
    assert "image GANs" not in runtime.banner(profile="quick", device="cpu")  # chapters that do not use the policy
    with pytest.raises(TypeError, match="precision must be True or False"):
        runtime.banner(precision="bf16")


# --- the thread policy (issue 17) ----------------------------------------------------------------------------

def test_one_thread_sets_one_and_restores_the_count():
    from gan_lessons import runtime

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with runtime.one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with runtime.one_thread(False):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"):
            with runtime.one_thread():
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2  # restored after an error too
    finally:
        torch.set_num_threads(before)


def test_is_small_counts_the_parameters_on_a_cpu_only():
    from gan_lessons import models, runtime

    toy = (models.MLPGenerator(2, 2, 128, 3), models.MLPDiscriminator(2, 128, 3))
    dcgan = (models.DCGANGenerator(64, 32), models.DCGANDiscriminator(32))
    assert runtime.is_small(*toy) and not runtime.is_small(*dcgan)
    assert sum(p.numel() for m in toy for p in m.parameters()) < runtime.SMALL_MODEL_PARAMETERS
    assert not runtime.is_small(*toy, device="meta")  # not a CPU: the policy does not apply


@pytest.mark.parametrize("hidden, expected", [(32, 1), (320, 2)])
def test_fit_trains_small_models_on_one_thread(hidden, expected):
    from gan_lessons import data, models, train

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        G, D = models.MLPGenerator(2, 2, hidden, 2), models.MLPDiscriminator(2, hidden, 2)
        cfg = train.TrainConfig(steps=3, batch_size=16)
        trainer = train.GANTrainer(G, D, data.TensorSampler(torch.randn(64, 2)), cfg, latent_dim=2, device="cpu")
        trainer.fit(snapshot=lambda t: torch.get_num_threads(), snapshot_every=1, progress=False)
        assert [v for step, v in trainer.snapshots if step > 0] == [expected] * 3
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


class _FakeLoad:
    """runtime.cpu_load for tests: each call advances the clock by ``wall`` seconds, this process uses
    ``mine`` cores and the other processes ``others`` cores meanwhile (set between calls)."""

    def __init__(self, wall=10.0, others=0.0, mine=1.0):
        self.t = self.every = self.own = 0.0
        self.wall, self.others, self.mine = wall, others, mine

    def __call__(self):
        self.t += self.wall
        self.own += self.mine * self.wall
        self.every += (self.mine + self.others) * self.wall
        return self.t, self.every, self.own


def test_thread_policy_follows_the_load_of_other_processes():
    from gan_lessons import runtime

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    load = _FakeLoad(wall=1.5, others=1.0)
    try:
        with runtime.ThreadPolicy(False, check_every=2.0, load=load, cores=2) as policy:
            assert torch.get_num_threads() == 2  # torch's count until the first reading
            assert policy.check() == 2  # 1.5 s since the first reading: too soon to re-read
            assert policy.check() == 1  # 3 s: one other process fills a core of two -> one thread
            load.others = 0.3
            policy.check()
            assert policy.check() == 2  # the machine is (nearly) free again
            load.others = 0.7
            policy.check()
            assert policy.check() == 1  # round(2 - 0.7) = 1
        assert torch.get_num_threads() == 2  # restored
        with runtime.ThreadPolicy(False, load=_FakeLoad(others=5.0), cores=8):
            torch.set_num_threads(4)
        assert torch.get_num_threads() == 2  # restored after a change inside, too
        with runtime.ThreadPolicy(True, load=_FakeLoad(others=0.0), cores=2) as policy:
            assert torch.get_num_threads() == 1 and policy.check() == 1  # small: one thread, whatever the load
        with runtime.ThreadPolicy(False, load=lambda: None, cores=2) as policy:
            assert policy.check() == 2  # the load cannot be read: torch's count stays
        torch.set_num_threads(1)  # OMP_NUM_THREADS=1, the documented way to hold a run's numbers whatever the load
        idle = _FakeLoad(wall=3.0, others=0.0)
        with runtime.ThreadPolicy(False, check_every=2.0, load=idle, cores=8) as policy:
            assert [policy.check() for _ in range(3)] == [1, 1, 1] and torch.get_num_threads() == 1  # never more
        torch.set_num_threads(2)
        with runtime.ThreadPolicy.of(models_pair()[0], device="meta") as policy:
            assert policy.check() == 2  # not a CPU: unchanged
    finally:
        torch.set_num_threads(before)


def models_pair():
    from gan_lessons import models

    return models.MLPGenerator(2, 2, 320, 2), models.MLPDiscriminator(2, 320, 2)


def test_fit_drops_to_one_thread_beside_a_busy_process(monkeypatch):
    from gan_lessons import data, runtime, train

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(runtime, "_usable_cores", lambda: 2)
    load = _FakeLoad(wall=3.0, others=1.0)
    monkeypatch.setattr(runtime, "cpu_load", load)
    try:
        G, D = models_pair()  # above SMALL_MODEL_PARAMETERS: the load-aware branch
        cfg = train.TrainConfig(steps=4, batch_size=16)
        trainer = train.GANTrainer(G, D, data.TensorSampler(torch.randn(64, 2)), cfg, latent_dim=2, device="cpu")
        trainer.fit(2, snapshot=lambda t: torch.get_num_threads(), snapshot_every=1, progress=False)
        assert [v for step, v in trainer.snapshots if step > 0] == [1, 1]
        load.others = 0.0
        trainer.fit(4, snapshot=lambda t: torch.get_num_threads(), snapshot_every=1, progress=False)
        assert [v for step, v in trainer.snapshots if step > 2] == [2, 2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _spin(stop):
    while not stop.is_set():
        pass


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="needs two cores: one for the busy process, one for the loop")
def test_thread_policy_reads_a_real_busy_process():
    import multiprocessing as mp

    from gan_lessons import runtime

    if runtime.cpu_load() is None:
        pytest.skip("psutil cannot read this machine's load")
    before = torch.get_num_threads()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    busy = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(len(os.sched_getaffinity(0)))]
    for p in busy:
        p.start()
    torch.set_num_threads(2)
    try:
        x, seen = torch.randn(256, 256), []
        with runtime.ThreadPolicy(False, check_every=0.5, cores=2) as policy:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (seen and seen[-1] == 1):
                x = torch.tanh(x @ x.T / 256)
                seen.append(policy.check())
        assert seen[-1] == 1, f"the policy kept {seen[-1]} threads while every core was taken"
    finally:
        stop.set()
        for p in busy:
            p.join(timeout=5)
        torch.set_num_threads(before)


def test_thread_policy_rejects_bad_input():
    from gan_lessons import models, runtime

    with pytest.raises(TypeError, match="True or False"):
        with runtime.one_thread("yes"):
            pass
    with pytest.raises(TypeError, match="torch.nn.Module"):
        runtime.is_small("G")
    with pytest.raises(ValueError, match="unknown device"):
        runtime.is_small(models.MLPGenerator(1, 1, 8, 1), device="bogus")
    with pytest.raises(TypeError, match="small must be True or False"):
        runtime.ThreadPolicy("no")
    for bad in (0, -1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match="check_every must be a number of seconds > 0"):
            runtime.ThreadPolicy(False, bad)
    with pytest.raises(TypeError, match="load must be a callable"):
        runtime.ThreadPolicy(False, load=3)
    with pytest.raises(ValueError, match="cores must be a whole number >= 1"):
        runtime.ThreadPolicy(False, cores=0)
