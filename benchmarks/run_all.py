"""Run every benchmark in this folder and write ``benchmarks/REPORT.md``.

    python benchmarks/run_all.py            # all of them, then REPORT.md
    python benchmarks/run_all.py --only frechet

Each benchmark is a script ``benchmarks/<name>.py`` whose LAST stdout line is one JSON object. Ratios (keys
named ``*speedup*``, ``*ratio*``, ``*factor*``) and the keys of its optional ``"target"`` object go into the
report's table; the full JSON goes below it. The report states the machine and the date, and the load average,
because timings on a busy machine are slower. A benchmark that fails is reported as failed and makes the
exit status 1; the report is still written.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Scripts here that are not ratio benchmarks: this runner, the DCGAN recipe and InfoGAN layout experiments
# (minutes; they write dcgan_recipe.md and infogan_layout.md), the chapter timer (it executes the whole book and
# writes chapter_times.md for the instructor guide; run it on its own), the old-vs-HEAD chapter timer
# (book_time.py), and the full-profile run of the whole book for a GPU machine (gpu_full.py).
NOT_BENCHMARKS = {"run_all.py", "chapter_times.py", "book_time.py", "dcgan_recipe.py", "infogan_layout.py",
                  "gpu_full.py"}
RATIO_WORDS = ("speedup", "ratio", "factor")
LOWER_IS_BETTER = ("diff", "err", "error", "time", "_s", "seconds", "loss", "distance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="folder of benchmark scripts (default: this one)")
    parser.add_argument("--output", type=Path, default=None, help="report path (default: <dir>/REPORT.md)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this benchmark (repeatable); the report then lists only these")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"--dir {args.dir} is not a folder")
    scripts = discover(args.dir)
    if args.only:
        unknown = sorted(set(args.only) - {s.stem for s in scripts})
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(s.stem for s in scripts)}")
        scripts = [s for s in scripts if s.stem in args.only]
    if not scripts:
        parser.error(f"no benchmark scripts in {args.dir}")
    machine = describe_machine()
    results = []
    for script in scripts:
        print(f"[run_all] {script.stem} ...", file=sys.stderr, flush=True)
        results.append(run_one(script, args.timeout))
        print(f"[run_all] {script.stem}: {results[-1]['status']} in {results[-1]['wall_s']:.1f} s",
              file=sys.stderr, flush=True)
    output = args.output or args.dir / "REPORT.md"
    output.write_text(render(results, machine), encoding="utf-8")
    print(f"[run_all] wrote {output}", file=sys.stderr)
    return 0 if all(r["status"] == "ok" for r in results) else 1


def discover(folder: Path) -> list[Path]:
    """Every ``*.py`` in ``folder`` but those in NOT_BENCHMARKS and private ``_*.py`` helpers, by name."""
    return sorted(p for p in folder.glob("*.py") if p.name not in NOT_BENCHMARKS and not p.name.startswith("_"))


def run_one(script: Path, timeout: float) -> dict:
    """Run one benchmark; return its name, status, wall time, and parsed JSON (or the error)."""
    start = time.perf_counter()
    env = dict(os.environ, GAN_LESSONS_PROGRESS="0")
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                              cwd=script.parent.parent, env=env)
    except subprocess.TimeoutExpired:
        return {"name": script.stem, "status": f"timed out after {timeout:.0f} s", "wall_s": timeout, "data": {}}
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"name": script.stem, "status": f"failed (exit {proc.returncode}): {tail}", "wall_s": wall,
                "data": {}}
    try:
        data = json.loads(lines[-1])
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (IndexError, ValueError) as err:
        return {"name": script.stem, "status": f"failed: last stdout line is not a JSON object ({err})",
                "wall_s": wall, "data": {}}
    return {"name": script.stem, "status": "ok", "wall_s": wall, "data": data}


def describe_machine() -> dict:
    """CPU model, cores, memory, OS, Python, torch and GPU, and the load average now."""
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        info["torch"] = "not installed"
    info["load_average"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def ratios(data: dict) -> dict[str, float]:
    """The numbers the table shows: ratio-like keys and every key named in ``data["target"]``."""
    target = data.get("target") if isinstance(data.get("target"), dict) else {}
    shown = {}
    for key, value in data.items():
        if _is_number(value) and (key in target or any(w in key.lower() for w in RATIO_WORDS)):
            shown[key] = float(value)
    return shown


def verdict(key: str, value: float, target: float) -> str:
    """'yes'/'no' for meeting a target: at most the target for errors and times, at least it otherwise."""
    if any(w in key.lower() for w in LOWER_IS_BETTER) and not any(w in key.lower() for w in RATIO_WORDS):
        return f"{'yes' if value <= target else 'no'} (≤ {_fmt(target)})"
    return f"{'yes' if value >= target else 'no'} (≥ {_fmt(target)})"


def render(results: list[dict], machine: dict) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmarks report", "",
             f"Written by `python benchmarks/run_all.py` on {now}. Do not edit by hand: run the script again.",
             "", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += ["", "Timings depend on the machine and on its load (the load average above was taken before the "
              "first benchmark).", "", "## Ratios", "",
              "| benchmark | quantity | value | target | meets target | status | wall time |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        data, target = r["data"], r["data"].get("target") if isinstance(r["data"].get("target"), dict) else {}
        shown = ratios(data) or {"—": float("nan")}
        for key, value in shown.items():
            goal = target.get(key)
            meets = verdict(key, value, goal) if _is_number(goal) and key != "—" else "—"
            lines.append(f"| `{r['name']}` | {key} | {_fmt(value)} | {_fmt(goal) if _is_number(goal) else '—'} | "
                         f"{meets} | {r['status']} | {r['wall_s']:.1f} s |")
    lines += ["", "## Full output", ""]
    for r in results:
        lines += [f"### `{r['name']}`", "", f"Status: {r['status']}.", ""]
        if r["data"]:
            lines += ["```json", json.dumps(r["data"], indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: object) -> str:
    if not _is_number(value):
        return str(value)
    value = float(value)
    if value != value:
        return "—"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f}"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
