"""Benchmark: one DCGAN training step (the book's trainer) on the CPU, against the GEMM peak and a textbook loop.

    python benchmarks/dcgan_step.py [--steps 30] [--batch-size 64] [--width 32] [--threads 0] [--rounds 5]

* ``fraction_of_gemm_peak``: FLOPs of one step (counted with ``torch.utils.flop_counter.FlopCounterMode``:
  matmuls and convolutions, forward and backward) divided by the measured time per step, over the machine's fp32
  matrix-multiply rate measured in the same run (1024 x 1024 ``torch.mm``).
* ``ratio_vs_textbook``: our steps per second over those of a textbook loop with the identical architecture and
  batch size: a ``DataLoader`` over the same tensors (shuffled), a ``Sigmoid`` at D's output and ``nn.BCELoss``.
  Both loops are timed in alternating chunks in one run (the fastest chunk of each counts).

Targets (issue 5): fraction_of_gemm_peak >= 0.8, ratio_vs_textbook >= 1.0. Timings depend on the machine and its
load, so the JSON records the load average and the thread count. Prints one JSON object as its last line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons import data, models, train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fastest_alternating  # noqa: E402

LATENT = 64


def gemm_flops_per_second(n: int = 1024, repeats: int = 20) -> float:
    """The fp32 matrix-multiply rate of this machine: best of ``repeats`` n x n products (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def our_trainer(images: torch.Tensor, batch_size: int, width: int) -> train.GANTrainer:
    torch.manual_seed(0)
    G, D = models.DCGANGenerator(LATENT, width), models.DCGANDiscriminator(width)
    cfg = train.TrainConfig(steps=10**9, batch_size=batch_size, seed=0)
    return train.GANTrainer(G, D, data.TensorSampler(images), cfg, latent_dim=LATENT, device="cpu")


def flops_per_step(trainer: train.GANTrainer) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer._one_step()
    return counter.get_total_flops()


def textbook_step(images: torch.Tensor, batch_size: int, width: int):
    """One step of the loop most tutorials show: DataLoader, sigmoid + BCELoss, fresh label tensors each step."""
    torch.manual_seed(0)
    G = models.DCGANGenerator(LATENT, width)
    D = nn.Sequential(models.DCGANDiscriminator(width), nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=batch_size,
                                         shuffle=True, drop_last=True)

    def batches():
        while True:
            yield from loader

    it = batches()

    def step():
        (real,) = next(it)
        D.zero_grad()
        out_real = D(real)
        loss_real = bce(out_real, torch.ones(batch_size))
        fake = G(torch.randn(batch_size, LATENT))
        loss_fake = bce(D(fake.detach()), torch.zeros(batch_size))
        (loss_real + loss_fake).backward()
        opt_d.step()
        G.zero_grad()
        loss_g = bce(D(fake), torch.ones(batch_size))
        loss_g.backward()
        opt_g.step()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per loop (default 30)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32, help="DCGAN width (models.DCGANGenerator)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed chunks per loop (fastest counts)")
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.width, args.rounds) < 1 or args.threads < 0:
        parser.error("--steps, --batch-size, --width and --rounds must be positive, --threads >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    images = torch.rand(4000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    peak = gemm_flops_per_second()
    trainer = our_trainer(images, args.batch_size, args.width)
    textbook = textbook_step(images, args.batch_size, args.width)
    for _ in range(3):
        trainer._one_step()  # warm-up
        textbook()
    flops = flops_per_step(trainer)
    chunk = max(1, args.steps // args.rounds)  # steps per timed chunk; the fastest chunk of each loop counts
    seconds, textbook_seconds = (t / chunk for t in fastest_alternating(
        [lambda: [trainer._one_step() for _ in range(chunk)], lambda: [textbook() for _ in range(chunk)]],
        args.rounds))
    ours = 1.0 / seconds
    peak_after = gemm_flops_per_second()  # the load may change during the run: use the better estimate
    peak = max(peak, peak_after)
    result = {
        "fraction_of_gemm_peak": round(flops / seconds / peak, 4),
        "ratio_vs_textbook": round(textbook_seconds / seconds, 4),
        "flops_per_step": flops, "seconds_per_step": round(seconds, 5), "steps_per_second": round(ours, 3),
        "textbook_steps_per_second": round(1.0 / textbook_seconds, 3), "rounds": args.rounds,
        "gemm_gflops": round(peak / 1e9, 2),
        "batch_size": args.batch_size, "width": args.width, "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "target": {"fraction_of_gemm_peak": 0.8, "ratio_vs_textbook": 1.0},
    }
    print(json.dumps(result))
    return 0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
