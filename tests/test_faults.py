"""Nothing lost, nothing silent (issue 18): every file the package writes under injected faults, verified loading,
and the entry checks of the trainer, its config, the seeds, the metrics and the command line.

Faults are injected with monkeypatch (a failing ``torch.save`` for a full disk, a failing ``os.replace`` for a
read-only folder, since the tests may run as root, where chmod does not stop writes), a file where a folder
should be, and truncated, bit-flipped, tampered and foreign files. Every test runs under an alarm: zero hangs.
"""
from __future__ import annotations

import errno
import math
import os
import signal
import threading
import time
from pathlib import Path

import filelock
import numpy as np
import pytest
import torch

from gan_lessons import checkpoints, cli, data, metrics, models, runcache, runtime, train
from gan_lessons import classifier as C

RING = data.ring(8, radius=2.0, std=0.05)


@pytest.fixture(autouse=True)
def _no_hangs():
    """Fail (instead of hanging CI) any test of this file that runs for more than 120 s."""
    def stop(signum, frame):
        raise TimeoutError("test ran for more than 120 s: a hang")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    return tmp_path / "cache" / "runs"


def nets(width=8):
    torch.manual_seed(0)
    return models.MLPGenerator(2, 2, width, 1), models.MLPDiscriminator(2, width, 1)


def config(**kw):
    return train.TrainConfig(**{"steps": 3, "batch_size": 16, **kw})


def trainer(width=8, sampler=RING.sample, **kw):
    return train.GANTrainer(*nets(width), sampler, config(**kw), latent_dim=2)


def cached_run(sampler=RING.sample, name="unit", **fit):
    return train.train_gan(*nets(), sampler, config(), latent_dim=2, cache=name, progress=False, **fit)


def entries(folder):
    """The files of a run-cache folder, less the lock files beside its runs (checkpoints._run_lock)."""
    return [p for p in folder.iterdir() if p.suffix != ".lock"]


