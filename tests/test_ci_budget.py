"""Issue 10's CI budget: pytest prints how long each notebook took when nbval runs (the root conftest.py)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def test_nbval_run_prints_per_notebook_durations(tmp_path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "book").mkdir()
    for name, code in (("01_a", "import time\ntime.sleep(0.5)\nprint('slept')"), ("02_b", "x = 1")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# A"), nbformat.v4.new_code_cell(code)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / "book" / f"{name}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", "book/01_a.ipynb", "book/02_b.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    out = proc.stdout
    assert "notebook durations (nbval)" in out
    lines = {line.split()[2]: float(line.split()[0]) for line in out.splitlines()
             if line.strip().endswith(("cells)", "budget")) and ".ipynb" in line}
    assert set(lines) == {"book/01_a.ipynb", "book/02_b.ipynb"}
    assert lines["book/01_a.ipynb"] >= 0.5
    assert "total over 2 notebook(s)" in out


def test_no_summary_without_notebooks(tmp_path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_x.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "notebook durations" not in proc.stdout
