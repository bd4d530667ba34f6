"""The run cache of :func:`train.train_gan`: a finished run is stored once and loaded by every identical call.

:func:`run_cache_path` names the file of a run: the run's name plus a SHA-256 of everything that decides its
result (settings, objective, initial weights, data, fit options, and the source of the ``gan_lessons`` modules the
run depends on, :func:`source_key`). Editing a plotting helper therefore keeps every cached run; editing the
trainer, a loss or a model gives new keys, so a cached run is never stale. The files are checkpoints of
:mod:`gan_lessons.checkpoints` (verified, loaded all or nothing); :func:`load_or_train` never loses a run to a
failed save. Two processes that ask for the same run at once (two notebooks, or nbval's workers) train it once:
the second waits for the first's file (a lock file beside it, ``checkpoints._run_lock``) and loads it.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from .checkpoints import _check_trainer, _run_lock

__all__ = ["load_or_train", "cache_root", "run_cache_path", "run_fingerprint", "source_key", "module_dependencies"]

_PACKAGE = Path(__file__).resolve().parent
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")


def load_or_train(trainer, path: Path, fit_options: dict[str, Any]):
    """Load the finished run at ``path``; else (missing or unreadable) train it and try to store it there.

    A failed save never loses the trained run: it warns (naming the path and the fix) and returns it.
    """
    _check_trainer(trainer)
    if not isinstance(path, Path) or not isinstance(fit_options, dict):
        raise TypeError(f"path must be a pathlib.Path and fit_options a dict of fit() options, got "
                        f"{type(path).__name__} and {type(fit_options).__name__}")
    with _run_lock(path):  # another process training this run: wait for it, then load its file
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
            name = getattr(value, "__qualname__", None) or f"{type(value).__qualname__}:{_object_key(value)}"
            cells = [c.cell_contents for c in getattr(value, "__closure__", None) or ()]  # a closure's data
            value = (name, _code_key(code) if code else "", _object_key(cells))
        out.append(f"{key}={value!r}")
    return ";".join(out)


def _code_key(code: Any) -> str:
    """A function's bytecode and constants, nested code objects (comprehensions, inner functions) included, without
    the memory addresses that their reprs hold."""
    consts = [_code_key(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}:({', '.join(consts)})"


def _object_key(value: Any, depth: int = 0) -> str:
    """A repr that is the same in every process: an object whose repr is Python's default (it holds a memory
    address, e.g. a snapshot class) is named by its class and its attributes; tensors and random streams by a
    SHA-256 of their contents."""
    if isinstance(value, (Tensor, torch.Generator)):
        t = value.get_state() if isinstance(value, torch.Generator) else value.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()  # any dtype, bfloat16 too
        return f"tensor{tuple(t.shape)}{t.dtype}:{hashlib.sha256(raw).hexdigest()[:16]}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_object_key(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_object_key(v, depth + 1)}" for k, v in sorted(value.items(), key=str)) + "}"
    text = repr(value)
    if " at 0x" not in text:
        return text
    if isinstance(value, nn.Module) or not hasattr(value, "__dict__") or depth > 3:
        return type(value).__qualname__  # a network's weights are the trainer's, fingerprinted on their own
    return f"{type(value).__qualname__}({_object_key(vars(value), depth + 1)})"


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