def weights(t):
    return {k: v.clone() for k, v in {**t.G.state_dict(), **{f"D.{k}": v for k, v in t.D.state_dict().items()}}
            .items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def disk_full(obj, f):  # torch.save that writes half a file, then fails like a full disk
    Path(f).write_bytes(b"half a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")


# -- verified loading -------------------------------------------------------------------------------------
def test_checkpoint_holds_a_content_hash_that_load_checks(tmp_path):
    t = trainer()
    t.fit(progress=False)
    path = t.save(tmp_path / "run.pt")
    state = torch.load(path, weights_only=True)
    assert state["sha256"] == checkpoints.content_hash(state)
    state["G"]["net.0.weight"].view(-1)[0] += 1.0  # tensor bytes overwritten, the file otherwise valid
    torch.save(state, path)
    fresh = trainer()
    before = weights(fresh)
    with pytest.raises(ValueError, match="does not match the SHA-256.*delete it or train again"):
        fresh.load(path)
    assert same(before, weights(fresh)) and fresh.step == 0  # checked before any state changed


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "missing-key"])
def test_damaged_checkpoints_get_one_clear_message_and_change_nothing(tmp_path, damage):
    t = trainer()
    t.fit(progress=False)
    path = t.save(tmp_path / "run.pt")
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        for i in range(len(raw) // 3, len(raw), max(len(raw) // 40, 1)):  # bits flipped through the tensors
            raw[i] ^= 0x10
        path.write_bytes(raw)
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        state = torch.load(path, weights_only=True)
        del state["opt_d"]
        torch.save(state, path)
    fresh = trainer()
    before = weights(fresh)
    with pytest.raises(ValueError, match="delete it or train again") as err:
        fresh.load(path)
    assert "weights_only=False" not in str(err.value)  # never the unsafe advice
    assert same(before, weights(fresh)) and fresh.step == 0


def test_shapes_are_checked_before_anything_is_loaded(tmp_path):
    t = trainer(width=8)
    t.fit(progress=False)
    path = t.save(tmp_path / "run.pt")
    other = train.GANTrainer(models.MLPGenerator(2, 2, 8, 1), models.MLPDiscriminator(2, 16, 1), RING.sample,
                             t.config, latent_dim=2)
    with pytest.raises(ValueError, match=r"does not fit these models \(D: .*nothing was loaded"):
        other.load(path)


def test_a_snapshot_no_checkpoint_can_hold_is_refused_naming_the_function(tmp_path):
    def numpy_probe(trainer):
        return np.zeros(3)

    t = trainer()
    with pytest.raises(TypeError, match="snapshot function .*numpy_probe.*numpy.ndarray"):
        t.fit(snapshot=numpy_probe, progress=False)
    assert t.step == 0  # refused before training, not after
    t.snapshots = [(0, {"x": np.float64(1.0)})]  # a numpy scalar is a float subclass, still not loadable
    with pytest.raises(TypeError, match="numpy.float64"):
        t.save(tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    t.snapshots = [(0, {"x": torch.ones(2), "y": [1.0, "a", None], "z": (2, torch.float32)})]
    t.load(t.save(tmp_path / "ok.pt"))  # what weights_only=True reads is accepted


# -- the run cache ------------------------------------------------------------------------------------------
def test_cache_entry_missing_an_optimizer_state_is_retrained_clean_and_repaired(cache):
    first = cached_run()
    [path] = entries(cache)
    state = torch.load(path, weights_only=True)
    del state["opt_g"]
    torch.save(state, path)
    with pytest.warns(UserWarning, match="ignoring unreadable cached run.*missing opt_g"):
        second = cached_run()
    assert same(weights(first), weights(second))  # trained again from the clean initial state: same numbers
    repaired = torch.load(path, weights_only=True)
    assert "opt_g" in repaired and repaired["sha256"] == checkpoints.content_hash(repaired)
    third = cached_run()  # and now loads without a warning
    assert same(weights(first), weights(third))


@pytest.mark.parametrize("damage", ["truncate", "flip", "other-config"])
def test_damaged_cache_entries_are_retrained_and_repaired(cache, damage):
    first = cached_run()
    [path] = entries(cache)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(raw[:100])
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(raw)
    else:  # a file of another run under this name
        t = trainer(seed=5)
        t.fit(progress=False)
        t.save(path)
    with pytest.warns(UserWarning, match="ignoring unreadable cached run"):
        again = cached_run()
    assert same(weights(first), weights(again))
    assert same(weights(first), weights(trainer().load(path)))  # the entry holds the right run again


def test_failed_cache_saves_keep_the_run_and_the_old_entry(cache, monkeypatch):
    first = cached_run()
    [path] = entries(cache)
    good = path.read_bytes()
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.warns(UserWarning, match="could not store the finished run.*No space left"):
        other = cached_run(name="other")  # a new entry: the save fails, the trained run comes back
    assert other.step == 3 and same(weights(first), weights(other))
    assert path.read_bytes() == good and sorted(p.name for p in entries(cache)) == [path.name]  # no .tmp

    def read_only(src, dst):
        raise PermissionError(errno.EACCES, "Read-only file system", str(dst))

    monkeypatch.undo()
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(cache.parent))
    monkeypatch.setattr(os, "replace", read_only)
    with pytest.warns(UserWarning, match="could not store.*Read-only"):
        assert cached_run(name="ro").step == 3
    assert sorted(p.name for p in entries(cache)) == [path.name]


def test_a_run_another_process_is_training_is_waited_for_and_loaded_not_trained_twice(cache, monkeypatch, capsys):
    first = cached_run()
    [path] = entries(cache)
    stored = path.read_bytes()
    path.unlink()  # as if another process (a second notebook, an nbval worker) were still training the run
    holding = threading.Event()

    def other_process():  # holds the run's lock, stores its run a second later and lets go
        with filelock.FileLock(f"{path}.lock"):
            holding.set()
            time.sleep(1.0)
            path.write_bytes(stored)

    def fit(*args, **kwargs):
        raise AssertionError("trained a run that another process was training")

    monkeypatch.setattr(checkpoints, "LOCK_NOTICE_SECONDS", 0.2)
    monkeypatch.setattr(train.GANTrainer, "fit", fit)
    thread = threading.Thread(target=other_process)
    thread.start()
    holding.wait(10)
    second = cached_run()  # waits for the lock, then loads the other's file
    thread.join()
    assert same(weights(first), weights(second)) and second.step == 3
    assert "Another process is training this run" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(cache.parent))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    blocker = cache.parent / "file"
    blocker.write_text("")
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(blocker))  # no folder (and no lock) can be made there
    with pytest.warns(UserWarning, match="could not store the finished run"):
        assert cached_run(name="nolock").step == 3  # trained, kept in memory, as before the lock


def test_checkpoint_resave_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    t = trainer()
    t.fit(progress=False)
    path = t.save(tmp_path / "run.pt")
    good = path.read_bytes()
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        t.save(path)
    assert path.read_bytes() == good and sorted(tmp_path.iterdir()) == [path]


