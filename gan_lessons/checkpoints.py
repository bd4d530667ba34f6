"""Checkpoint files of training runs: written atomically, verified and loaded all or nothing.

* :func:`atomic_save` writes any ``torch.save``-able object so that a crash mid-write never leaves a half file.
* :func:`trainer_state` is a trainer's full state with a SHA-256 of its content (:func:`content_hash`);
  :func:`load_trainer` checks keys, config, hash and shapes before it changes anything.
* ``_run_lock`` holds a lock file beside a checkpoint while one process loads it, or trains and writes it.
The run cache of :func:`train.train_gan`, which stores finished runs in such files, is :mod:`gan_lessons.runcache`.
"""
from __future__ import annotations

import collections
import copy
import hashlib
import os
import pickle
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from dataclasses import asdict
from typing import Any

import filelock
import torch
from torch import Tensor

__all__ = ["atomic_save", "trainer_state", "content_hash", "check_snapshots", "load_trainer", "early_stopping"]
LOCK_NOTICE_SECONDS = 5.0  # a run another process is training: say so after this long, then wait for it


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and ``os.replace``."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a file path, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the checkpoint file's path")  # an OSError: see load_or_train
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"cannot save to {path}: a file is where its folder should be; move it or pick "
                                 "another path") from None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # two writers never share one
    try:
        try:
            torch.save(obj, tmp)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise TypeError(f"cannot save a {type(obj).__name__} to {path}: only tensors, numbers, strings and "
                            f"dicts/lists of them can be saved ({err})") from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def _run_lock(path: Path):
    """Hold the lock file ``<path>.lock`` (every process that asks for ``path`` waits for the holder) while a run is
    loaded, or trained and saved there. Where no lock file can be made (a read-only folder), nothing is held."""
    lock = filelock.FileLock(f"{path}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=LOCK_NOTICE_SECONDS)
        except filelock.Timeout:  # (a TimeoutError, so caught before the OSError below)
            print(f"Another process is training this run ({path.name}); waiting for it to finish, then "
                  "loading it.", file=sys.stderr, flush=True)
            lock.acquire()
    except OSError:
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def trainer_state(trainer) -> dict[str, Any]:
    """A :class:`train.GANTrainer`'s full state: weights, optimizers, EMA, historical averages, both random
    streams, history, snapshots and the config it was trained with (checked again on load)."""
    _check_trainer(trainer)
    state = _raw_state(trainer)
    check_snapshots(state["snapshots"])
    state["sha256"] = content_hash(state)
    return state


def content_hash(state: dict[str, Any]) -> str:
    """SHA-256 over every tensor of a checkpoint ``state`` (its key path, dtype, shape and bytes) and the repr of
    every other leaf, in a fixed order; the ``sha256`` entry itself is left out. Stored at save time and checked
    at load time, so a file whose tensor bytes were overwritten is refused."""
    h = hashlib.sha256()

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=repr):
                if not (prefix == "" and key == "sha256"):
                    walk(f"{prefix}/{key!r}", value[key])
        elif isinstance(value, (list, tuple)):
            h.update(f"{prefix}:{type(value).__name__}{len(value)}".encode())
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        elif isinstance(value, Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{prefix}:{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(f"{prefix}={value!r}".encode())

    walk("", state)
    return h.hexdigest()


_SCALARS = (int, float, bool, str, bytes, type(None), complex)  # exact types: numpy's float64 is a float subclass
_OBJECTS = (Tensor, torch.dtype, torch.device)  # but torch.load(weights_only=True) refuses it


def check_snapshots(snapshots, snapshot_fn: Any = None) -> None:
    """Refuse what ``torch.load(weights_only=True)`` could never read back (e.g. numpy arrays) in ``snapshots``
    [(step, value), ...], at save time (and by :meth:`train.GANTrainer.fit` as each is taken, naming
    ``snapshot_fn``), so that a checkpoint is never written that cannot be loaded."""
    def bad(value: Any) -> str | None:
        if type(value) in (dict, collections.OrderedDict):
            return next((b for v in [*value.keys(), *value.values()] if (b := bad(v))), None)
        if type(value) in (list, tuple, torch.Size):
            return next((b for v in value if (b := bad(v))), None)
        ok = type(value) in _SCALARS or isinstance(value, _OBJECTS)
        return None if ok else type(value).__module__ + "." + type(value).__qualname__

    for step, value in snapshots:
        kind = bad(value)
        if kind is not None:
            who = "the snapshot function" if snapshot_fn is None else \
                f"the snapshot function {getattr(snapshot_fn, '__qualname__', None) or type(snapshot_fn).__qualname__}"
            raise TypeError(f"{who} returned a {kind} at step {step}, which a checkpoint cannot "
                            "hold (torch.load(weights_only=True) refuses it): make fit(snapshot=...) return "
                            "tensors, numbers, strings, or lists/dicts of them (torch.as_tensor(array) for a "
                            "numpy array)")


def _raw_state(trainer) -> dict[str, Any]:
    return {
        "step": trainer.step, "G": trainer.G.state_dict(), "D": trainer.D.state_dict(),
        "opt_g": trainer.opt_g.state_dict(), "opt_d": trainer.opt_d.state_dict(),
        "ema": None if trainer.ema is None else trainer.ema.state_dict(),
        "averages": trainer.averages,
        "rng": trainer.rng.get_state(), "torch_rng": torch.get_rng_state(),
        "history": trainer.history.as_dict(), "snapshots": [list(s) for s in trainer.snapshots],
        "config": asdict(trainer.config), "objective": trainer.objective.state_dict(),
    }


_KEYS = ("step", "G", "D", "opt_g", "opt_d", "ema", "averages", "rng", "torch_rng", "history", "snapshots",
         "config", "sha256")


def _verify(trainer, state: Any, path: Path) -> None:
    """Keys, content hash and tensor shapes of a loaded ``state``, checked before anything is changed."""
    damaged = (f"{path} is damaged or not a gan_lessons checkpoint of this version ({{}}); delete it or "
               "train again")
    if not isinstance(state, dict):
        raise ValueError(damaged.format(f"it holds a {type(state).__name__}, not a trainer state"))
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(damaged.format(f"missing {', '.join(missing)}"))
    if state["config"] != asdict(trainer.config):
        raise ValueError(f"checkpoint {path} was written with a different TrainConfig; "
                         "resume with the same config or start a new run")
    if state["sha256"] != content_hash(state):
        raise ValueError(damaged.format("its content does not match the SHA-256 stored when it was saved"))
    for role, net in (("G", trainer.G), ("D", trainer.D), ("ema", trainer.ema)):
        if net is None:
            continue
        want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        have = state[role]
        got = {k: tuple(v.shape) for k, v in have.items() if isinstance(v, Tensor)} if isinstance(have, dict) \
            else None
        if got != want:
            diff = "not a state dict" if got is None else ", ".join(
                f"{k}: {got.get(k)} here {want.get(k)}" for k in sorted(set(got) | set(want))
                if got.get(k) != want.get(k))[:300]
            raise ValueError(f"checkpoint {path} does not fit these models ({role}: {diff}); nothing was loaded. "
                             "Delete it or train again with the networks that wrote it")
    for role, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        have = state[role]
        if not (isinstance(have, dict) and "state" in have and "param_groups" in have
                and len(have["param_groups"]) == len(opt.state_dict()["param_groups"])):
            raise ValueError(damaged.format(f"{role} is not an optimizer state of this trainer"))


def load_trainer(trainer, path: str | os.PathLike):
    """Resume ``trainer`` from a checkpoint written by ``trainer.save`` (``torch.load(weights_only=True)``).

    Verified, then all or nothing: its keys, the SHA-256 of its content (:func:`content_hash`, stored at save
    time) and the shapes of every weight are checked before anything changes; if a part still does not fit,
    every part already loaded is put back as it was and the error says so; the trainer is never left
    half-loaded.
    """
    _check_trainer(trainer)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a checkpoint file path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train first with fit(checkpoint_path=...)")
    try:
        state = torch.load(path, map_location=trainer.device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable gan_lessons checkpoint ({type(err).__name__}); "
                         "delete it or train again") from None
    _verify(trainer, state, path)
    backup = copy.deepcopy(_raw_state(trainer))
    try:
        _apply_state(trainer, state)
    except Exception as err:
        _apply_state(trainer, backup)
        raise ValueError(f"checkpoint {path} does not fit these models ({err}); nothing was loaded. "
                         "Delete it or train again with the networks that wrote it") from None
    return trainer


def _apply_state(trainer, state: dict[str, Any]) -> None:
    from .train import History

    trainer.G.load_state_dict(state["G"])
    trainer.D.load_state_dict(state["D"])
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    if trainer.ema is not None:
        trainer.ema.load_state_dict(state["ema"])
    if trainer.averages is not None:
        trainer.averages = {k: v if isinstance(v, int) else [t.to(trainer.device) for t in v]
                            for k, v in state["averages"].items()}
    trainer.rng.set_state(state["rng"].cpu())
    torch.set_rng_state(state["torch_rng"].cpu())
    trainer.history = History(**state["history"])
    trainer.snapshots = [tuple(s) for s in state["snapshots"]]
    trainer.objective.load_state_dict(state.get("objective", {}))  # absent in checkpoints of earlier versions
    trainer.step = int(state["step"])


def _check_trainer(trainer: Any) -> None:
    from .train import GANTrainer

    if not isinstance(trainer, GANTrainer):
        raise TypeError(f"trainer must be a gan_lessons.train.GANTrainer, got {type(trainer).__name__}")


def early_stopping(scores, patience: int) -> tuple[int, int]:
    """Early stopping on a score per checkpoint, lower is better (an FID): (stop, best) indices.

    Training stops at the first checkpoint ``stop`` that comes ``patience`` checkpoints after the best score so
    far without beating it (a tie does not count as better); ``best`` is the best checkpoint up to ``stop``,
    the one to keep. A run that never waits that long stops at its last checkpoint.
    """
    values = [float(v) for v in scores] if isinstance(scores, (list, tuple)) else None
    if not values or any(v != v for v in values):
        raise ValueError("scores must be a non-empty list of numbers without NaN, one per checkpoint")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be an integer >= 1 (checkpoints to wait for a better score), got {patience!r}")
    best = 0
    for i, v in enumerate(values):
        if v < values[best]:
            best = i
        elif i - best >= patience:
            return i, best
    return len(values) - 1, best

