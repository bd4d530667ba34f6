"""Benchmark: every chapter's execution time at an older commit and at HEAD, side by side, and under load.

    python benchmarks/book_time.py --old becbb03                  # every chapter in _toc.yml, old vs HEAD
    python benchmarks/book_time.py --old becbb03 --only 05_dcgan --rounds 2
    python benchmarks/book_time.py --busy --only 01_minimax       # HEAD idle vs beside one CPU-bound process

Each notebook runs from a fresh kernel (``chapter_times.time_notebook``: quick profile, progress bars off), with
an empty run cache of its own for every execution, so every run trains. The old commit is checked out in a
temporary ``git worktree``; its kernel imports that commit's ``gan_lessons`` (``PYTHONPATH``), HEAD's kernel the
checkout's. Old and HEAD alternate chapter by chapter (the order swaps every round), so both see the same
background load; the fastest round of each counts. ``--busy`` times HEAD alone and beside one spinning process
in turn (issue 17: a chapter beside one busy process takes at most 2x its idle time).

Writes ``benchmarks/book_time.md`` (the per-chapter table, the machine, its load) and prints one JSON line:
``ratio`` is the whole book's HEAD seconds over the old commit's (issue 17's target: <= 0.5), ``busy_ratio``
the worst chapter's busy over idle seconds (target <= 2).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _timing import beside_busy  # noqa: E402
from chapter_times import time_notebook  # noqa: E402
from run_all import describe_machine  # noqa: E402


RATIOS = {"head/old": ("head", "old"), "busy/idle": ("busy", "head")}  # table column -> (numerator, denominator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--old", help="the commit to compare HEAD with (e.g. a tag or hash)")
    parser.add_argument("--busy", action="store_true", help="time HEAD idle and beside one busy process")
    parser.add_argument("--only", action="append", default=[], metavar="NOTEBOOK",
                        help="time only this notebook (its stem, e.g. 05_dcgan; repeatable)")
    parser.add_argument("--rounds", type=int, default=1, help="executions of each notebook per arm (fastest counts)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--output", type=Path, default=HERE / "book_time.md")
    parser.add_argument("--book-root", type=Path, default=ROOT, help="the git checkout with _toc.yml (default: this)")
    args = parser.parse_args(argv)
    args.book_root = args.book_root.resolve()
    if not args.old and not args.busy:
        parser.error("give --old COMMIT (old vs HEAD), --busy (idle vs busy), or both")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    from gan_lessons.student import toc_notebooks

    notebooks = toc_notebooks(args.book_root)
    unknown = sorted(set(args.only) - {p.stem for p in notebooks})
    if unknown:
        parser.error(f"not in _toc.yml: {', '.join(unknown)}; choose from {', '.join(p.stem for p in notebooks)}")
    notebooks = [p for p in notebooks if not args.only or p.stem in args.only]
    machine = describe_machine()
    with tempfile.TemporaryDirectory() as tmp:
        old_root = _worktree(args.book_root, args.old, Path(tmp) / "old") if args.old else None
        try:
            rows = [_chapter(p, old_root, args, Path(tmp)) for p in notebooks]
        finally:
            if old_root:
                subprocess.run(["git", "-C", str(args.book_root), "worktree", "remove", "--force", str(old_root)],
                               check=False)
    result = _summary(rows, args, machine)
    args.output.write_text(_markdown(rows, result, args, machine), encoding="utf-8")
    print(json.dumps(result, sort_keys=True))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _worktree(root: Path, commit: str, where: Path) -> Path:
    try:
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(where), commit], check=True,
                       capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        raise SystemExit(f"cannot check out {commit!r} (git worktree add): {err.stderr.strip()}") from None
    return where


def _chapter(path: Path, old_root: Path | None, args, tmp: Path) -> dict:
    rel = path.relative_to(args.book_root)
    arms = {}
    if old_root is not None:
        arms["old"] = (old_root, old_root / rel, False)
    arms["head"] = (args.book_root, path, False)
    if args.busy:
        arms["busy"] = (args.book_root, path, True)
    arms = {k: v for k, v in arms.items() if v[1].exists()}  # a chapter the old commit did not have: HEAD only
    best, status = {}, "ok"
    for r in range(args.rounds):
        for name in (list(arms) if r % 2 == 0 else list(reversed(arms))):
            root, nb, busy = arms[name]
            print(f"[book_time] {rel} {name} (round {r + 1}) ...", file=sys.stderr, flush=True)
            row = _execute(root, nb, args.timeout, tmp / f"cache-{name}-{r}-{path.stem}", busy)
            best[name] = min(best.get(name, float("inf")), row["seconds"])
            if row["status"] != "ok":
                status = f"{name}: {row['status']}"
    return {"notebook": str(rel), "title": row["title"], "status": status, **{k: round(v, 1) for k, v in best.items()}}


def _execute(root: Path, nb: Path, timeout: int, cache: Path, busy: bool) -> dict:
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "GAN_LESSONS_CACHE")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    os.environ["GAN_LESSONS_CACHE"] = str(cache)  # an empty run cache: every run trains
    try:
        run = lambda: time_notebook(nb, "quick", timeout, root)  # noqa: E731
        return beside_busy(run) if busy else run()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _summary(rows: list[dict], args, machine: dict) -> dict:
    out = {"chapters": rows, "machine": machine, "rounds": args.rounds, "old": args.old,
           "target": {}}
    both = [r for r in rows if "old" in r and "head" in r]
    if both:
        out["old_seconds"] = round(sum(r["old"] for r in both), 1)
        out["head_seconds"] = round(sum(r["head"] for r in both), 1)
        out["ratio"] = round(out["head_seconds"] / out["old_seconds"], 3)
        out["target"]["ratio"] = 0.5
    if args.busy:
        out["busy_ratio"] = round(max(r["busy"] / r["head"] for r in rows), 3)
        out["target"]["busy_ratio"] = 2.0
    return out


def _markdown(rows: list[dict], result: dict, args, machine: dict) -> str:
    cols = [c for c in ("old", "head", "busy") if any(c in r for r in rows)]
    ratios = [k for k in RATIOS if all(c in cols for c in RATIOS[k])]
    names = {"old": f"{args.old} (s)", "head": "HEAD (s)", "busy": "HEAD beside a busy process (s)",
             "head/old": "HEAD / old", "busy/idle": "busy / idle"}
    lines = [f"# Chapter times: {' vs '.join(names[c] for c in cols)}", "",
             f"Written by `python benchmarks/book_time.py{' --old ' + args.old if args.old else ''}"
             f"{' --busy' if args.busy else ''}{''.join(' --only ' + o for o in args.only)}"
             f"{f' --rounds {args.rounds}' if args.rounds != 1 else ''}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"({args.rounds} round(s), the fastest counts; quick profile, an empty run cache per execution). "
             "Do not edit by hand: run the script again.", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, torch "
             f"{machine.get('torch')}, load average before the runs {machine['load_average']}, after "
             f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.", "",
             "| chapter | " + " | ".join(names[c] for c in cols + ratios) + " | status |",
             "|---|" + "---:|" * (len(cols) + len(ratios)) + "---|"]
    for r in rows:
        cells = [f"{r[c]:.1f}" if c in r else "-" for c in cols]
        cells += [f"{r[a] / r[b]:.2f}" if a in r and b in r else "-" for a, b in (RATIOS[k] for k in ratios)]
        lines.append(f"| {r['title']} | " + " | ".join(cells) + f" | {r['status']} |")
    if "ratio" in result:
        scope = "Whole book" if not args.only else f"The {len(rows)} chapter(s) timed"
        lines += ["", f"{scope}: {result['head_seconds']:.0f} s at HEAD against {result['old_seconds']:.0f} s at "
                      f"{args.old}: ratio {result['ratio']:.2f} (target <= 0.5)."]
    if "busy_ratio" in result:
        lines += ["", f"Worst chapter beside a busy process: {result['busy_ratio']:.2f}x its idle time (target <= 2)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
