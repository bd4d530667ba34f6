"""Repository-wide pytest hooks. At the root so they load both for ``pytest tests`` and for
``pytest --nbval-lax book/*.ipynb`` (the Makefile's nbval target), which collects nothing under tests/.

After an nbval run, print how long each notebook took (all its cells, kernel start included) against the
CI budget of issue 10: each quick-profile chapter under 4 minutes.
"""
from __future__ import annotations

from collections import defaultdict

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
