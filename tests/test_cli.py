"""The command line: ``python -m gan_lessons run NAME`` prints one JSON object as its last stdout line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gan_lessons import cli


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "GAN_LESSONS_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "gan_lessons", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_every_chapter_experiment_is_registered():
    names = cli.experiments()
    assert "minimax" in names
    for name, module in names.items():
        assert callable(module.run) and module.__doc__, f"experiment {name} needs run() and a docstring"


def test_unknown_names_are_clear_errors():
    assert "unknown experiment 'nope'" in run_cli("run", "nope").stderr
    assert "unknown command" in run_cli("fly").stderr
    proc = run_cli("run", "minimax", "--profile", "huge")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = run_cli("run", "minimax", "--seed", "-3")
    assert proc.returncode == 2 and "non-negative" in proc.stderr


@pytest.mark.slow
def test_run_minimax_prints_identical_json_twice():
    outs = [run_cli("run", "minimax", "--profile", "quick", "--seed", "1") for _ in range(2)]
    for proc in outs:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "running 'minimax'" in proc.stderr  # progress on stderr, not stdout
    summaries = [json.loads(p.stdout.strip().splitlines()[-1]) for p in outs]
    assert summaries[0] == summaries[1]
    s = summaries[0]
    assert s["probe_gradient_ratio"] > 10  # the non-saturating gradient dominates once D is confident
    assert abs(s["1d_ns_mean"] - 4.0) < abs(s["1d_minimax_mean"] - 4.0)  # and only it reaches the data
