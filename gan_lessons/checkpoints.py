"""Saving and loading training runs: atomic checkpoint files and the run cache of :func:`train.train_gan`.

* :func:`atomic_save` writes any ``torch.save``-able object so that a crash mid-write never leaves a half file.
* :func:`run_cache_path` names the file under which a finished run is cached: the run's name plus a SHA-256 of
  everything that decides its result (settings, objective, initial weights, data, fit options, and the source
  of the ``gan_lessons`` modules the run depends on, :func:`source_key`). Editing a plotting helper therefore
  keeps every cached run; editing the trainer, a loss or a model gives new keys, so a cached run is never stale.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path
from dataclasses import asdict
from typing import Any, Iterable

import torch
from torch import Tensor, nn

__all__ = ["atomic_save", "trainer_state", "load_trainer", "load_or_train", "cache_root", "run_cache_path", "run_fingerprint", "source_key", "module_dependencies"]

_PACKAGE = Path(__file__).resolve().parent
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def trainer_state(trainer) -> dict[str, Any]:
    """A :class:`train.GANTrainer`'s full state: weights, optimizers, EMA, historical averages, both random
    streams, history, snapshots and the config it was trained with (checked again on load)."""
    return {
        "step": trainer.step, "G": trainer.G.state_dict(), "D": trainer.D.state_dict(),
        "opt_g": trainer.opt_g.state_dict(), "opt_d": trainer.opt_d.state_dict(),
        "ema": None if trainer.ema is None else trainer.ema.state_dict(),
        "averages": trainer.averages,
        "rng": trainer.rng.get_state(), "torch_rng": torch.get_rng_state(),
        "history": trainer.history.as_dict(), "snapshots": [list(s) for s in trainer.snapshots],
        "config": asdict(trainer.config),
    }


def load_trainer(trainer, path: str | os.PathLike):
    """Resume ``trainer`` from a checkpoint written by ``trainer.save`` (``torch.load(weights_only=True)``).

    All or nothing: if any part of the file does not fit this trainer, every part already loaded is put
    back as it was and the error says so; the trainer is never left half-loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train first with fit(checkpoint_path=...)")
    try:
        state = torch.load(path, map_location=trainer.device, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable gan_lessons checkpoint ({type(err).__name__}); "
                         "delete it or train again") from None
    if not isinstance(state, dict) or state.get("config") != asdict(trainer.config):
        raise ValueError(f"checkpoint {path} was written with a different TrainConfig; "
                         "resume with the same config or start a new run")
    backup = copy.deepcopy(trainer_state(trainer))
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
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"cache must be a short name of letters, digits, '.', '_' or '-', got {name!r}")
    root = cache_root()
    if root is None:
        return None
    return root / "runs" / f"{name}-{run_fingerprint(name, trainer, fit_options or {})[:20]}.pt"


def run_fingerprint(name: str, trainer, fit_options: dict[str, Any]) -> str:
    """SHA-256 over the name, config, objective, device, networks (structure and initial weights), data,
    fit options and :func:`source_key` of the modules the run uses."""
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
    for module in sorted(module_dependencies(modules)):
        h.update(module.encode())
        h.update(_read_source(module))
    return h.hexdigest()


def module_dependencies(modules: Iterable[str]) -> set[str]:
    """The gan_lessons modules in ``modules`` plus all they import at module level, transitively."""
    todo = [m for m in modules if _path_of(m) is not None]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imports_of(module))
    return seen


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
            base = _resolve(package, node.module, node.level)
            found += [base] + [f"{base}.{a.name}" for a in node.names]
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
    return getattr(sampler, "__qualname__", type(sampler).__name__)  # the name must then say which data

