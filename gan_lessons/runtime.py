"""Where and how much to train: device choice, seeding, run profiles and the notebook banner.

One switch decides how much training a chapter does: the environment variable
``GAN_LESSONS_PROFILE`` = ``quick`` | ``full`` | ``auto`` (default). ``auto`` means ``full`` when a
GPU (CUDA or Apple MPS) is present and ``quick`` otherwise. ``quick`` runs the whole book on two CPU
cores in minutes; ``full`` is paper-sized training for a GPU.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import time
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Mapping, TypeVar

import numpy as np
import torch

from .checks import check_seed

__all__ = [
    "PROFILES",
    "get_device",
    "get_profile",
    "pick",
    "seed_everything",
    "banner",
    "book_seed",
    "progress_bar",
    "Budget",
    "sized",
    "step_scale",
    "one_thread",
    "is_small",
    "SMALL_MODEL_PARAMETERS",
    "ThreadPolicy",
    "cpu_load",
    "native_bf16",
    "image_precision",
]

PROFILES = ("quick", "full", "auto")
_DEVICES = ("cpu", "cuda", "mps")
T = TypeVar("T")


def get_device(override: str | None = None) -> torch.device:
    """The device to train on: CUDA > MPS > CPU, or ``override`` / ``GAN_LESSONS_DEVICE`` if given."""
    if override is not None and not isinstance(override, str):
        raise TypeError(f"device must be a name such as 'cpu' or 'cuda:0', got {type(override).__name__}")
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
    if name is not None and not isinstance(name, str):
        raise TypeError(f"profile must be one of {', '.join(PROFILES)}, got {type(name).__name__}")
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


def step_scale() -> float:
    """``GAN_LESSONS_STEP_SCALE`` (default 1): multiplies every training-step count of every budget.

    For smoke runs of the full profile on a CPU: ``GAN_LESSONS_PROFILE=full GAN_LESSONS_STEP_SCALE=0.01`` keeps
    the full networks, data and sample counts and trains 1 % of the steps. Must be in (0, 1].
    """
    text = os.environ.get("GAN_LESSONS_STEP_SCALE", "").strip() or "1"
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not 0 < scale <= 1:
        raise ValueError(f"GAN_LESSONS_STEP_SCALE must be a number in (0, 1], got {text!r}")
    return scale


def sized(quick: Any, full: Any, *, steps: bool = False, minimum: int = 1, multiple: int = 1):
    """A :class:`Budget` field with its quick and full values; ``steps=True`` marks a count of training steps,
    which :func:`step_scale` scales (never below ``minimum``, rounded down to a ``multiple`` of a block)."""
    return field(default=quick, metadata={"quick": quick, "full": full, "steps": steps, "minimum": minimum,
                                          "multiple": multiple})


@dataclass(frozen=True)
class Budget(Mapping):
    """How much a chapter trains and measures: one frozen dataclass whose fields are :func:`sized` pairs of
    quick and full values. Build it with ``Budget.of(profile, **overrides)``; read it as ``b.steps`` or
    ``b["steps"]`` (it is a read-only mapping, so ``runtime.banner(b)`` prints it)."""

    profile: str = "quick"

    @classmethod
    def of(cls, profile: str | None = None, **overrides: Any) -> "Budget":
        """The budget for ``profile`` (default: the current one); ``overrides`` replace single values
        (None keeps the profile's value; any other value is used as given and validated)."""
        prof = get_profile(profile)
        values = {f.name: _profile_value(f, prof) for f in fields(cls) if f.name != "profile"}
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise ValueError(f"{cls.__name__} has no setting {', '.join(unknown)}: use {', '.join(values)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        for name, value in given.items():
            _check_override(cls, name, value, values[name])
        values.update(cls.derive(prof, given))
        values.update(given)
        return cls(profile=prof, **values)

    @classmethod
    def derive(cls, profile: str, given: dict[str, Any]) -> dict[str, Any]:
        """Values that follow from overridden ones (a subclass's hook; none by default)."""
        return {}

    def __getitem__(self, key: str) -> Any:
        if key == "profile" or key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return (f.name for f in fields(self) if f.name != "profile")

    def __len__(self) -> int:
        return len(fields(self)) - 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and GPU); return a fresh ``torch.Generator`` seeded the same.

    On the CPU, a seeded run gives bit-identical numbers each time.
    """
    seed = check_seed("seed", seed)
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
           device: str | torch.device | None = None, precision: bool = False) -> str:
    """Print (and return) the line every chapter starts with: profile, device, torch version, budget, and with
    ``precision=True`` (a chapter whose image GANs follow :func:`image_precision`) the precision they train in."""
    if not isinstance(precision, bool):
        raise TypeError(f"precision must be True or False, got {type(precision).__name__}")
    prof = get_profile(profile)
    dev = get_device(None if device is None else str(device))
    parts = [f"profile={prof}", f"device={dev}", f"torch={torch.__version__}",
             f"python={platform.python_version()}", f"threads={torch.get_num_threads()}"]
    if precision:
        image = image_precision(dev)
        parts.append(f"image GANs in {image['precision']}{' + channels_last' if image['channels_last'] else ''} "
                     f"({image['why']})")
    if step_scale() != 1:
        parts.append(f"step scale={step_scale():g} (GAN_LESSONS_STEP_SCALE)")
    if budget:
        parts.append("budget: " + ", ".join(f"{k}={v}" for k, v in budget.items()))
    line = "GAN Lessons | " + " | ".join(parts)
    if prof == "quick":
        line += "\n(quick profile: CPU-sized runs. Set GAN_LESSONS_PROFILE=full on a GPU for paper-sized training.)"
    print(line)
    return line


def progress_bar(total: int, initial: int = 0, enabled: bool = True, desc: str = "training"):
    """A tqdm bar (notebook or terminal); off when ``enabled`` is False or ``GAN_LESSONS_PROGRESS=0``."""
    from tqdm.auto import tqdm

    disable = not enabled or os.environ.get("GAN_LESSONS_PROGRESS", "1") == "0"
    return tqdm(total=total, initial=initial, disable=disable, desc=desc, unit="step", leave=False)


SMALL_MODEL_PARAMETERS = 100_000  # below this (G and D together) a CPU run trains on one thread


def one_thread(enabled: bool = True) -> contextlib.AbstractContextManager:
    """The block runs on one torch thread (the count is restored after it); ``enabled=False``: unchanged.

    The thread policy for small models on a CPU (``benchmarks/thread_policy.py``): a second thread makes
    their steps no faster on an idle machine, and beside one other busy process it makes them several times
    slower, since the two threads wait for each other on a core that is taken. It is :class:`ThreadPolicy`
    for small networks, for blocks that are not training loops (sampling, classifying).
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {type(enabled).__name__}")
    return ThreadPolicy(True) if enabled else contextlib.nullcontext()


def is_small(*modules: torch.nn.Module, device: torch.device | str = "cpu") -> bool:
    """Whether networks with these parameters on ``device`` fall under the one-thread policy (CPU only)."""
    if not all(isinstance(m, torch.nn.Module) for m in modules):
        raise TypeError("is_small takes networks (torch.nn.Module), e.g. is_small(trainer.G, trainer.D)")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a name such as 'cpu' or a torch.device, got {type(device).__name__}")
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use e.g. 'cpu', 'cuda:0' or 'mps'") from None
    if kind != "cpu":
        return False
    return sum(p.numel() for m in modules for p in m.parameters()) < SMALL_MODEL_PARAMETERS


LOAD_CHECK_SECONDS = 2.0  # how often a CPU training loop re-reads the machine's load (ThreadPolicy)


def cpu_load() -> tuple[float, float, float] | None:
    """(wall seconds, CPU seconds used by every process, CPU seconds used by this one) now, from ``psutil``;
    None where psutil is missing or cannot read them. Two readings give the other processes' load in cores:
    (delta all - delta this) / delta wall (:class:`ThreadPolicy`)."""
    try:
        import psutil

        every = psutil.cpu_times()
        mine = psutil.Process().cpu_times()
    except Exception:  # psutil absent, or an OS that hides the counters: no load-aware policy
        return None
    # busy = time the processes of this machine ran: not idle, not waiting on disks, not taken by the hypervisor
    # (steal), and guest time only once (Linux counts it in user time too)
    busy = sum(every) - sum(getattr(every, name, 0.0) for name in ("idle", "iowait", "steal", "guest", "guest_nice"))
    return time.monotonic(), busy, mine.user + mine.system


class ThreadPolicy:
    """How many torch threads a CPU training loop uses, step by step (``benchmarks/thread_policy.py``).

    - Small networks (``small=True``, see :func:`is_small`) train on one thread throughout.
    - Larger ones (chapter 5's DCGAN) start on torch's count and, every ``check_every`` seconds of training,
      re-read the machine's load (:func:`cpu_load`): with ``others`` cores' worth of work from other processes
      on ``cores`` cores, the loop uses ``max(1, min(torch's count, round(cores - others)))`` threads. Beside
      one busy process on two cores that is one thread: two threads would wait for each other on the taken
      core (a DCGAN step 2.2x to 4.8x slower, measured on two 2-core CPUs); on an idle machine it is torch's
      count again.

    Use it as a context manager around the loop and call :meth:`check` once per step; the count torch had is
    restored on exit. Where psutil cannot read the load, larger networks keep torch's count. ``load`` (a
    callable like :func:`cpu_load`) and ``cores`` are for tests. The count can change during a run, and with it
    the numbers: the CPU's kernels split some sums by thread, so a run on a busy machine can print other numbers
    than an idle run (``benchmarks/dcgan_threads.md``: chapter 5's DCGAN trained on 1 and on 2 threads draws
    different digits). ``OMP_NUM_THREADS=1`` (as nbval runs) holds every run on one thread, whatever the load.
    """

    def __init__(self, small: bool, check_every: float = LOAD_CHECK_SECONDS, *, load=None,
                 cores: int | None = None) -> None:
        if not isinstance(small, bool):
            raise TypeError(f"small must be True or False (see runtime.is_small), got {type(small).__name__}")
        if isinstance(check_every, bool) or not isinstance(check_every, (int, float)) or not check_every > 0 \
                or not math.isfinite(check_every):
            raise ValueError(f"check_every must be a number of seconds > 0, got {check_every!r}")
        if load is not None and not callable(load):
            raise TypeError(f"load must be a callable like runtime.cpu_load, got {type(load).__name__}")
        if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int) or cores < 1):
            raise ValueError(f"cores must be a whole number >= 1, got {cores!r}")
        self.small, self.check_every = small, float(check_every)
        self._load = cpu_load if load is None else load
        self.cores = cores if cores is not None else _usable_cores()
        self.before: int | None = None
        self.most = 1
        self._last: tuple[float, float, float] | None = None

    @classmethod
    def of(cls, *modules: torch.nn.Module, device: torch.device | str = "cpu") -> "ThreadPolicy":
        """The policy for training these networks on ``device``: on a CPU as above (small by
        :func:`is_small`); on a GPU it leaves torch's thread count alone."""
        small = is_small(*modules, device=device)  # checks the arguments
        return cls(small, load=cpu_load if torch.device(device).type == "cpu" else _no_load)

    def __enter__(self) -> "ThreadPolicy":
        self.before = torch.get_num_threads()
        self.most = 1 if self.small else self.before
        if self.most != self.before:
            torch.set_num_threads(self.most)
        self._last = self._load() if self.most > 1 else None
        return self

    def __exit__(self, *exc) -> None:
        if self.before is not None and torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)

    def check(self) -> int:
        """Re-read the load if ``check_every`` seconds have passed since the last reading and set the thread
        count it calls for; return the count in use."""
        if self._last is None:
            return torch.get_num_threads()
        now = self._load()
        if now is None:
            self._last = None
            return torch.get_num_threads()
        wall = now[0] - self._last[0]
        if wall < self.check_every:
            return torch.get_num_threads()
        others = max(0.0, ((now[1] - self._last[1]) - (now[2] - self._last[2])) / wall)  # cores, other processes
        self._last = now
        threads = max(1, min(self.most, int(math.floor(self.cores - others + 0.5))))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads


