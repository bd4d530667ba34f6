"""Timing helper shared by the benchmarks (a private module: ``run_all.py`` does not run ``_*.py`` files)."""
from __future__ import annotations

import time
from typing import Callable, Sequence


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
