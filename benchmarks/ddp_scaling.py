"""Benchmark: data-parallel DCGAN training (``gan_lessons ddp`` under torchrun) with 1, 2, ... N processes.

    python benchmarks/ddp_scaling.py [--nprocs 1,2] [--steps 30] [--batch-per-process 32] [--width 16]
    python benchmarks/ddp_scaling.py --nprocs 1,2,4,8 --batch-per-process 128 --width 64   # an 8-GPU box

Each process keeps its batch (weak scaling: the global batch is ``batch_per_process * N``); every run is one
``torchrun --standalone --nproc_per_node=N -m gan_lessons ddp`` launch (gloo on CPUs, nccl on GPUs) on seeded
random images, timed inside the trainer (``samples_per_s``: global samples per second of ``fit``, launch and
warm-up excluded). ``speedup_N`` = samples/s with N processes / samples/s with 1 process (ideal: N), and
``efficiency_N`` = speedup_N / N.
The runs alternate for ``--rounds`` rounds and the best of each counts. On CPUs every process gets
one thread (``--threads``; torchrun sets OMP_NUM_THREADS=1 only for N > 1, so it is passed explicitly and
the 1-process run is not oversubscribed), so N processes need N free cores: on a shared machine the numbers say
more about the load than about DDP; the JSON records the machine and its load average. Last stdout line: JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons import distributed  # noqa: E402


def run_once(nproc: int, steps: int, batch_per_process: int, width: int, timeout: float,
             threads: int = 1) -> float:
    """Global samples per second of one torchrun launch with ``nproc`` processes."""
    argv = ["--data", "random", "--quiet", "--steps", str(steps), "--batch-size", str(batch_per_process * nproc),
            "--width", str(width), "--threads", str(threads)]
    return float(distributed.launch(argv, nproc=nproc, timeout_s=timeout)["samples_per_s"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--nprocs", default="1,2", help="comma-separated process counts (default 1,2)")
    p.add_argument("--steps", type=int, default=30, help="generator updates per launch")
    p.add_argument("--batch-per-process", type=int, default=32)
    p.add_argument("--width", type=int, default=16, help="DCGAN width (models.DCGANGenerator)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each counts")
    p.add_argument("--timeout", type=float, default=600, help="seconds per launch")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.nprocs.split(",")]
    if not counts or min(counts) < 1 or args.rounds < 1 or args.steps < 1:
        p.error("--nprocs must list positive integers; --rounds and --steps must be >= 1")
    best = {n: 0.0 for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            best[n] = max(best[n], run_once(n, args.steps, args.batch_per_process, args.width, args.timeout,
                                            args.threads))
    import torch

    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "gpus": torch.cuda.device_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared machine: other jobs ran at the same time" if os.getloadavg()[0] > 1
                    else "idle machine"},
        "steps": args.steps, "threads_per_process": args.threads,
        "batch_per_process": args.batch_per_process, "width": args.width,
        "samples_per_s": {str(n): round(v, 1) for n, v in best.items()},
    }
    if 1 in best:
        for n in counts:
            if n > 1:
                result[f"speedup_{n}"] = round(best[n] / best[1], 3)
                result[f"efficiency_{n}"] = round(best[n] / (n * best[1]), 3)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
