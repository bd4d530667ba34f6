"""Benchmark: the cost of the trainer's data checks (issue 18) on a quick DCGAN step, CPU.

    python benchmarks/entry_checks.py [--steps 10] [--rounds 7] [--batch-size 64] [--width 16]

The checked trainer validates the first real batch once (dtype, finiteness, labels, shape against G's output) and
the kind and count of every batch and noise draw. ``ratio_checked_vs_unchecked`` is the time of ``steps`` steps
of the book's trainer over that of the same trainer with those checks removed (the pre-check versions of
``_real_batch`` and ``_noise``), timed in alternating chunks in one run (fastest chunk of each). Target: <= 1.01.
Prints one JSON object as its last line, with the machine's load average and thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_lessons import data, models, train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fastest_alternating  # noqa: E402

LATENT = 64


class Unchecked(train.GANTrainer):
    """The trainer with the data checks taken out: the batch and noise draws as they were before issue 18."""

    def _real_batch(self):
        batch = self.real_sampler(self.config.batch_size, self.rng)
        x, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
        return x.to(self.device), (None if labels is None else labels.to(self.device))

    def _noise(self, n=None):
        return self.noise_sampler(n or self.config.batch_size, self.rng).to(self.device)


def make(cls, images, batch_size, width):
    torch.manual_seed(0)
    t = cls(models.DCGANGenerator(LATENT, width), models.DCGANDiscriminator(width), data.TensorSampler(images),
            train.TrainConfig(steps=10**9, batch_size=batch_size, seed=0), latent_dim=LATENT, device="cpu")
    t._batches_checked = cls is Unchecked  # the unchecked trainer skips the first-batch check too
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()
    images = torch.rand(2048, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    checked, unchecked = (make(c, images, args.batch_size, args.width) for c in (train.GANTrainer, Unchecked))

    def chunk(t):
        return lambda: t.fit(t.step + args.steps, progress=False)

    for t in (checked, unchecked):  # warm-up (and the checked trainer's one first-batch check)
        t.fit(2, progress=False)
    best = fastest_alternating([chunk(checked), chunk(unchecked)], args.rounds)
    result = {"benchmark": "entry_checks", "steps_per_chunk": args.steps, "rounds": args.rounds,
              "batch_size": args.batch_size, "width": args.width,
              "checked_s_per_step": best[0] / args.steps, "unchecked_s_per_step": best[1] / args.steps,
              "ratio_checked_vs_unchecked": best[0] / best[1], "target_max_ratio": 1.01,
              "machine": platform.platform(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
              "load_average": os.getloadavg(), "torch": torch.__version__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
