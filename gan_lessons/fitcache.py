"""The run cache for a network trained outside the GAN trainer (chapter 10's plain VAE), the twin of
:mod:`gan_lessons.runcache` (which stores whole :class:`train.GANTrainer` runs): the same folder, the same kind
of key (settings, initial weights, data and the source of the modules the network is built from), the same
verified, atomic files, and a failed save never loses the trained network.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .checkpoints import atomic_save, content_hash
from .runcache import _NAME, _modules_of, _object_key, cache_root, source_key

__all__ = ["load_or_fit"]


def load_or_fit(name: str, model: nn.Module, settings: dict[str, Any], data: Tensor,
                fit: Callable[[], Any]) -> nn.Module:
    """Load ``model``'s trained weights from ``cache_root()/runs/<name>-<key>.pt`` when a run with the same name,
    settings, network (structure and initial weights), ``data`` and :func:`runcache.source_key` of the network's
    modules stored them; else call ``fit()``, which trains ``model`` in place, and store its weights. A damaged
    file is trained again; a failed save warns and keeps the model. Returns the model, in eval mode."""
    if not isinstance(model, nn.Module) or not isinstance(data, Tensor) or not callable(fit):
        raise TypeError(f"model must be a torch.nn.Module, data a Tensor and fit a function that trains the model, "
                        f"got {type(model).__name__}, {type(data).__name__} and {type(fit).__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(settings, dict):
        raise ValueError(f"name must be a short name of letters, digits, '.', '_' or '-' and settings a dict, got "
                         f"{name!r} and {type(settings).__name__}")
    root = cache_root()
    path = None if root is None else root / "runs" / f"{name}-{_key(name, model, settings, data)[:20]}.pt"
    if path is not None and path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("sha256") != content_hash(state):
                raise ValueError("its content does not match the SHA-256 stored when it was saved")
            model.load_state_dict(state["model"])  # checks every name and shape
            return model.eval()
        except Exception as err:  # a partial or foreign file: train again
            warnings.warn(f"ignoring unreadable cached run {path} ({err}); training again", stacklevel=2)
    fit()
    if path is not None:
        _store(name, model, path)
    return model.eval()


def _key(name: str, model: nn.Module, settings: dict[str, Any], data: Tensor) -> str:
    """SHA-256 over the name, settings, the network's structure and initial weights, the data and the source."""
    parts = [name, _object_key(settings), repr(model), _object_key(list(model.state_dict().items())),
             _object_key(data), source_key(_modules_of([model]))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _store(name: str, model: nn.Module, path) -> None:
    state = {"model": model.state_dict()}
    state["sha256"] = content_hash(state)
    try:
        atomic_save(state, path)
    except OSError as err:
        warnings.warn(f"could not store the trained {name} in the run cache at {path} ({err}); it is kept in memory "
                      "only. Point GAN_LESSONS_CACHE at a writable folder, or set it to 'off'.", stacklevel=3)
