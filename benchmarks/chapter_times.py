"""Measure how long each chapter takes to execute, and write ``benchmarks/chapter_times.md``.

    python benchmarks/chapter_times.py                 # every notebook in _toc.yml, quick profile
    python benchmarks/chapter_times.py --only 01_minimax --profile full

Each notebook listed in ``_toc.yml`` is executed from a fresh kernel with nbclient (as *Restart & Run All*
would), from its own folder, with ``GAN_LESSONS_PROFILE`` set and progress bars off. The table (with the
machine, its load and the date) is what the instructor guide shows. The nbval run of ``make test`` writes the
same table into ``_build/chapter_times.md`` (root ``conftest.py``), which the guide prefers when it exists. The last
stdout line is a JSON summary, like every benchmark.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run_all import describe_machine  # noqa: E402 - a sibling script

CHAPTER_BUDGET_S = 240.0  # issue 10: a quick-profile chapter under 4 minutes on 2 cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--profile", choices=["quick", "full"], default="quick",
                        help="GAN_LESSONS_PROFILE for the run (default quick, what the guide's table shows)")
    parser.add_argument("--only", action="append", default=[], metavar="NOTEBOOK",
                        help="time only this notebook (its stem, e.g. 01_minimax; repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "chapter_times.md", help="where to write the table")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--book-root", type=Path, default=ROOT, help="folder with _toc.yml (default: this repo)")
    args = parser.parse_args(argv)
    from gan_lessons.student import StudentEditionError, toc_notebooks

    try:
        notebooks = toc_notebooks(args.book_root)
    except StudentEditionError as err:
        parser.error(str(err))
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in notebooks})
        if unknown:
            parser.error(f"not in _toc.yml: {', '.join(unknown)}; choose from {', '.join(p.stem for p in notebooks)}")
        notebooks = [p for p in notebooks if p.stem in args.only]
    machine = describe_machine()
    rows = []
    for path in notebooks:
        print(f"[chapter_times] {path.name} ...", file=sys.stderr, flush=True)
        rows.append(time_notebook(path, args.profile, args.timeout, args.book_root))
        print(f"[chapter_times] {path.name}: {rows[-1]['status']}, {rows[-1]['seconds']:.1f} s",
              file=sys.stderr, flush=True)
    args.output.write_text(render(rows, machine, args.profile), encoding="utf-8")
    print(f"[chapter_times] wrote {args.output}", file=sys.stderr)
    print(json.dumps({"profile": args.profile, "chapters": rows, "machine": machine}, sort_keys=True))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def time_notebook(path: Path, profile: str, timeout: int, root: Path = ROOT) -> dict:
    """Execute one notebook in a fresh kernel; return its title, wall time, cell count and status."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    os.environ["GAN_LESSONS_PROFILE"] = profile  # the kernel inherits the environment
    os.environ["GAN_LESSONS_PROGRESS"] = "0"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellExecutionError as err:
        status = f"error: {err.ename}: {err.evalue}"[:160].replace("|", "/").replace("\n", " ")
    seconds = time.perf_counter() - start
    return {"notebook": str(path.relative_to(Path(root).resolve())), "title": _title(nb, path), "seconds": round(seconds, 1),
            "code_cells": sum(c.cell_type == "code" for c in nb.cells), "status": status}


def render(rows: list[dict], machine: dict, profile: str) -> str:
    """The markdown the instructor guide shows: the table, the total, the machine and the date."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"| chapter | notebook | code cells | seconds ({profile} profile) | status |", "|---|---|---:|---:|---|"]
    for r in rows:
        note = " (over the 4-minute budget)" if r["seconds"] > CHAPTER_BUDGET_S and profile == "quick" else ""
        lines.append(f"| {r['title']} | `{r['notebook']}` | {r['code_cells']} | {r['seconds']:.1f}{note} | "
                     f"{r['status']} |")
    total = sum(r["seconds"] for r in rows)
    lines += ["", f"Total: {total:.0f} s for {len(rows)} notebook(s), each run once from a fresh kernel "
                  f"(`GAN_LESSONS_PROFILE={profile}`).",
              "", f"Measured {now} by `python benchmarks/chapter_times.py` on: {machine['cpu']}, "
                  f"{machine['cores']} cores, {machine['memory_gib']} GiB, GPU: {machine.get('gpu', 'none')}, "
                  f"torch {machine.get('torch')}, load average before the run {machine['load_average']}."]
    return "\n".join(lines) + "\n"


def _title(nb: nbformat.NotebookNode, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


if __name__ == "__main__":
    sys.exit(main())
