"""Saving and loading training runs: atomic checkpoint files and the run cache of :func:`train.train_gan`.

* :func:`atomic_save` writes any ``torch.save``-able object so that a crash mid-write never leaves a half file.
* :func:`run_cache_path` names the file under which a finished run is cached: the run's name plus a SHA-256 of
  everything that decides its result (settings, objective, initial weights, data, fit options, and the source
  of the ``gan_lessons`` modules the run depends on, :func:`source_key`). Editing a plotting helper therefore
  keeps every cached run; editing the trainer, a loss or a model gives new keys, so a cached run is never stale.
"""
from __future__ import annotations

import ast
import collections
import copy
import hashlib
import os
import pickle
import re
import warnings
from functools import lru_cache
from pathlib import Path
from dataclasses import asdict
from typing import Any, Iterable

import torch
from torch import Tensor, nn

__all__ = ["atomic_save", "trainer_state", "content_hash", "check_snapshots", "load_trainer", "load_or_train", "cache_root", "run_cache_path", "run_fingerprint", "source_key", "module_dependencies"]

_PACKAGE = Path(__file__).resolve().parent
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")


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
    tmp = path.with_name(path.name + ".tmp")
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
        "config": asdict(trainer.config),
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
    trainer.step = int(state["step"])


def load_or_train(trainer, path: Path, fit_options: dict[str, Any]):
    """Load the finished run at ``path``; else (missing or unreadable) train it and try to store it there.

    A failed save never loses the trained run: it warns (naming the path and the fix) and returns it.
    """
    _check_trainer(trainer)
    if not isinstance(path, Path) or not isinstance(fit_options, dict):
        raise TypeError(f"path must be a pathlib.Path and fit_options a dict of fit() options, got "
                        f"{type(path).__name__} and {type(fit_options).__name__}")
    if path.is_file():
        try:
            return trainer.load(path)
        except Exception as err:  # a partial or foreign file (load left the trainer as it was): train again
            warnings.warn(f"ignoring unreadable cached run {path} ({err}); training again", stacklevel=3)
    trainer.fit(**fit_options)
    try:
        trainer.save(path)
    except OSError as err:
        warnings.warn(f"could not store the finished run in the run cache at {path} ({err}); the run is "
                      "kept in memory only. Point GAN_LESSONS_CACHE at a writable folder, or set it to 'off'.",
                      stacklevel=3)
    return trainer


def cache_root() -> Path | None:
    """``$GAN_LESSONS_CACHE`` (default ``~/.cache/gan_lessons``); ``None`` when it is ``off``."""
    root = os.environ.get("GAN_LESSONS_CACHE", "").strip()
    if root.lower() in ("0", "off", "false", "no"):
        return None
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_lessons"


def run_cache_path(name: str, trainer, fit_options: dict[str, Any] | None = None) -> Path | None:
    """Where :func:`train.train_gan` keeps the finished run ``name`` of ``trainer`` (``None``: cache off).

    The folder is ``cache_root()/runs``; the file name is ``name`` plus :func:`run_fingerprint`.
    """
    _check_trainer(trainer)
    if fit_options is not None and not isinstance(fit_options, dict):
        raise TypeError(f"fit_options must be a dict of fit() options, got {type(fit_options).__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"cache must be a short name of letters, digits, '.', '_' or '-', got {name!r}")
    root = cache_root()
    if root is None:
        return None
    return root / "runs" / f"{name}-{run_fingerprint(name, trainer, fit_options or {})[:20]}.pt"


def run_fingerprint(name: str, trainer, fit_options: dict[str, Any]) -> str:
    """SHA-256 over the name, config, objective, device, networks (structure and initial weights), data,
    fit options and :func:`source_key` of the modules the run uses."""
    _check_trainer(trainer)
    if not isinstance(name, str) or not isinstance(fit_options, dict):
        raise TypeError(f"name must be a string and fit_options a dict, got {type(name).__name__} and "
                        f"{type(fit_options).__name__}")
    h = hashlib.sha256()
    objects = [trainer.G, trainer.D, trainer.objective, trainer.real_sampler, trainer.noise_sampler,
               *fit_options.values()]
    parts = [name, repr(sorted(vars(trainer.config).items())), repr(trainer.objective), trainer.device.type,
             repr(trainer.G), repr(trainer.D), _fit_options_key(fit_options), _data_key(trainer.real_sampler),
             source_key(["gan_lessons.train", "gan_lessons.data", *_modules_of(objects)])]
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    for net in (trainer.G, trainer.D):
        for key, value in net.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def source_key(modules: Iterable[str]) -> str:
    """SHA-256 of the source files of ``modules`` and of every gan_lessons module they import (at module level)."""
    h = hashlib.sha256()
    for module in sorted(module_dependencies(modules)):  # (module_dependencies checks the argument)
        h.update(module.encode())
        h.update(_read_source(module))
    return h.hexdigest()


def module_dependencies(modules: Iterable[str]) -> set[str]:
    """The gan_lessons modules in ``modules`` plus all they import at module level, transitively."""
    if isinstance(modules, (str, bytes)) or not hasattr(modules, "__iter__"):
        raise TypeError(f"modules must be a list of module names, got {type(modules).__name__}")
    modules = list(modules)
    if not all(isinstance(m, str) for m in modules):
        raise TypeError(f"modules must be a list of module names (strings), got {modules!r}"[:300])
    todo = [m for m in modules if _path_of(m) is not None]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imports_of(module))
    return seen


