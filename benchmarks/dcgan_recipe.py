"""Experiment: the DCGAN chapter's generator learning rate against the paper's, over seeds, at the quick budget.

    python benchmarks/dcgan_recipe.py [--seeds 2] [--steps 1500]

The chapter (``gan_lessons.experiments.dcgan``, quick profile) keeps Radford et al.'s Adam(2e-4, beta1 = 0.5) for the
discriminator but gives the generator a larger rate. This script trains the chapter's DCGAN both ways, for every seed,
through the chapter's own ``train_run`` (same data, models, EMA and budget; only ``lr_g`` differs), judges 1,000
digits of each run with the book's classifier, and writes ``benchmarks/dcgan_recipe.md`` plus one JSON line with
the mean recognised fraction and class entropy of each setting. It is an experiment summary, not a ratio benchmark,
so ``run_all.py`` skips it (several minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons.experiments import dcgan  # noqa: E402

PAPER_LR_G = 2e-4


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per setting (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the quick budget)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("dcgan_recipe.md"))
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.steps is not None and args.steps < 10):
        parser.error("--seeds must be >= 1 and --steps >= 10")
    b = dcgan.budget("quick", args.steps)
    digits = dcgan.load_digits()
    settings = {"chapter": b["lr_g"], "paper": PAPER_LR_G}
    rows = []
    for name, lr_g in settings.items():
        for seed in range(args.seeds):
            start = time.perf_counter()
            run = dcgan.train_run("dcgan", digits, "quick", seed, steps=b["steps"], progress=False, lr_g=lr_g)
            scores = dcgan.judge(dcgan.generate(run, b["n_eval"]))
            rows.append({"setting": name, "lr_g": lr_g, "lr_d": run.config.lr_d, "seed": seed,
                         "seconds": round(time.perf_counter() - start, 1), **scores})
    summary = {name: {"lr_g": lr_g,
                      "recognised_fraction_mean": round(statistics.mean(r["recognised_fraction"] for r in rows
                                                                        if r["setting"] == name), 4),
                      "class_entropy_mean": round(statistics.mean(r["class_entropy"] for r in rows
                                                                  if r["setting"] == name), 4)}
               for name, lr_g in settings.items()}
    args.output.write_text(_markdown(rows, b), encoding="utf-8")
    result = {"steps": b["steps"], "seeds": args.seeds, "summary": summary, "runs": rows}
    print(json.dumps(result, sort_keys=True))
    return result


def _markdown(rows: list[dict], b: dict) -> str:
    lines = [
        "# DCGAN recipe: the generator's learning rate",
        "",
        f"Written by `python benchmarks/dcgan_recipe.py` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. "
        "Do not edit by hand: run the script again.",
        "",
        f"Quick budget: {b['steps']} generator steps, batch {b['batch_size']}, width {b['width']}, EMA "
        f"{b['ema_decay']}; {b['n_eval']} digits judged per run by the book's classifier. Seconds: training, or "
        "loading the finished run from the run cache (about 1 s) when the chapter already trained it.",
        "",
        "| setting | lr_G | lr_D | seed | recognised fraction | class entropy (nats) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['setting']} | {r['lr_g']:g} | {r['lr_d']:g} | {r['seed']} | {r['recognised_fraction']:.3f} | "
              f"{r['class_entropy']:.3f} | {r['seconds']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