def _shifted(shift):
    def sample(n, rng):  # the same qualified name for every shift: only the data tells them apart
        return RING.sample(n, rng) + shift
    return sample


def test_samplers_with_the_same_name_but_other_data_never_share_a_cache_entry(cache):
    a = cached_run(_shifted(0.0), name="same")
    b = cached_run(_shifted(5.0), name="same")
    assert len(entries(cache)) == 2
    assert not same(weights(a), weights(b))
    t = trainer()
    key_a = runcache.run_cache_path("x", train.GANTrainer(*nets(), _shifted(0.0), config(), latent_dim=2))
    assert key_a == runcache.run_cache_path("x", train.GANTrainer(*nets(), _shifted(0.0), config(),
                                                                     latent_dim=2))  # stable
    assert t is not None


def test_fingerprinting_a_sampler_draws_nothing_from_the_global_streams(cache):
    state = torch.get_rng_state(), np.random.get_state()[1].copy()
    runcache.run_cache_path("x", trainer(sampler=_shifted(1.0)))
    assert torch.equal(state[0], torch.get_rng_state()) and (state[1] == np.random.get_state()[1]).all()


def test_a_sampler_that_ignores_its_stream_cannot_be_cached(cache):
    def global_noise(n, rng):
        return torch.randn(n, 2)  # the global stream, not rng

    with pytest.raises(ValueError, match="global_noise gave two different batches.*without cache="):
        cached_run(global_noise, name="g")
    assert train.train_gan(*nets(), global_noise, config(), latent_dim=2, progress=False).step == 3  # uncached


# -- the trainer's entry checks of the data -------------------------------------------------------------------
def _list_sampler(n, rng):
    return RING.sample(n, rng).tolist()


def _float64_sampler(n, rng):
    return RING.sample(n, rng).double()


def _wrong_shape_sampler(n, rng):
    return torch.zeros(n, 3)


def _nan_sampler(n, rng):
    x = RING.sample(n, rng)
    x[0, 0] = math.nan
    return x


def _triple_sampler(n, rng):
    x = RING.sample(n, rng)
    return x, x, x


@pytest.mark.parametrize("sampler, error, match", [
    (_list_sampler, TypeError, "_list_sampler returned a list of 16 items: return a tensor"),
    (_float64_sampler, TypeError, "_float64_sampler returned float64 data but the models are float32"),
    (_wrong_shape_sampler, ValueError, r"_wrong_shape_sampler returned samples of shape \(3,\).*\(2,\)"),
    (_nan_sampler, ValueError, "_nan_sampler returned NaN"),
    (_triple_sampler, TypeError, "_triple_sampler returned a tuple of 3 items"),
    (lambda n, rng: RING.sample(n - 1, rng), ValueError, r"batch of shape \(15, 2\): 16 samples were asked"),
])
def test_bad_sampler_output_is_a_clear_error_naming_the_sampler(sampler, error, match):
    with pytest.raises(error, match=match):
        trainer(sampler=sampler).fit(progress=False)


def test_bad_noise_sampler_is_a_clear_error():
    t = train.GANTrainer(*nets(), RING.sample, config(), noise_sampler=lambda n, rng: [0.0] * n)
    with pytest.raises(TypeError, match="noise_sampler .* must return a tensor of 16 codes"):
        t.fit(progress=False)


# -- config, seeds, command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, match", [
    ("betas", None, "betas must be two numbers"), ("betas", (0.5,), "betas"), ("betas", ("a", "b"), "betas"),
    ("betas", (0.5, 1.0), "betas"), ("lr_d", True, "lr_d"), ("lr_g", math.nan, "lr_g"), ("lr_g", "1e-3", "lr_g"),
    ("steps", -1, "steps"), ("steps", 2.0, "steps"), ("batch_size", 0, "batch_size"), ("d_steps", None, "d_steps"),
    ("log_every", 0, "log_every"), ("seed", -1, "seed"), ("seed", 2**64, r"2\*\*64"), ("seed", 1.5, "seed"),
    ("loss", ["ns"], "unknown loss"), ("loss", None, "unknown loss"), ("optimizer", {}, "unknown optimizer"),
    ("precision", 16, "unknown precision"), ("clip_value", "0.01", "clip_value"), ("clip_value", -1, "clip_value"),
    ("ema_decay", 1.0, "ema_decay"), ("ema_decay", [0.9], "ema_decay"), ("historical_weight", None, "historical"),
    ("historical_weight", math.inf, "historical"),
])
def test_every_train_config_field_gets_a_clear_message(field, value, match):
    with pytest.raises(ValueError, match=match):
        train.TrainConfig(**{field: value})


