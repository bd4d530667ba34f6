"""Timing helpers shared by the benchmarks (a private module: ``run_all.py`` does not run ``_*.py`` files)."""
from __future__ import annotations

import multiprocessing as mp
import time
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def fastest_alternating(chunks: Sequence[Callable[[], object]], rounds: int) -> list[float]:
    """Run every callable once per round, in turn, for ``rounds`` rounds; return each one's fastest wall time.

    Alternating exposes all of them to the same background load; the minimum drops the rounds that a busy
    machine slowed down. Ratios of the returned times are what the benchmarks report.
    """
    if rounds < 1 or not chunks:
        raise ValueError("need at least one callable and one round")
    best = [float("inf")] * len(chunks)
    for _ in range(rounds):
        for i, chunk in enumerate(chunks):
            start = time.perf_counter()
            chunk()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _spin(stop) -> None:
    """A CPU-bound process: the other program a student's machine is running."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def beside_busy(fn: Callable[[], T], processes: int = 1) -> T:
    """fn() while ``processes`` CPU-bound processes spin beside it (stopped afterwards, whatever happens)."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    workers = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(processes)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)  # let them reach full speed
        return fn()
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
