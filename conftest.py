"""Repository-wide pytest hooks. At the root so they load both for ``pytest tests`` and for
``pytest --nbval-lax book/*.ipynb`` (the Makefile's nbval target), which collects nothing under tests/.

After an nbval run, print how long each notebook took (all its cells, kernel start included) against the
CI budget of issue 10: each quick-profile chapter under 4 minutes.
"""
from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

CHAPTER_BUDGET_S = 240.0  # issue 10: a quick-profile chapter executes in under 4 minutes on 2 cores


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest's signature
    totals: dict[str, float] = defaultdict(float)
    cells: dict[str, int] = defaultdict(int)
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", "")
            if ".ipynb::" not in nodeid or not hasattr(report, "duration"):
                continue
            notebook = nodeid.split("::", 1)[0]
            totals[notebook] += report.duration
            if getattr(report, "when", None) == "call":
                cells[notebook] += 1
    if not totals:
        return
    terminalreporter.section("notebook durations (nbval)")
    for notebook in sorted(totals):
        flag = "   OVER the 4-minute chapter budget" if totals[notebook] > CHAPTER_BUDGET_S else ""
        terminalreporter.write_line(f"{totals[notebook]:8.1f} s  {notebook}  ({cells[notebook]} cells){flag}")
    terminalreporter.write_line(f"{sum(totals.values()):8.1f} s  total over {len(totals)} notebook(s)")
    if os.environ.get("GAN_LESSONS_STEP_SCALE", "1").strip() not in ("", "1"):
        return  # a scaled smoke run: its times are not the chapter times the instructor guide shows
    failed = {r.nodeid.split("::", 1)[0] for r in terminalreporter.stats.get("failed", [])}
    written = _write_chapter_table(config, totals, failed)
    if written:
        terminalreporter.write_line(f"chapter times written to {written} (the instructor guide shows them)")


def _write_chapter_table(config, totals: dict[str, float], failed: set[str]) -> Path | None:
    """The instructor guide's table of chapter times, from this nbval run: ``<rootdir>/_build/chapter_times.md``."""
    root = Path(str(config.rootpath))
    bench = root / "benchmarks"
    if not (bench / "chapter_times.py").is_file():
        return None
    sys.path.insert(0, str(bench))
    try:
        import nbformat
        from chapter_times import _title, render
        from run_all import describe_machine

        rows = []
        for notebook in sorted(totals):
            nb = nbformat.read(root / notebook, as_version=4)
            rows.append({"notebook": notebook, "title": _title(nb, root / notebook),
                         "seconds": round(totals[notebook], 1),
                         "code_cells": sum(c.cell_type == "code" for c in nb.cells),
                         "status": "failed" if notebook in failed else "ok"})
        text = render(rows, describe_machine(), os.environ.get("GAN_LESSONS_PROFILE", "auto"))
        workers = getattr(config.option, "numprocesses", None)  # pytest-xdist's -n, when it runs
        workers = workers if isinstance(workers, int) else 1
        how = "by the nbval run of `make test`" + (
            f" ({workers} notebooks at a time, {os.environ.get('OMP_NUM_THREADS', 'default')} torch thread(s) each)"
            if workers > 1 else "")
        text = text.replace("by `python benchmarks/chapter_times.py`", how).replace(
            "load average before the run", "load average at the end of the run")
        out = root / "_build" / "chapter_times.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return out
    finally:
        sys.path.remove(str(bench))