def test_seed_everything_says_the_torch_limit():
    with pytest.raises(ValueError, match=r"\[0, 2\*\*64\).*64-bit"):
        runtime.seed_everything(2**64)
    assert runtime.seed_everything(2**64 - 1).initial_seed() == 2**64 - 1
    assert runtime.seed_everything(np.int64(3)).initial_seed() == 3
    for bad in (-1, 1.0, True, "3", None):
        with pytest.raises(ValueError, match="seed"):
            runtime.seed_everything(bad)


def _cli(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "--seed", "1"], ["run", "nope"], ["run", "minimax", "--profile", "huge"],
    ["run", "minimax", "--seed", "-3"], ["run", "minimax", "--seed", "99999999999999999999"],
    ["run", "minimax", "--seed", "one"], ["run", "minimax", "--bogus"], ["run", "minimax", "extra"],
    ["list", "extra"], ["fly"], ["student-edition", "--bogus-option"],
])
def test_every_usage_error_is_exit_code_2_and_one_line(capsys, argv):
    code, err = _cli(capsys, *argv)
    assert code == 2, (argv, err)
    assert "Traceback" not in err and err.strip()
    if argv[0] != "student-edition":  # its own argparse prints a usage line first
        assert len(err.strip().splitlines()) == 1, err


def test_cli_environment_errors_are_usage_errors(capsys, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "huge")
    code, err = _cli(capsys, "run", "minimax")
    assert code == 2 and "GAN_LESSONS_PROFILE" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("GAN_LESSONS_PROFILE", "quick")
    monkeypatch.setenv("GAN_LESSONS_STEP_SCALE", "5")
    code, err = _cli(capsys, "run", "minimax")
    assert code == 2 and "GAN_LESSONS_STEP_SCALE" in err


def test_cli_seed_help_says_the_range(capsys):
    code, err = _cli(capsys, "run", "minimax", "--seed", str(2**64))
    assert code == 2 and "2**64" in err


def test_student_edition_dependencies_are_declared():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    deps = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert '"nbformat' in deps and '"pyyaml' in deps


# -- metrics ------------------------------------------------------------------------------------------------
def test_parzen_sizes_are_checked_before_allocation():
    c, x = np.zeros((3, 2)), np.zeros((4, 2))
    for bad in (-1, 0, 1.5, None, True):
        with pytest.raises(ValueError, match="batch_size"):
            metrics.parzen_log_likelihood(c, x, 0.5, batch_size=bad)
    assert np.isfinite(metrics.parzen_log_likelihood(c, x, 0.5, batch_size=1)).all()
    with pytest.raises(TypeError, match="sigmas"):
        metrics.parzen_select_sigma(c, x, ["a"])


def test_frechet_distance_refuses_covariances_that_are_not_psd():
    mu = np.zeros(2)
    eye = np.eye(2)
    for bad in (np.diag([1.0, -1.0]), np.array([[1.0, 2.0], [2.0, 1.0]]), -eye):
        with pytest.raises(ValueError, match="not positive semi-definite"):
            metrics.frechet_distance(mu, bad, mu, eye)
        with pytest.raises(ValueError, match="not positive semi-definite"):
            metrics.frechet_distance(mu, eye, mu, bad)
    with pytest.raises(TypeError, match="sigma1"):
        metrics.frechet_distance(mu, "eye", mu, eye)
    with pytest.raises(ValueError, match="d >= 1"):
        metrics.frechet_distance(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)))
    tiny = np.diag([1.0, -1e-12])  # rounding error of a PSD matrix is accepted
    assert metrics.frechet_distance(mu, tiny, mu, tiny) >= 0.0
    rng = np.random.default_rng(0)
    for _ in range(50):  # never negative, for rank-deficient covariances too
        a, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 5))
        assert metrics.frechet_distance(np.zeros(5), a.T @ a, np.zeros(5), b.T @ b) >= 0.0


