"""Where and how much to train: device choice, seeding, run profiles and the notebook banner.

One switch decides how much training a chapter does: the environment variable
``GAN_LESSONS_PROFILE`` = ``quick`` | ``full`` | ``auto`` (default). ``auto`` means ``full`` when a
GPU (CUDA or Apple MPS) is present and ``quick`` otherwise. ``quick`` runs the whole book on two CPU
cores in minutes; ``full`` is paper-sized training for a GPU.
"""
from __future__ import annotations

import os
import platform
import random
from typing import Any, Mapping, TypeVar

import numpy as np
import torch

__all__ = [
    "PROFILES",
    "get_device",
    "get_profile",
    "pick",
    "seed_everything",
    "banner",
    "book_seed",
]

PROFILES = ("quick", "full", "auto")
_DEVICES = ("cpu", "cuda", "mps")
T = TypeVar("T")


def get_device(override: str | None = None) -> torch.device:
    """The device to train on: CUDA > MPS > CPU, or ``override`` / ``GAN_LESSONS_DEVICE`` if given."""
    name = override or os.environ.get("GAN_LESSONS_DEVICE") or _best_device()
    kind = name.split(":")[0]
    if kind not in _DEVICES:
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(_DEVICES)} (e.g. 'cuda:0')")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here: use 'cpu'")
    if kind == "mps" and not _mps_available():
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here: use 'cpu'")
    return torch.device(name)


def get_profile(name: str | None = None) -> str:
    """The run profile, ``'quick'`` or ``'full'``, from ``name`` or ``GAN_LESSONS_PROFILE`` (default auto)."""
    name = (name or os.environ.get("GAN_LESSONS_PROFILE") or "auto").strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}: set GAN_LESSONS_PROFILE to one of {', '.join(PROFILES)}"
        )
    if name == "auto":
        return "full" if _best_device() != "cpu" else "quick"
    return name


def pick(quick: T, full: T, profile: str | None = None) -> T:
    """``quick`` or ``full`` by the current profile: ``steps = pick(quick=600, full=20_000)``."""
    return full if get_profile(profile) == "full" else quick


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and GPU); return a fresh ``torch.Generator`` seeded the same.

    On the CPU, a seeded run gives bit-identical numbers each time.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def book_seed() -> int:
    """The seed every chapter trains with: ``GAN_LESSONS_SEED`` (a non-negative integer), default 0."""
    raw = os.environ.get("GAN_LESSONS_SEED", "0").strip() or "0"
    if not raw.isdigit():
        raise ValueError(f"GAN_LESSONS_SEED={raw!r} is not a non-negative integer: unset it or use e.g. 1")
    return int(raw)


def banner(budget: Mapping[str, Any] | None = None, profile: str | None = None,
           device: str | torch.device | None = None) -> str:
    """Print (and return) the line every chapter starts with: profile, device, torch version, budget."""
    prof = get_profile(profile)
    dev = get_device(None if device is None else str(device))
    parts = [f"profile={prof}", f"device={dev}", f"torch={torch.__version__}",
             f"python={platform.python_version()}", f"threads={torch.get_num_threads()}"]
    if budget:
        parts.append("budget: " + ", ".join(f"{k}={v}" for k, v in budget.items()))
    line = "GAN Lessons | " + " | ".join(parts)
    if prof == "quick":
        line += "\n(quick profile: CPU-sized runs. Set GAN_LESSONS_PROFILE=full on a GPU for paper-sized training.)"
    print(line)
    return line


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available():
        return "mps"
    return "cpu"
