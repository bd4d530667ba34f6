"""``benchmarks/run_all.py`` (issue 10): runs every benchmark script, writes a report of the ratios."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "run_all.py"


def load_benchmark(name: str):
    """The script benchmarks/NAME.py, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_runner():
    return load_benchmark("run_all")


@pytest.fixture()
def bench_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "fast.py").write_text('print("warming up")\nimport json\n'
                                    'print(json.dumps({"speedup": 7.5, "rel_diff": 2e-9, "n": 3, '
                                    '"target": {"speedup": 5.0, "rel_diff": 1e-6}}))\n')
    (folder / "slow.py").write_text('import json\nprint(json.dumps({"ratio": 0.5, "target": {"ratio": 2}}))\n')
    (folder / "_helper.py").write_text("raise SystemExit('helpers are not benchmarks')\n")
    (folder / "chapter_times.py").write_text("raise SystemExit('not a ratio benchmark')\n")
    return folder


def test_report_lists_ratios_targets_machine_and_date(bench_dir):
    out = bench_dir / "REPORT.md"
    proc = subprocess.run([sys.executable, str(RUNNER), "--dir", str(bench_dir)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert "| `fast` | speedup | 7.5 | 5 | yes (≥ 5) | ok |" in report
    assert "| `fast` | rel_diff | 2.00e-09 | 1.00e-06 | yes (≤ 1.00e-06) | ok |" in report
    assert "| `slow` | ratio | 0.5 | 2 | no (≥ 2) | ok |" in report
    assert "| n |" not in report and "_helper" not in report and "chapter_times" not in report
    assert "| cores |" in report and "| cpu |" in report and "| load_average |" in report
    assert "UTC" in report and "run_all.py" in report


def test_a_failing_benchmark_is_reported_and_fails_the_run(bench_dir):
    (bench_dir / "broken.py").write_text("raise RuntimeError('boom')\n")
    (bench_dir / "silent.py").write_text("print('no json here')\n")
    assert load_runner().main(["--dir", str(bench_dir)]) == 1
    report = (bench_dir / "REPORT.md").read_text()
    assert "failed (exit 1): RuntimeError: boom" in report
    assert "last stdout line is not a JSON object" in report
    assert "| `fast` | speedup | 7.5 |" in report  # the others still run


def test_only_and_bad_arguments(bench_dir, tmp_path, capsys):
    runner = load_runner()
    assert runner.main(["--dir", str(bench_dir), "--only", "slow", "--output", str(tmp_path / "r.md")]) == 0
    assert "`fast`" not in (tmp_path / "r.md").read_text()
    for argv in (["--dir", str(bench_dir), "--only", "nope"], ["--dir", str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as exc:
            runner.main(argv)
        assert exc.value.code == 2
    assert "unknown benchmark(s) nope" in capsys.readouterr().err


def test_real_benchmarks_are_discovered():
    names = [p.name for p in load_runner().discover(ROOT / "benchmarks")]
    assert "run_all.py" not in names and "chapter_times.py" not in names
    assert all((ROOT / "benchmarks" / n).read_text().strip() for n in names)


def test_chapter_times_measures_each_toc_notebook(tmp_path):
    import nbformat

    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_a\n"
                                       "  - file: book/02_b\n")
    for name, code in (("01_a", "import time\ntime.sleep(1.2)"), ("02_b", "raise ValueError('broken chapter')")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Chapter {name}"), nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, tmp_path / "book" / f"{name}.ipynb")
    out = tmp_path / "times.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chapter_times.py"), "--book-root",
                           str(tmp_path), "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # one chapter fails, and the run says so
    table = out.read_text()
    assert "| Chapter 01_a | `book/01_a.ipynb` | 1 |" in table and "| ok |" in table
    assert "error: ValueError: broken chapter" in table
    import json
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["chapters"][0]["seconds"] >= 1.2 and summary["profile"] == "quick"
    assert "Measured" in table and "cores" in table and "UTC" in table


def test_book_time_compares_an_old_commit_with_head_and_busy_with_idle(tmp_path):
    """A two-commit book whose chapter logs which commit's module it imported (old: and sleeps 1.5 s, HEAD: 0.2 s):
    each kernel imports its own commit's code, in the order old, HEAD, HEAD beside a busy process."""
    import json

    import nbformat

    book = tmp_path / "repo"
    (book / "book").mkdir(parents=True)
    (book / "book" / "intro.md").write_text("# Intro\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_a\n")
    git = lambda *a: subprocess.run(["git", "-C", str(book), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    log = tmp_path / "imported.txt"
    for name, pause in (("old", "1.5"), ("new", "0.2")):
        (book / "pace.py").write_text(f"NAME, PAUSE = {name!r}, {pause}\n")
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# Chapter A"),
                    nbformat.v4.new_code_cell(f"import time, pace\nwith open({str(log)!r}, 'a') as f:\n"
                                              "    f.write(pace.NAME + '\\n')\ntime.sleep(pace.PAUSE)")]
        nbformat.write(nb, book / "book" / "01_a.ipynb")
        git("add", "-A")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name)
    out = tmp_path / "times.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "book_time.py"), "--book-root", str(book),
                           "--old", "HEAD~1", "--busy", "--output", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    row = result["chapters"][0]
    assert log.read_text().split() == ["old", "new", "new"]  # old, HEAD, HEAD beside the busy process
    assert row["old"] >= 1.5 and row["head"] >= 0.2 and row["busy"] >= 0.2  # each slept at least its pause
    assert result["ratio"] == round(result["head_seconds"] / result["old_seconds"], 3)
    assert result["busy_ratio"] == round(row["busy"] / row["head"], 3)
    assert result["target"] == {"ratio": 0.5, "busy_ratio": 2.0}
    table = out.read_text()
    assert "| Chapter A |" in table and "HEAD / old" in table and "busy / idle" in table and "Machine:" in table
    assert subprocess.run(["git", "-C", str(book), "worktree", "list"], capture_output=True,
                          text=True).stdout.count("\n") == 1  # the old commit's worktree is gone
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "book_time.py"), "--book-root", str(book)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--old COMMIT" in bad.stderr


def test_dcgan_recipe_trains_both_settings_and_writes_its_table(tmp_path, monkeypatch):
    """The experiment behind the DCGAN chapter's generator learning rate, at a tiny budget."""
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    recipe = load_benchmark("dcgan_recipe")
    out = tmp_path / "recipe.md"
    result = recipe.main(["--seeds", "1", "--steps", "10", "--output", str(out)])
    assert {r["setting"] for r in result["runs"]} == {"chapter", "paper"} and result["steps"] == 10
    assert {r["lr_g"] for r in result["runs"]} == {result["summary"]["chapter"]["lr_g"], recipe.PAPER_LR_G}
    assert all(0 <= r["recognised_fraction"] <= 1 for r in result["runs"])
    table = out.read_text()
    assert table.count("| chapter |") == 1 and table.count("| paper |") == 1
    with pytest.raises(SystemExit):
        recipe.main(["--seeds", "0"])
    precision = recipe.main(["--compare", "precision", "--fresh", "--seeds", "2", "--steps", "10",
                             "--output", str(tmp_path / "precision.md")])
    assert [(r["setting"], r["precision"], r["seed"]) for r in precision["runs"]] == [
        ("fp32", "fp32", 0), ("bf16", "bf16", 0), ("fp32", "fp32", 1), ("bf16", "bf16", 1)]  # alternating
    fp32 = [r["recognised_fraction"] for r in precision["runs"] if r["setting"] == "fp32"]
    assert precision["summary"]["fp32"]["recognised_fraction_seed_spread"] == round(max(fp32) - min(fp32), 4)
    assert "GAN_LESSONS_PRECISION" not in os.environ  # each arm's setting is undone after its run
    assert "native bf16" in (tmp_path / "precision.md").read_text()
    lr_d = recipe.main(["--compare", "lr_d", "--seeds", "1", "--steps", "10", "--output", str(tmp_path / "d.md")])
    assert [(r["setting"], r["lr_d"]) for r in lr_d["runs"]] == [("chapter", 2e-4), ("faster_d", recipe.FASTER_LR_D)]
    assert (tmp_path / "d.md").read_text().count("| faster_d |") == 1
    gamma = recipe.dcgan.budget("quick")["r1_weight"]
    assert gamma > 0 and {r["r1_weight"] for r in result["runs"] + lr_d["runs"]} == {gamma}  # the chapter's R1
    r1 = recipe.main(["--compare", "r1", "--seeds", "1", "--steps", "10", "--output", str(tmp_path / "r1.md")])
    assert [(r["setting"], r["r1_weight"]) for r in r1["runs"]] == [("chapter", gamma), ("no_r1", 0.0)]
    assert (tmp_path / "r1.md").read_text().count("| no_r1 |") == 1
    k = recipe.dcgan.budget("quick")["r1_every"]
    assert {r["r1_every"] for r in result["runs"] + r1["runs"][:1]} == {k}  # the chapter's lazy R1
    lazy = recipe.main(["--compare", "r1_every", "--seeds", "1", "--steps", "10", "--output", str(tmp_path / "k.md")])
    assert [(r["setting"], r["r1_weight"], r["r1_every"]) for r in lazy["runs"]] == [
        ("every", gamma, 1), ("lazy", gamma, k)]
    row = lazy["runs"][1]
    expected = f"| lazy | {row['lr_g']:g} | {row['lr_d']:g} | {gamma:g} | {k} | {row['precision']} | "
    assert expected in (tmp_path / "k.md").read_text()
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    caches, train_run = [], recipe.dcgan.train_run
    monkeypatch.setattr(recipe.dcgan, "train_run",
                        lambda *a, **k: caches.append(os.environ["GAN_LESSONS_CACHE"]) or train_run(*a, **k))
    counts = recipe.main(["--compare", "threads", "--fresh", "--seeds", "1", "--steps", "10",
                          "--output", str(tmp_path / "t.md")])
    assert len(set(caches)) == 2  # each arm trained in a run cache of its own, not loading the other's run
    assert [(r["setting"], r["threads"]) for r in counts["runs"]] == [("one_thread", 1), ("all_threads", threads)]
    assert torch.get_num_threads() == threads and os.environ.get("OMP_NUM_THREADS") == omp  # both undone
    assert f"| {row['precision']} | 1 | 0 |" in (tmp_path / "t.md").read_text()  # precision, threads, seed
    with pytest.raises(SystemExit):  # without --fresh the second arm would load the first one's run
        recipe.main(["--compare", "threads", "--seeds", "1", "--steps", "10"])


def test_infogan_layout_trains_every_arm_per_seed_and_writes_its_table(tmp_path, monkeypatch):
    """The experiment behind the encoders chapter's InfoGAN networks, at a tiny budget."""
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_LESSONS_PROGRESS", "0")
    layout = load_benchmark("infogan_layout")
    out = tmp_path / "layout.md"
    result = layout.main(["--seeds", "1", "--steps", "10", "--ablation", "--fresh", "--output", str(out)])
    assert [(r["arm"], r["late"], r["shift"] > 0) for r in result["runs"]] == [
        ("chapter", 2, True), ("paper", 0, False), ("late codes only", 2, False), ("shifts only", 0, True)]
    assert all(0.1 <= r["code_accuracy"] <= 1 and r["steps"] == 10 for r in result["runs"])
    assert all(r["strongest_attribute_correlation"] == pytest.approx(max(abs(x) for x in r["slant"] + r["ink"]),
                                                                     abs=1e-3) for r in result["runs"])
    assert os.environ["GAN_LESSONS_CACHE"] == str(tmp_path / "cache")  # --fresh is undone after the runs
    table = out.read_text()
    assert table.count("| chapter |") == 2 and table.count("| shifts only |") == 2  # a run row and a mean row
    with pytest.raises(SystemExit):
        layout.main(["--steps", "5"])


def test_fastest_alternating_runs_in_turn_and_keeps_each_minimum():
    timing = load_benchmark("_timing")
    calls = []
    import time

    best = timing.fastest_alternating([lambda: calls.append("a"), lambda: (calls.append("b"), time.sleep(0.02))], 3)
    assert calls == ["a", "b"] * 3
    assert best[1] >= 0.02 > best[0] >= 0
    with pytest.raises(ValueError, match="one round"):
        timing.fastest_alternating([lambda: None], 0)


def test_dcgan_step_times_every_precision_setting_and_checks_the_policy(capsys, monkeypatch):
    """benchmarks/dcgan_step.py at a tiny size: all four settings timed, the policy's pick named and its ratio."""
    import json

    step = load_benchmark("dcgan_step")
    for asked, picked in (("fp32", "fp32"), ("bf16", "bf16+channels_last")):
        monkeypatch.setenv("GAN_LESSONS_PRECISION", asked)
        assert step.main(["--steps", "2", "--rounds", "1", "--width", "4", "--batch-size", "8"]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["policy"] == picked and set(out["seconds_per_step"]) == set(step.SETTINGS)
        ratio = out["seconds_per_step"]["fp32"] / out["seconds_per_step"][picked]  # of rounded times
        assert out["policy_speedup"] > 0 and abs(out["policy_speedup"] / ratio - 1) < 0.05
        assert out["fastest_setting"] in step.SETTINGS and out["flops_per_step"] > 0
        assert set(out["gemm_gflops"]) == ({"fp32"} if asked == "fp32" else {"fp32", "bf16"})
        assert out["target"]["policy_speedup"] in (1.8, 1.15)
        k = step.dcgan.budget("quick")["r1_every"]
        names = {f"{s} {label}" for s in ("fp32", picked) for label in ("R1 every update", f"lazy R1 every {k}")}
        assert set(out["chapter_seconds_per_step"]) == names and out["chapter_speedup"] > 0


def test_thread_policy_times_the_fit_with_and_without_the_policy_idle_and_busy():
    """benchmarks/thread_policy.py at a tiny size: every case idle and beside a busy process, and the DCGAN
    through fit with the load-aware policy and with the thread count fixed."""
    import json

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "thread_policy.py"), "--steps", "1",
                           "--rounds", "1", "--fit-steps", "3"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for case in ("1d_mlp_ch1", "dcgan_ch5"):
        assert {"idle", "beside_busy_process"} <= set(out[case]) and out[case]["idle"]["one_thread_ms"] > 0
    fit = out["dcgan_fit"]
    assert fit["steps"] == 3 and set(fit["busy_over_idle"]) == {"policy", "fixed"}
    assert all(fit[when][arm] > 0 for when in ("idle_s", "beside_busy_process_s") for arm in ("policy", "fixed"))
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "thread_policy.py"), "--fit-steps", "-1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--fit-steps >= 0" in bad.stderr