@pytest.mark.parametrize("images, match", [
    (torch.full((2, 1, 28, 28), math.nan), "NaN or inf"),
    (torch.full((2, 1, 28, 28), math.inf), "NaN or inf"),
    (torch.full((2, 1, 28, 28), 3.0), r"pixels in \[-1, 1\]"),
    (torch.full((2, 1, 28, 28), 255.0), r"rescale"),
])
def test_classifier_helpers_refuse_nan_and_out_of_range_images(monkeypatch, images, match):
    def never(*a, **k):
        raise AssertionError("the classifier must not be needed to refuse bad images")

    monkeypatch.setattr(C, "get_classifier", never)
    for fn in (C.predict, C.recognised_fraction, C.class_entropy, metrics.classifier_features,
               metrics.classifier_logits):
        with pytest.raises(ValueError, match=match if fn.__module__.endswith("classifier") else "finite|range"):
            fn(images)


# -- the classifier cache -----------------------------------------------------------------------------------
def _tiny_digits():
    g = torch.Generator().manual_seed(0)
    return torch.rand(32, 1, 28, 28, generator=g) * 2 - 1, torch.arange(32) % 10


@pytest.fixture
def tiny_classifier(monkeypatch, tmp_path):
    x, y = _tiny_digits()
    monkeypatch.setenv("GAN_LESSONS_DATA", str(tmp_path))
    monkeypatch.setattr(data, "mnist", lambda split="train", **kw: (x, y))
    monkeypatch.setattr(C, "_model", {})
    return C.Recipe(steps=2, batch_size=8), tmp_path


@pytest.mark.parametrize("damage", ["truncate", "flip", "tamper", "foreign", "old-format"])
def test_damaged_classifier_cache_is_retrained_and_repaired(tiny_classifier, monkeypatch, damage):
    recipe, folder = tiny_classifier
    first = {k: v.clone() for k, v in C.get_classifier(recipe, verbose=False).state_dict().items()}
    [path] = list(folder.glob("classifier-*.pt"))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(raw[:50])
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(raw)
    elif damage == "tamper":
        saved = torch.load(path, weights_only=True)
        saved["state"]["fc.weight"].view(-1)[0] += 1
        torch.save(saved, path)
    elif damage == "foreign":
        torch.save({"state": {"w": torch.zeros(1)}, "sha256": "0"}, path)
    else:
        torch.save(first, path)  # a plain state dict, as older versions wrote (no hash): trained again
    monkeypatch.setattr(C, "_model", {})
    with pytest.warns(UserWarning, match="damaged classifier cache"):
        again = C.get_classifier(recipe, verbose=False)
    assert same(first, again.state_dict())
    monkeypatch.setattr(C, "_model", {})
    assert same(first, C._load_cached(path).state_dict())  # repaired


def test_classifier_cache_on_a_full_disk_keeps_the_model(tiny_classifier, monkeypatch):
    recipe, folder = tiny_classifier
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.warns(UserWarning, match="could not cache the classifier"):
        model = C.get_classifier(recipe, verbose=False)
    assert isinstance(model, C.DigitClassifier) and list(folder.iterdir()) == []
    assert C.get_classifier(recipe, verbose=False) is model  # kept for the session, not retrained


def test_classifier_cache_folder_is_a_file(tiny_classifier, monkeypatch, tmp_path):
    recipe, _ = tiny_classifier
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    monkeypatch.setenv("GAN_LESSONS_DATA", str(blocker))
    with pytest.warns(UserWarning, match="could not cache the classifier"):
        assert isinstance(C.get_classifier(recipe, verbose=False), C.DigitClassifier)
    assert blocker.read_text() == "a file"


# -- the MNIST download cache, with no network --------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    import gan_lessons.mnist as M
    import pooch

    monkeypatch.setattr(M, "_loaded", {})
    monkeypatch.setattr(M, "_offline", False)
    monkeypatch.delenv("GAN_LESSONS_OFFLINE", raising=False)
    calls = []

    def retrieve(url, known_hash, fname, path, downloader):
        calls.append(url)
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    return M, calls


def test_mnist_folder_that_is_a_file_falls_back_and_keeps_the_file(no_network, tmp_path, capsys):
    M, calls = no_network
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(M.MNISTDownloadError, match="t10k-images"):
        M.mnist("test", folder=blocker, fallback=False, mirrors=("http://127.0.0.1:9/",))
    assert blocker.read_text() == "not a folder" and calls


def test_mnist_damaged_cache_is_never_used(no_network, tmp_path):
    M, calls = no_network
    folder = tmp_path / "data"
    folder.mkdir()
    for name in M.FILES:
        (folder / name).write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(M.MNISTDownloadError, match="could not get a valid copy"):
        M.mnist("train", folder=folder, fallback=False, mirrors=("http://127.0.0.1:9/",))
    assert calls  # the damaged copy was not trusted: a fresh download was attempted
