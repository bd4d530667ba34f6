"""Benchmark: the thread policy of ``runtime.one_thread`` (issue 17). One step of the book's trainer on one
torch thread and on all of them, for the chapters' model sizes, on an idle machine and beside one busy process.

    python benchmarks/thread_policy.py [--steps 40] [--rounds 3] [--fit-steps 200]

Each case times ``--steps`` training steps (``GANTrainer._one_step``, outside ``fit`` so the policy does not
apply) with 1 thread and with ``torch.get_num_threads()`` threads, alternating (``_timing.fastest_alternating``),
first idle, then with a second process spinning on one core (what a student's laptop always has beside the
notebook). It reports ms per step and the ratio ``all threads / one thread`` for each: above 1 means the extra
threads are slower. ``runtime.SMALL_MODEL_PARAMETERS`` is the size below which ``GANTrainer.fit`` uses one
thread on a CPU; the JSON says on which side of it each case falls.

Then the load-aware policy of larger networks (``runtime.ThreadPolicy``) as ``GANTrainer.fit`` applies it: chapter
5's DCGAN trains ``--fit-steps`` steps through ``fit`` with the policy and with torch's count held fixed (the
policy before issue 17's load-aware step), idle and beside the busy process, alternating; ``dcgan_fit`` reports
the seconds and ``busy_over_idle`` for both (issue 17's target: a chapter beside one busy process takes at most
2x its idle time). Prints one JSON object as its last line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import beside_busy, fastest_alternating  # noqa: E402
from run_all import describe_machine  # noqa: E402

from gan_lessons import data, models, runtime, train  # noqa: E402

CASES = {  # name: (G, D, data shape, latent dim, batch): the chapters' networks
    "1d_mlp_ch1": (lambda: models.MLPGenerator(1, 1, 32, 2), lambda: models.MLPDiscriminator(1, 32, 2), (1,), 1,
                   128),
    "2d_mlp_ch4": (lambda: models.MLPGenerator(2, 2, 128, 3), lambda: models.MLPDiscriminator(2, 128, 3), (2,),
                   2, 256),
    "deep_critic_ch6": (lambda: models.MLPGenerator(2, 2, 64, 3), lambda: models.MLPDiscriminator(2, 64, 12),
                        (2,), 2, 256),
    "dcgan_ch5": (lambda: models.DCGANGenerator(64, 32), lambda: models.DCGANDiscriminator(32), (1, 28, 28), 64,
                  64),
}


def trainer(name: str) -> train.GANTrainer:
    make_g, make_d, shape, latent, batch = CASES[name]
    runtime.seed_everything(0)
    real = data.TensorSampler(torch.rand(2048, *shape) * 2 - 1)
    cfg = train.TrainConfig(steps=10**9, batch_size=batch, seed=0, log_every=10**6)
    return train.GANTrainer(make_g(), make_d(), real, cfg, latent_dim=latent, device="cpu")


def measure(name: str, steps: int, rounds: int, threads: int) -> dict:
    t = trainer(name)
    t._one_step()  # warm-up

    def chunk(n_threads: int):
        def run():
            torch.set_num_threads(n_threads)
            for _ in range(steps):
                t._one_step()
        return run

    one, many = fastest_alternating([chunk(1), chunk(threads)], rounds)
    torch.set_num_threads(threads)
    return {"one_thread_ms": 1e3 * one / steps, "all_threads_ms": 1e3 * many / steps, "ratio": many / one}


def fit_seconds(steps: int, rounds: int) -> dict[str, float]:
    """Seconds of ``steps`` DCGAN steps through ``GANTrainer.fit``: with the load-aware policy ("policy") and
    with torch's thread count held fixed ("fixed": the policy cannot read the load), fastest of ``rounds``."""
    def run(load) -> None:
        t = trainer("dcgan_ch5")
        original = runtime.cpu_load
        runtime.cpu_load = load
        try:
            t.fit(steps, progress=False)
        finally:
            runtime.cpu_load = original
    policy, fixed = fastest_alternating([lambda: run(runtime.cpu_load), lambda: run(lambda: None)], rounds)
    return {"policy": policy, "fixed": fixed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fit-steps", type=int, default=200, help="DCGAN steps through fit per timing (0: skip)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.fit_steps < 0:
        p.error("--steps and --rounds must be >= 1, --fit-steps >= 0")
    threads = torch.get_num_threads()
    out: dict = {"machine": describe_machine(), "threads": threads,
                 "small_model_parameters": runtime.SMALL_MODEL_PARAMETERS}
    for name in CASES:
        t = trainer(name)
        size = sum(q.numel() for m in (t.G, t.D) for q in m.parameters())
        out[name] = {"parameters": size, "one_thread_in_fit": runtime.is_small(t.G, t.D),
                     "idle": measure(name, args.steps, args.rounds, threads)}
    busy = beside_busy(lambda: {name: measure(name, args.steps, args.rounds, threads) for name in CASES})
    for name in CASES:
        out[name]["beside_busy_process"] = busy[name]
    for name in CASES:
        for when in ("idle", "beside_busy_process"):
            out[f"{name}_{when}_ratio"] = round(out[name][when]["ratio"], 3)
    if args.fit_steps:
        idle = fit_seconds(args.fit_steps, args.rounds)
        busy = beside_busy(lambda: fit_seconds(args.fit_steps, args.rounds))
        out["dcgan_fit"] = {"steps": args.fit_steps, "idle_s": idle, "beside_busy_process_s": busy,
                            "busy_over_idle": {k: round(busy[k] / idle[k], 3) for k in idle}}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