def _check_trainer(trainer: Any) -> None:
    from .train import GANTrainer

    if not isinstance(trainer, GANTrainer):
        raise TypeError(f"trainer must be a gan_lessons.train.GANTrainer, got {type(trainer).__name__}")


# -- helpers ----------------------------------------------------------------------------------------------
def _read_source(module: str) -> bytes:
    return _path_of(module).read_bytes()


def _path_of(module: str) -> Path | None:
    if not module.startswith("gan_lessons"):
        return None
    parts = module.split(".")[1:]
    file = _PACKAGE.joinpath(*parts).with_suffix(".py") if parts else _PACKAGE / "__init__.py"
    package = _PACKAGE.joinpath(*parts, "__init__.py")
    return file if file.is_file() else (package if package.is_file() else None)


@lru_cache(maxsize=None)
def _imports_cached(module: str, mtime: float) -> tuple[str, ...]:
    path = _path_of(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
        if isinstance(node, ast.ImportFrom):
            base = _resolve(package, node.module, node.level)  # "from . import x" names modules, not the package
            found += ([base] if node.module else []) + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return tuple(m for m in found if _path_of(m) is not None and m != module)


def _imports_of(module: str) -> tuple[str, ...]:
    return _imports_cached(module, _path_of(module).stat().st_mtime)


def _resolve(package: str, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _modules_of(objects: Iterable[Any]) -> set[str]:
    """The gan_lessons modules that define ``objects``: classes of every submodule of a network, an objective's
    class and the classes of its fields, a function's (or bound method's) module."""
    out: set[str] = set()
    for obj in objects:
        items = list(obj.modules()) if isinstance(obj, nn.Module) else [obj, getattr(obj, "__self__", None)]
        items += [getattr(obj, f) for f in getattr(obj, "__dataclass_fields__", ())]
        for item in items:
            for name in (getattr(item, "__module__", None), type(item).__module__):
                if isinstance(name, str) and name.startswith("gan_lessons"):
                    out.add(name)
    return out


def _fit_options_key(options: dict[str, Any]) -> str:
    out = []
    for key, value in sorted(options.items()):
        if key == "progress":  # a progress bar does not change the result
            continue
        if callable(value):  # a snapshot function: its code (and, for an object, its state) decides what is stored
            code = getattr(value, "__code__", None) or getattr(type(value).__call__, "__code__", None)
            name = getattr(value, "__qualname__", None) or f"{type(value).__qualname__}:{value!r}"
            value = (name, code.co_code.hex() if code else "", repr(code.co_consts) if code else "")
        out.append(f"{key}={value!r}")
    return ";".join(out)


def _data_key(sampler: Any) -> str:
    owner = getattr(sampler, "__self__", None)  # a bound method, e.g. data.ring().sample
    if owner is not None and hasattr(owner, "__dataclass_fields__"):
        return repr(owner)
    tensors = [getattr(sampler, "data", None), getattr(sampler, "labels", None)]
    if any(isinstance(t, Tensor) for t in tensors):
        h = hashlib.sha256()
        for t in tensors:
            if isinstance(t, Tensor):
                h.update(str((tuple(t.shape), t.dtype)).encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()
    return _probe_key(sampler)


_PROBE_SEED, _PROBE_SIZE = 20240917, 8


def _probe_key(sampler: Any) -> str:
    """The data of a sampler with nothing to hash (a plain function, a closure): its name and the SHA-256 of a
    small batch it draws from a fixed, separate stream, drawn twice. Two samplers with the same name but other
    data (another closure, a redefined function) give other batches, hence other keys. The global random
    streams are put back afterwards, so fingerprinting never changes a run's numbers. A sampler that does not
    draw only from the stream it is given cannot be told apart from another: refused with a clear message."""
    import random

    import numpy as np

    saved = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        draws = [_batch_bytes(sampler(_PROBE_SIZE, torch.Generator().manual_seed(_PROBE_SEED))) for _ in range(2)]
    finally:
        torch.set_rng_state(saved[0])
        np.random.set_state(saved[1])
        random.setstate(saved[2])
    name = getattr(sampler, "__qualname__", None) or type(sampler).__qualname__
    if draws[0] != draws[1]:
        raise ValueError(f"real_sampler {name} gave two different batches for the same random stream, so the run "
                         "cache cannot tell its data apart from another sampler's: draw only from the rng it is "
                         "passed (torch.randn(..., generator=rng)), or train without cache=")
    return f"{name}:{hashlib.sha256(draws[0]).hexdigest()}"


def _batch_bytes(batch: Any) -> bytes:
    parts = batch if isinstance(batch, (tuple, list)) else [batch]
    out = []
    for part in parts:
        if isinstance(part, Tensor):
            t = part.detach().cpu().contiguous()
            out.append(f"{t.dtype}{tuple(t.shape)}".encode() + t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            out.append(repr(part).encode())
    return b"\0".join(out)