def _no_load() -> None:
    return None


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FEATURES = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")  # keys of torch.cpu.get_capabilities()


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX on x86, BF16 on Arm), the only CPUs
    where bf16 is faster than fp32 (``torch.cpu.get_capabilities()``; False where torch cannot say)."""
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    return any(bool(caps.get(name)) for name in NATIVE_BF16_FEATURES)


def image_precision(device: torch.device) -> dict[str, Any]:
    """How the book's convolutional image GANs train on ``device``: ``{"precision", "channels_last", "why"}``.

    Chosen by measurement (``benchmarks/dcgan_step.py``, side by side): a GPU, or a CPU with native bf16, trains
    in bf16 autocast with channels_last weights (faster than fp32 there); other CPUs keep plain fp32 and NCHW,
    where bf16 is emulated and slower. ``GAN_LESSONS_PRECISION=fp32`` (or ``bf16``) fixes
    the choice on every machine, e.g. to train in one precision on every laptop of a class.
    """
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device (runtime.get_device()), got {type(device).__name__}")
    asked = (os.environ.get("GAN_LESSONS_PRECISION") or "auto").strip().lower()
    if asked not in PRECISIONS:
        raise ValueError(f"GAN_LESSONS_PRECISION={asked!r}: use one of {', '.join(PRECISIONS)} (default auto)")
    fast = device.type == "cuda" or (device.type == "cpu" and native_bf16())
    if asked != "auto":
        why = "GAN_LESSONS_PRECISION"
    else:
        why = {"cuda": "GPU", "cpu": "CPU with native bf16" if fast else "CPU without native bf16"}.get(
            device.type, f"{device.type}: fp32")
        asked = "bf16" if fast else "fp32"
    return {"precision": asked, "channels_last": asked == "bf16", "why": why}


def _profile_value(f, profile: str) -> Any:
    value = f.metadata["full"] if profile == "full" else f.metadata["quick"]
    if f.metadata["steps"]:
        block = f.metadata["multiple"]
        value = max(f.metadata["minimum"], round(value * step_scale()) // block * block)
    return value


def _check_override(cls: type, name: str, value: Any, default: Any) -> None:
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return
    if isinstance(value, bool) or not isinstance(value, type(default) if isinstance(default, int) else (int, float)):
        raise ValueError(f"{cls.__name__}.{name} must be a {type(default).__name__}, got {value!r}")
    minimum = cls.__dataclass_fields__[name].metadata.get("minimum", 1) if isinstance(default, int) else 0
    if not (value >= minimum and math.isfinite(value)):
        raise ValueError(f"{cls.__name__}.{name} must be >= {minimum}, got {value!r} "
                         "(leave it out, or pass None, for the profile's value)")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available():
        return "mps"
    return "cpu"
