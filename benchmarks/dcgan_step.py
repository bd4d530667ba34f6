"""Benchmark: one DCGAN training step (the book's trainer) on the CPU, per precision, against a textbook loop.

    python benchmarks/dcgan_step.py [--steps 30] [--batch-size 64] [--width 32] [--threads 0] [--rounds 5]

The book's trainer is timed in four settings, side by side in alternating chunks (the fastest chunk of each
counts): today's eager fp32 (NCHW), fp32 with channels_last weights, bf16 autocast, and bf16 autocast with
channels_last. ``runtime.image_precision`` picks one of them for this machine (bf16 + channels_last where the CPU
has native bf16, fp32 elsewhere); the benchmark checks the pick against the measurement.

* ``policy_speedup``: today's eager fp32 step time over the step time of the setting the policy picks. Target
  (issue 17): >= 1.8 where the CPU has native bf16, >= 1.15 elsewhere. ``fastest_setting`` names the setting
  measured fastest here, and ``speedup_<setting>`` gives each one's ratio.
* ``policy_fraction_of_matmul_rate``: FLOPs of one step (``torch.utils.flop_counter.FlopCounterMode``: matmuls and
  convolutions, forward and backward) over the policy's step time, divided by the machine's dense matrix-multiply
  rate *in the precision used* (1024 x 1024 ``torch.mm`` in fp32 or bf16, measured in the same run). Reported,
  with no target: 4x4 convolutions with 1-64 channels cannot run at dense-GEMM rates.
  ``fraction_of_gemm_peak`` is the same for today's fp32 step.
* ``chapter_seconds_per_step``: the chapter's own step, which adds the R1 penalty to D's loss, with R1 on every D
  update and lazy (the budget's ``r1_every``), in fp32 and in the policy's setting; ``chapter_speedup`` is fp32 with
  R1 on every update (the chapter before lazy R1) over the policy's setting with lazy R1 (the chapter now).
* ``ratio_vs_textbook``: today's fp32 steps per second over those of a textbook loop with the identical
  architecture and batch size: a ``DataLoader`` over the same tensors (shuffled), a ``Sigmoid`` at D's output and
  ``nn.BCELoss``. Target: >= 1.0.

Timings depend on the machine and its load, so the JSON records the CPU, whether it has native bf16, the load
average and the thread count. Prints one JSON object as its last line.
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

from gan_lessons import data, models, objectives, runtime, train  # noqa: E402
from gan_lessons.experiments import dcgan  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fastest_alternating  # noqa: E402
from run_all import describe_machine  # noqa: E402 - a sibling script

LATENT = 64


SETTINGS = {"fp32": ("fp32", False), "fp32+channels_last": ("fp32", True), "bf16": ("bf16", False),
            "bf16+channels_last": ("bf16", True)}  # name -> (TrainConfig.precision, channels_last weights)


def gemm_flops_per_second(n: int = 1024, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """The matrix-multiply rate of this machine in ``dtype``: best of ``repeats`` n x n products (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def our_trainer(images: torch.Tensor, batch_size: int, width: int, precision: str = "fp32",
                channels_last: bool = False, r1_every: int = 0) -> train.GANTrainer:
    """The book's trainer on the DCGAN; ``r1_every`` > 0 adds the chapter's R1 penalty (its budget's gamma) on every
    ``r1_every``-th D update (0: no penalty, the paper's discriminator)."""
    torch.manual_seed(0)
    G, D = models.DCGANGenerator(LATENT, width), models.DCGANDiscriminator(width)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    cfg = train.TrainConfig(steps=10**9, batch_size=batch_size, seed=0, precision=precision)
    gamma = dcgan.budget("quick")["r1_weight"] if r1_every else 0.0
    objective = objectives.JSObjective(r1_weight=gamma, r1_every=max(r1_every, 1))
    return train.GANTrainer(G, D, data.TensorSampler(images), cfg, latent_dim=LATENT, device="cpu",
                            objective=objective)


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
    policy = runtime.image_precision(torch.device("cpu"))
    picked = next(k for k, v in SETTINGS.items() if v == (policy["precision"], policy["channels_last"]))
    trainers = {name: our_trainer(images, args.batch_size, args.width, *setting) for name, setting in SETTINGS.items()}
    lazy = dcgan.budget("quick")["r1_every"]
    r1_trainers = {f"{setting} {label}": our_trainer(images, args.batch_size, args.width, *SETTINGS[setting], every)
                   for setting in dict.fromkeys(["fp32", picked]) for label, every in
                   (("R1 every update", 1), (f"lazy R1 every {lazy}", lazy))}
    trainers.update(r1_trainers)
    textbook = textbook_step(images, args.batch_size, args.width)
    for _ in range(3):
        for t in trainers.values():
            t._one_step()  # warm-up
        textbook()
    flops = flops_per_step(trainers["fp32"])
    chunk = max(1, args.steps // args.rounds)  # steps per timed chunk; the fastest chunk of each loop counts
    loops = [lambda t=t: [t._one_step() for _ in range(chunk)] for t in trainers.values()]
    times = fastest_alternating(loops + [lambda: [textbook() for _ in range(chunk)]], args.rounds)
    seconds = {name: t / chunk for name, t in zip(trainers, times)}
    chapter = {name: round(seconds.pop(name), 5) for name in r1_trainers}  # the chapter's step, R1 included
    textbook_seconds = times[-1] / chunk
    rate_dtype = torch.bfloat16 if policy["precision"] == "bf16" else torch.float32
    peak = max(gemm_flops_per_second(), gemm_flops_per_second())  # the load may change: the better estimate
    policy_peak = peak if rate_dtype == torch.float32 else max(gemm_flops_per_second(dtype=rate_dtype) for _ in "ab")
    base = seconds["fp32"]
    result = {
        "policy": picked, "policy_why": policy["why"], "native_bf16": runtime.native_bf16(),
        "policy_speedup": round(base / seconds[picked], 4),
        "fastest_setting": min(seconds, key=seconds.get),
        **{f"speedup_{name.replace('+', '_')}": round(base / t, 4) for name, t in seconds.items() if name != "fp32"},
        "policy_fraction_of_matmul_rate": round(flops / seconds[picked] / policy_peak, 4),
        "fraction_of_gemm_peak": round(flops / base / peak, 4),
        "ratio_vs_textbook": round(textbook_seconds / base, 4),
        "chapter_seconds_per_step": chapter,
        "chapter_speedup": round(chapter["fp32 R1 every update"] / chapter[f"{picked} lazy R1 every {lazy}"], 4),
        "flops_per_step": flops, "seconds_per_step": {k: round(v, 5) for k, v in seconds.items()},
        "textbook_seconds_per_step": round(textbook_seconds, 5), "rounds": args.rounds,
        "gemm_gflops": {"fp32": round(peak / 1e9, 2), **({"bf16": round(policy_peak / 1e9, 2)}
                                                          if rate_dtype == torch.bfloat16 else {})},
        "batch_size": args.batch_size, "width": args.width, "threads": torch.get_num_threads(),
        "cpu": describe_machine()["cpu"], "load_average": [round(x, 2) for x in os.getloadavg()],
        "target": {"policy_speedup": 1.8 if runtime.native_bf16() else 1.15, "ratio_vs_textbook": 1.0},
    }
    print(json.dumps(result))
    return 0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
