"""Experiment: InfoGAN's networks over seeds at the quick budget: where the continuous codes enter G, and whether
D and Q see shifted images.

    python benchmarks/infogan_layout.py [--seeds 3] [--steps 1500]          # the chapter's networks vs Chen et al.'s
    python benchmarks/infogan_layout.py --ablation --seeds 2 --fresh        # and each of the two changes alone

The encoders chapter (``gan_lessons.experiments.encoders``, quick profile) trains InfoGAN with its continuous codes
joined to G's 7x7 features and with D and Q seeing every image shifted by up to ``info_shift`` pixels
(``info_options(profile)``), and compares it with Chen et al.'s layout, every code at G's input and no shifts
(``info_options(profile, "paper")``). This script trains those arms for every seed through the chapter's own
options (same data, codes, steps, lambda and learning rates; only the compared settings differ; the arms
alternate within each seed) and writes ``benchmarks/infogan_layout.md`` plus one JSON line: per run c_1's matched
accuracy (``infogan.code_accuracy``) and each continuous code's Spearman correlation with the slant and the ink of
the digits it draws (``infogan.attribute_correlations``); per arm their means over the seeds. ``--fresh`` trains
every run (a temporary run cache). An experiment summary, not a ratio benchmark: ``run_all.py`` skips it (about
two minutes per run on 2 cores).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons import infogan  # noqa: E402
from gan_lessons.experiments import encoders  # noqa: E402
from gan_lessons.mnist import load_digits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import describe_machine  # noqa: E402 - a sibling script

# arm -> (layout of encoders.info_options, overrides of its options)
ARMS = {"chapter": ("late", {}), "paper": ("paper", {})}
ABLATION = {"late codes only": ("late", {"shift": 0}), "shifts only": ("late", {"late_codes": False})}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the quick budget)")
    parser.add_argument("--ablation", action="store_true", help="also each of the two changes alone")
    parser.add_argument("--fresh", action="store_true", help="train every run (a temporary run cache)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("infogan_layout.md"))
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.steps is not None and args.steps < 10):
        parser.error("--seeds must be >= 1 and --steps >= 10")
    arms = {**ARMS, **(ABLATION if args.ablation else {})}
    digits = load_digits()
    before = os.environ.get("GAN_LESSONS_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        if args.fresh:
            os.environ["GAN_LESSONS_CACHE"] = tmp
        try:
            rows = [_run(name, layout, overrides, seed, args.steps, digits)
                    for seed in range(args.seeds) for name, (layout, overrides) in arms.items()]
        finally:
            if args.fresh:
                os.environ.pop("GAN_LESSONS_CACHE") if before is None else os.environ.__setitem__(
                    "GAN_LESSONS_CACHE", before)
    summary = {name: {f"{m}_mean": round(statistics.mean(r[m] for r in rows if r["arm"] == name), 4)
                      for m in ("code_accuracy", "strongest_attribute_correlation", "seconds")} for name in arms}
    machine = describe_machine()
    args.output.write_text(_markdown(rows, summary, args, machine), encoding="utf-8")
    result = {"steps": rows[0]["steps"], "seeds": args.seeds, "summary": summary, "runs": rows, "machine": machine}
    print(json.dumps(result, sort_keys=True))
    return result


def _run(name: str, layout: str, overrides: dict, seed: int, steps: int | None, digits: dict) -> dict:
    options = {**encoders.info_options("quick", layout), **overrides, "progress": False}
    if steps is not None:
        options["steps"] = steps
    start = time.perf_counter()
    run = infogan.train_infogan(digits, seed=seed, **options)
    seconds = time.perf_counter() - start
    correlations = infogan.attribute_correlations(run, seed=seed)
    strongest = max((abs(r), attribute) for attribute, values in correlations.items() for r in values)
    return {"arm": name, "seed": seed, "steps": run.config.steps, "late": run.G.late, "shift": run.D.shift,
            "code_accuracy": round(infogan.code_accuracy(run, encoders.budget("quick")["info_eval"], seed)[0], 4),
            "slant": [round(r, 3) for r in correlations["slant"]], "ink": [round(r, 3) for r in correlations["ink"]],
            "strongest_attribute_correlation": round(strongest[0], 4), "strongest_attribute": strongest[1],
            "seconds": round(seconds, 1)}


def _markdown(rows: list[dict], summary: dict, args, machine: dict) -> str:
    b = encoders.budget("quick")
    flags = "".join(f" {flag}" for flag, on in (("--ablation", args.ablation), ("--fresh", args.fresh)) if on)
    lines = [
        "# InfoGAN's networks: where the continuous codes enter, and shifted images for D and Q",
        "",
        f"Written by `python benchmarks/infogan_layout.py --seeds {args.seeds}{flags}` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Do not edit by hand: run the script again.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine.get('torch')}, load average before "
        f"the runs {machine['load_average']}.",
        "",
        f"Quick budget: {rows[0]['steps']} generator steps of {b['info_batch']}, width {b['info_width']}, lambda "
        f"{b['info_weight']}, lr_G {b['info_lr_g']:g}, noise {encoders.CLUSTER_NOISE[0]} numbers of std "
        f"{encoders.CLUSTER_NOISE[1]}; accuracy: c_1 matched one to one to the classes the book's classifier gives "
        f"{b['info_eval']} digits per value; correlations: Spearman, each continuous code swept over [-1, 1]. "
        "`late`: continuous codes joined to G's 7x7 features (0: every code at the input); `shift`: the pixels by "
        "which D and Q see each image moved. Seconds: training, or loading the finished run from the run cache.",
        "",
        "| arm | late | shift | seed | code accuracy | slant (c_2, c_3) | ink (c_2, c_3) | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['arm']} | {r['late']} | {r['shift']} | {r['seed']} | {r['code_accuracy']:.3f} | "
              f"{r['slant'][0]:+.2f}, {r['slant'][1]:+.2f} | {r['ink'][0]:+.2f}, {r['ink'][1]:+.2f} | "
              f"{r['seconds']:.0f} |" for r in rows]
    lines += ["", "| arm | mean code accuracy | mean strongest attribute correlation (abs) |", "|---|---|---|"]
    lines += [f"| {name} | {s['code_accuracy_mean']:.3f} | {s['strongest_attribute_correlation_mean']:.3f} |"
              for name, s in summary.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
