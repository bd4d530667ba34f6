"""Run the REAL full profile of the whole book on a GPU machine in one call and write a report.

    python benchmarks/gpu_full.py                       # on a GPU: every chapter, full profile
    python benchmarks/gpu_full.py --step-scale 0.002    # the same code paths on a CPU, 0.2 % of the steps

For every chapter notebook (``book/NN_*.ipynb``, executed top to bottom from a clean kernel, as nbval does) it
records the wall time, whether it ran through, and the checked claims the chapter recorded; then for every
experiment of ``python -m gan_lessons list`` it runs ``python -m gan_lessons run NAME --profile full`` (which
loads the notebooks' runs from the run cache) and keeps the scalar numbers of its JSON summary. The report goes to
``_build/gpu_full.md`` (and ``_build/gpu_full.json``); the exit status is 1 if any chapter or experiment failed.
Expected claims that a full run does not show are reported, not raised (``GAN_LESSONS_CLAIMS=report``).
Budget: on one modern GPU (an H100-class card) the whole run is meant to take under 10 minutes.
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

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "_build" / "claims"  # each chapter's checked claims, written by its last cell (claims.save)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--step-scale", type=float, default=1.0, help="GAN_LESSONS_STEP_SCALE (default 1)")
    parser.add_argument("--only", action="append", default=[], metavar="NOTEBOOK_OR_EXPERIMENT",
                        help="run only the chapters / experiments whose name contains this (repeatable)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per chapter or experiment")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu_full.md")
    args = parser.parse_args(argv)
    if not 0 < args.step_scale <= 1:
        parser.error("--step-scale must be in (0, 1]")
    env = {**os.environ, "GAN_LESSONS_PROFILE": "full", "GAN_LESSONS_STEP_SCALE": f"{args.step_scale:g}",
           "GAN_LESSONS_CLAIMS": "report", "GAN_LESSONS_CLAIMS_DIR": str(CLAIMS), "GAN_LESSONS_PROGRESS": "0",
           "PYTHONUNBUFFERED": "1"}
    chapters = [_chapter(nb, env, args.timeout) for nb in sorted((ROOT / "book").glob("[0-9]*.ipynb"))
                if _wanted(nb.stem, args.only)]
    runs = [_experiment(name, env, args.timeout) for name in _experiment_names(env) if _wanted(name, args.only)]
    report = {"machine": _machine(), "date": dt.datetime.now().isoformat(timespec="seconds"),
              "step_scale": args.step_scale, "chapters": chapters, "experiments": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, sort_keys=True), encoding="utf-8")
    args.out.write_text(_markdown(report), encoding="utf-8")
    print(f"report written to {args.out}")
    return 1 if any(not row["ok"] for row in chapters + runs) else 0


def _chapter(notebook: Path, env: dict, timeout: int) -> dict:
    """Execute one notebook like nbval (clean kernel, top to bottom); time it and read its recorded claims."""
    code = ("import nbformat, sys; from nbclient import NotebookClient; nb = nbformat.read(sys.argv[1], 4); "
            f"NotebookClient(nb, timeout={timeout}, resources={{'metadata': {{'path': 'book'}}}}).execute()")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(notebook)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout * 4)
    seconds = time.perf_counter() - start
    claims_file = CLAIMS / f"{notebook.stem}.json"
    claims = json.loads(claims_file.read_text()) if claims_file.is_file() else None
    print(f"{notebook.name}: {'ok' if proc.returncode == 0 else 'FAILED'} in {seconds:.0f} s", flush=True)
    return {"name": notebook.name, "ok": proc.returncode == 0, "seconds": round(seconds, 1), "claims": claims,
            "error": None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1:]}


def _experiment(name: str, env: dict, timeout: int) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gan_lessons", "run", name, "--profile", "full"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout * 4)
    seconds = time.perf_counter() - start
    ok = proc.returncode == 0 and proc.stdout.strip() != ""
    summary = json.loads(proc.stdout.strip().splitlines()[-1]) if ok else {}
    print(f"run {name}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s", flush=True)
    return {"name": name, "ok": ok, "seconds": round(seconds, 1),
            "numbers": {k: v for k, v in summary.items() if isinstance(v, (int, float, str))},
            "error": None if ok else proc.stderr.strip().splitlines()[-1:]}


def _experiment_names(env: dict) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "gan_lessons", "list"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _wanted(name: str, only: list[str]) -> bool:
    return not only or any(part in name for part in only)


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.node()} | {platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | {gpu} | " \
           f"torch {torch.__version__}"


def _markdown(report: dict) -> str:
    lines = [f"# Full-profile run ({report['date']})", "", f"Machine: {report['machine']}  ",
             f"Step scale: {report['step_scale']:g} (1 = the real full profile)", "",
             "| chapter | status | seconds | claims (held / recorded) |", "|---|---|---|---|"]
    for c in report["chapters"]:
        claims = c["claims"] or {}
        held = sum(1 for v in claims.values() if isinstance(v, dict) and v.get("verdict"))
        lines.append(f"| {c['name']} | {'ok' if c['ok'] else 'FAILED'} | {c['seconds']} | {held} / {len(claims)} |")
    lines += ["", "| experiment | status | seconds | headline numbers |", "|---|---|---|---|"]
    for r in report["experiments"]:
        nums = ", ".join(f"{k}={v}" for k, v in sorted(r["numbers"].items())[:8])
        lines.append(f"| {r['name']} | {'ok' if r['ok'] else 'FAILED'} | {r['seconds']} | {nums} |")
    for c in report["chapters"]:
        not_shown = [name for name, v in (c["claims"] or {}).items() if v.get("expected") and not v.get("verdict")]
        if not_shown:
            lines.append(f"- {c['name']}: expected claims the run did not show: {', '.join(not_shown)}")
    failed = [x for x in report["chapters"] + report["experiments"] if not x["ok"]]
    lines += ["", *(f"- {x['name']} failed: {x['error']}" for x in failed)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
