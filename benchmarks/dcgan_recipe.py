"""Experiment: the DCGAN chapter's recipe over seeds at the quick budget: G's or D's rate, R1, lazy R1, precision.

    python benchmarks/dcgan_recipe.py [--seeds 2] [--steps 1500]                 # lr_G: the chapter's vs the paper's
    python benchmarks/dcgan_recipe.py --compare lr_d --fresh [--seeds 2]          # lr_D: 2e-4 vs 5e-4
    python benchmarks/dcgan_recipe.py --compare r1 --fresh [--seeds 2]            # R1 on D: the chapter's vs none
    python benchmarks/dcgan_recipe.py --compare precision --fresh [--seeds 2]     # fp32 vs bf16 + channels_last
    python benchmarks/dcgan_recipe.py --compare r1_every --fresh [--seeds 2]      # R1 every D update vs lazy R1
    python benchmarks/dcgan_recipe.py --compare threads --fresh [--seeds 2]       # one thread vs torch's count

The chapter (``gan_lessons.experiments.dcgan``, quick profile) keeps Radford et al.'s Adam(2e-4, beta1 = 0.5) for the
discriminator but gives the generator a larger rate, adds the R1 penalty to D's loss (Mescheder et al. 2018, the
budget's ``r1_weight``; lazy: on every ``r1_every``-th D update, Karras et al. 2020), and trains in the precision
``runtime.image_precision`` picks for the machine (bf16 autocast + channels_last where the CPU has native bf16, fp32
elsewhere). This script trains
the chapter's DCGAN both ways of one comparison, for every seed, through the chapter's own ``train_run`` (same data,
models, EMA and budget; only the compared setting differs; the runs alternate between settings), judges 1,000 digits
of each run with the book's classifier, and writes ``benchmarks/dcgan_recipe.md`` (``dcgan_lr_d.md``,
``dcgan_r1.md``, ``dcgan_precision.md``, ``dcgan_lazy_r1.md``, ``dcgan_threads.md``) plus one
JSON line with each setting's mean recognised fraction, class entropy and training seconds, and the seed-to-seed
spread within a setting (is the difference between settings inside seed noise?). ``--fresh`` trains every run
(a temporary run cache) so the seconds are training times. It is an experiment summary, not a ratio benchmark, so
``run_all.py`` skips it (several minutes on 2 cores).

``--compare threads`` asks whether the thread count changes the chapter's numbers (``runtime.ThreadPolicy`` drops
threads while the machine is busy): an arm's ``OMP_NUM_THREADS`` also sets torch's thread count for its run, and
the table's ``threads`` column is the count each run started on (run it on an idle machine, or the policy lowers
the count of the other arm too). It needs ``--fresh``: with it, each arm trains in a temporary run cache of its own,
and every run is judged by one classifier, trained once in a shared temporary cache.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from gan_lessons import runtime  # noqa: E402
from gan_lessons.experiments import dcgan  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import describe_machine  # noqa: E402 - a sibling script

PAPER_LR_G = 2e-4
FASTER_LR_D = 5e-4  # what helped chapter 7's width-16 DCGANs at 1,500 steps
# compared setting -> its two arms: name -> (environment, train_run options)
COMPARISONS = {
    "lr": ("the generator's learning rate",
           {"chapter": ({}, {}), "paper": ({}, {"lr_g": PAPER_LR_G})}),
    "lr_d": ("the discriminator's learning rate",
             {"chapter": ({}, {}), "faster_d": ({}, {"lr_d": FASTER_LR_D})}),
    "r1": ("the R1 penalty on the discriminator", {"chapter": ({}, {}), "no_r1": ({}, {"r1_weight": 0.0})}),
    "r1_every": ("R1 on every D update against lazy R1",
                 {"every": ({}, {"r1_every": 1}), "lazy": ({}, {})}),  # lazy: the chapter's, the budget's r1_every
    "precision": ("fp32 against bf16 autocast with channels_last",
                  {"fp32": ({"GAN_LESSONS_PRECISION": "fp32"}, {}), "bf16": ({"GAN_LESSONS_PRECISION": "bf16"}, {})}),
    "threads": ("one thread against torch's thread count",
                {"one_thread": ({"OMP_NUM_THREADS": "1"}, {}), "all_threads": ({}, {})}),
}
MEASURES = ("recognised_fraction", "class_entropy", "seconds")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--compare", choices=list(COMPARISONS), default="lr", help="what differs (default lr)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per setting (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the quick budget)")
    parser.add_argument("--fresh", action="store_true", help="train every run (a temporary run cache)")
    parser.add_argument("--output", type=Path, default=None,
                        help="the table (default benchmarks/dcgan_<compared setting>.md, lr: dcgan_recipe.md)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.steps is not None and args.steps < 10):
        parser.error("--seeds must be >= 1 and --steps >= 10")
    if args.compare == "threads" and not args.fresh:
        parser.error("--compare threads needs --fresh: a run's cache key has no thread count, so the second arm "
                     "would load the first one's run")
    tables = {"lr": "dcgan_recipe.md", "lr_d": "dcgan_lr_d.md", "r1": "dcgan_r1.md", "precision": "dcgan_precision.md",
              "r1_every": "dcgan_lazy_r1.md", "threads": "dcgan_threads.md"}
    output = args.output or Path(__file__).with_name(tables[args.compare])
    b = dcgan.budget("quick", args.steps)
    digits = dcgan.load_digits()
    title, settings = COMPARISONS[args.compare]
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for seed in range(args.seeds):
            for name, (env, options) in settings.items():
                # fresh: each arm trains in a cache of its own (the thread count is not in a run's cache key) and
                # every run is judged by the one classifier of the shared temporary cache
                arm = {**env, "GAN_LESSONS_CACHE": os.path.join(tmp, name)} if args.fresh else env
                with _environment(arm):
                    row, run = _train(name, options, seed, b, digits)
                with _environment({"GAN_LESSONS_CACHE": tmp} if args.fresh else {}):
                    rows.append({**row, **dcgan.judge(dcgan.generate(run, b["n_eval"]))})
    summary = {name: {**({"lr_g": rows[i]["lr_g"]} if args.compare == "lr" else {}),
                      **{f"{m}_mean": round(statistics.mean(r[m] for r in rows if r["setting"] == name), 4)
                         for m in MEASURES},
                      **{f"{m}_seed_spread": round(_spread(r[m] for r in rows if r["setting"] == name), 4)
                         for m in MEASURES[:2]}}
               for i, name in enumerate(settings)}
    machine = describe_machine()
    output.write_text(_markdown(rows, b, title, args, machine), encoding="utf-8")
    result = {"compare": args.compare, "steps": b["steps"], "seeds": args.seeds, "summary": summary, "runs": rows,
              "machine": machine, "native_bf16": runtime.native_bf16()}
    print(json.dumps(result, sort_keys=True))
    return result


@contextlib.contextmanager
def _environment(env: dict):
    """The block runs with ``env`` set (undone after it); an ``OMP_NUM_THREADS`` in it also sets torch's thread
    count, which torch reads from the environment only when it starts."""
    before, threads = {k: os.environ.get(k) for k in env}, torch.get_num_threads()
    os.environ.update(env)
    try:
        if "OMP_NUM_THREADS" in env:
            torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
        yield
    finally:
        for k, v in before.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        torch.set_num_threads(threads)


def _train(name: str, options: dict, seed: int, b, digits) -> tuple[dict, object]:
    started_on, start = torch.get_num_threads(), time.perf_counter()
    options = {"r1_weight": b["r1_weight"], **options}  # the chapter's own call, then the arm's change
    run = dcgan.train_run("dcgan", digits, "quick", seed, steps=b["steps"], progress=False, **options)
    seconds = time.perf_counter() - start
    return {"setting": name, "lr_g": run.config.lr_g, "lr_d": run.config.lr_d, "r1_weight": run.objective.r1_weight,
            "r1_every": run.objective.r1_every, "precision": run.config.precision, "threads": started_on,
            "seed": seed, "seconds": round(seconds, 1)}, run


def _spread(values) -> float:
    values = list(values)
    return max(values) - min(values)


def _markdown(rows: list[dict], b, title: str, args, machine: dict) -> str:
    lines = [
        f"# DCGAN recipe: {title}",
        "",
        f"Written by `python benchmarks/dcgan_recipe.py --compare {args.compare}{' --fresh' if args.fresh else ''}` "
        f"on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Do not edit by hand: run the script again.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine.get('torch')}, native bf16: "
        f"{'yes' if runtime.native_bf16() else 'no'}, load average before the runs {machine['load_average']}.",
        "",
        f"Quick budget: {b['steps']} generator steps, batch {b['batch_size']}, width {b['width']}, EMA "
        f"{b['ema_decay']}; {b['n_eval']} digits judged per run by the book's classifier. Seconds: training"
        + (" (every run trained: a fresh run cache)." if args.fresh else
           ", or loading the finished run from the run cache (about 1 s) when the chapter already trained it."),
        "",
        "| setting | lr_G | lr_D | R1 gamma | R1 every | precision | threads | seed | recognised fraction "
        "| class entropy (nats) | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['setting']} | {r['lr_g']:g} | {r['lr_d']:g} | {r['r1_weight']:g} | {r['r1_every']} | "
              f"{r['precision']} | {r['threads']} | "
              f"{r['seed']} | "
              f"{r['recognised_fraction']:.3f} | {r['class_entropy']:.3f} | {r['seconds']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
