"""Benchmark: M small GANs trained one at a time against the same M trained as one vectorised ensemble.

    python benchmarks/mode_collapse.py [--members 6] [--steps 200] [--hidden 64] [--batch 256]

Defaults are the mode-collapse chapter's quick-profile sizes (2 datasets x 3 seeds, 2 -> 64 -> 64 -> 2 MLPs, batch
256, non-saturating loss). Both ways go through the one trainer, ``GANTrainer``: M runs of ``models.MLPGenerator`` /
``models.MLPDiscriminator``, then one run of ``ensemble.EnsembleGenerator`` / ``EnsembleDiscriminator`` with M
members. Prints one JSON object: wall times, ``ratio`` = sequential time / vectorised time, the FLOPs of one training
step (counted with ``torch.utils.flop_counter``; timings: the fastest of several alternating chunks), the machine's
fp32 matmul rate measured in the same run, and the fraction of that rate each way achieves, all with torch's default
thread count, as the chapter trains (``--threads`` changes it). A small fraction means overhead-bound (batching
helps); a fraction near 1 means matmul-bound (batching cannot help). Target (issue 4): ratio >= 3 at the chapter's sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons import collapse, data, models, train  # noqa: E402
from gan_lessons.ensemble import EnsembleSampler, ensemble_noise  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fastest_alternating  # noqa: E402


def sources(members: int) -> list:
    """Half ring, half grid, as in the chapter (member m draws from its own dataset)."""
    mixes = [data.ring(8, 2.0, 0.1), data.grid(5, 2.0, 0.1)]
    return [mixes[(m * len(mixes)) // members].sample for m in range(members)]


def sequential_trainers(members: int, hidden: int, batch: int, steps: int) -> list[train.GANTrainer]:
    cfg = train.TrainConfig(steps=steps, batch_size=batch, lr_d=1e-3, lr_g=1e-3, log_every=10)
    out = []
    for m, src in enumerate(sources(members)):
        torch.manual_seed(m)
        G = models.MLPGenerator(latent_dim=2, data_dim=2, hidden=hidden, depth=2, activation="relu")
        D = models.MLPDiscriminator(data_dim=2, hidden=hidden, depth=2, activation="leaky_relu")
        out.append(train.GANTrainer(G, D, src, cfg, latent_dim=2, device="cpu"))
    return out


def ensemble_trainer(members: int, hidden: int, batch: int, steps: int) -> train.GANTrainer:
    cfg = train.TrainConfig(steps=steps, batch_size=batch, lr_d=1e-3, lr_g=1e-3, log_every=10)
    torch.manual_seed(0)
    G, D, objective = collapse.build_method("ns", members, collapse.NetSpec(g_hidden=hidden, d_hidden=hidden))
    return train.GANTrainer(G, D, EnsembleSampler(sources(members)), cfg, objective=objective,
                            noise_sampler=ensemble_noise(members, 2), device="cpu")


def step_flops(trainer: train.GANTrainer) -> int:
    """FLOPs of one generator update with its discriminator update (forward and backward), counted by torch."""
    counter = FlopCounterMode(display=False)
    with counter:
        trainer._one_step()
    return int(counter.get_total_flops())


def matmul_rate(n: int = 1024, repeats: int = 10) -> float:
    """The machine's fp32 matmul rate in FLOP/s: the best of ``repeats`` n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def train_more(trainers: list[train.GANTrainer], steps: int) -> None:
    """``steps`` more training steps of every trainer, one trainer after the other."""
    for t in trainers:
        t.fit(t.step + steps, progress=False)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--members", type=int, default=6, help="GANs in the set (the chapter: 2 datasets x 3 seeds)")
    parser.add_argument("--steps", type=int, default=200, help="generator steps per GAN, timed")
    parser.add_argument("--hidden", type=int, default=64, help="MLP width (the chapter's quick profile: 64)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (the chapter: 256)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed chunks per way (fastest counts)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, as the chapter)")
    args = parser.parse_args(argv)
    if min(args.members, args.steps, args.hidden, args.batch, args.rounds) < 1 or args.threads < 0:
        parser.error("--members, --steps, --hidden, --batch and --rounds must be positive integers, --threads >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    peak = matmul_rate()
    seq, vec = (sequential_trainers(args.members, args.hidden, args.batch, args.steps),
                [ensemble_trainer(args.members, args.hidden, args.batch, args.steps)])
    flops_seq = sum(step_flops(t) for t in seq)  # one step of every model (also warms the code paths up)
    flops_vec = step_flops(vec[0])
    chunk = max(1, args.steps // args.rounds)  # steps per timed chunk; the fastest chunk of each way counts
    t_seq, t_vec = (t * args.steps / chunk for t in fastest_alternating(
        [lambda: train_more(seq, chunk), lambda: train_more(vec, chunk)], args.rounds))
    rate_seq, rate_vec = flops_seq * args.steps / t_seq, flops_vec * args.steps / t_vec
    result = {
        "members": args.members, "steps": args.steps, "batch_size": args.batch,
        "model": f"G 2-{args.hidden}-{args.hidden}-2 ReLU, D 2-{args.hidden}-{args.hidden}-1 LeakyReLU, ns loss",
        "rounds": args.rounds, "sequential_s": round(t_seq, 3), "vectorised_s": round(t_vec, 3),
        "ratio": round(t_seq / t_vec, 2),
        "flops_per_step_sequential": flops_seq, "flops_per_step_vectorised": flops_vec,
        "matmul_gflops": round(peak / 1e9, 2),
        "sequential_fraction_of_matmul_rate": round(rate_seq / peak, 4),
        "vectorised_fraction_of_matmul_rate": round(rate_vec / peak, 4),
        "regime_sequential": _regime(rate_seq / peak), "regime_vectorised": _regime(rate_vec / peak),
        "target": {"ratio": 3.0},
        "torch_threads": threads, "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, sort_keys=True))
    return result


def _regime(fraction: float) -> str:
    """Below 10% of the matmul rate a step is mostly per-operation overhead; above 50% mostly arithmetic."""
    return "overhead-bound" if fraction < 0.1 else "matmul-bound" if fraction > 0.5 else "mixed"


if __name__ == "__main__":
    main()
