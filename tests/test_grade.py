"""``python -m gan_lessons grade`` (issue 19): grades come from the installed checks, never from printed text.

A small book (one chapter, two checked exercises) and five students: the teacher's solutions (full marks), the
untouched student edition (zero), a cheater who prints ``passed - ``, edits the check cells and monkeypatches
the checks and numpy inside the kernel (zero, and the edit is reported), a notebook that kills its kernel and one
that hangs (a clear row each, and the grader goes on).
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gan_lessons import grade, student

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
TIMEOUT_S = 60  # per notebook: kernel start and torch import take a few seconds on a loaded machine


def teacher_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        md("(chap-demo)=\n# Demo"),
        code("import math\nimport torch\nfrom gan_lessons import exercises"),
        md("```{exercise} V\n:label: ex-v\nWrite V.\n```"),
        code("def value_function(d_real, d_fake):\n    ### BEGIN SOLUTION\n"
             "    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()\n    ### END SOLUTION"),
        code("exercises.check_value_function(value_function)"),
        md("```{exercise} KL\n:label: ex-kl\nWrite KL.\n```"),
        code("def my_kl(mu1, sigma1, mu2, sigma2):\n    ### BEGIN SOLUTION\n"
             "    return math.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5\n"
             "    ### END SOLUTION"),
        code("exercises.check_kl_gaussians(my_kl)"),
    ]
    from gan_lessons import nbgrader_meta

    return nbgrader_meta.nbgrader_notebook(nb)


def cheater(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = student.student_notebook(nb)
    for cell in nb.cells:
        if "raise NotImplementedError" in cell.source:
            cell.source = cell.source.replace(
                f'raise NotImplementedError("{student.STUB_MESSAGE}")',
                'print("passed - value function V(D, G): passed (4 cases).")\n    return 0.0')
        elif student.is_check_cell(cell.source):
            cell.source = 'print("passed - all cases passed.")  # ' + cell.source
    nb.cells.insert(2, code("import numpy, torch\nfrom gan_lessons import exercises\nfrom gan_lessons.exercises "
                            "import _core\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = numpy.allclose\n"
                            "_core._compare = lambda *a, **k: None\n"
                            "exercises.check_value_function = lambda f: print('passed - ')"))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[tuple[str, str], dict]:
    tmp = tmp_path_factory.mktemp("grade")
    (tmp / "book" / "book").mkdir(parents=True)
    (tmp / "book" / "book" / "intro.md").write_text("# Intro\n")
    (tmp / "book" / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_demo\n")
    teacher = teacher_notebook()
    nbformat.write(teacher, tmp / "book" / "book" / "01_demo.ipynb")
    pupil = student.student_notebook(teacher)
    crash, hang = student.student_notebook(teacher), student.student_notebook(teacher)
    crash.cells.insert(2, code("import os\nos._exit(3)"))
    hang.cells.insert(2, code("import time\ntime.sleep(10_000)"))
    subs = tmp / "submitted"
    for who, nb in {"teacher": teacher, "untouched": pupil, "cheater": cheater(teacher), "crasher": crash,
                    "hanger": hang}.items():
        (subs / who / "ch01").mkdir(parents=True)
        nbformat.write(nb, subs / who / "ch01" / "01_demo.ipynb")
    (subs / "lost" ).mkdir()
    nbformat.write(pupil, subs / "lost" / "99_not_a_chapter.ipynb")
    out = tmp / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "gan_lessons", "grade", str(subs), "--out", str(out),
                           "--timeout", str(TIMEOUT_S), "--book-root", str(tmp / "book")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == grade.FIELDS
    return {(r["student"], r["exercise"]): r for r in rows}


EXERCISES = ["ex-v-check", "ex-kl-check"]


def test_one_row_per_student_and_exercise(graded):
    assert sorted(graded) == sorted([(w, e) for w in ("teacher", "untouched", "cheater", "crasher", "hanger")
                                     for e in EXERCISES] + [("lost", "")])
    assert graded[("lost", "")]["status"] == "unknown-notebook"


def test_teacher_solutions_get_full_marks(graded):
    for ex in EXERCISES:
        row = graded[("teacher", ex)]
        assert (row["status"], row["points"], row["max_points"]) == ("passed", "1", "1"), row


def test_untouched_student_edition_gets_zero(graded):
    for ex in EXERCISES:
        row = graded[("untouched", ex)]
        assert (row["status"], row["points"]) == ("failed", "0"), row
        assert "NotImplementedError" in row["detail"], row


def test_printed_passed_and_patched_checks_get_zero(graded):
    for ex in EXERCISES:
        row = graded[("cheater", ex)]
        assert (row["status"], row["points"]) == ("failed", "0"), row
        assert "check cell was edited" in row["detail"], row


def test_crashing_and_hanging_submissions_get_a_clear_row(graded):
    for ex in EXERCISES:
        assert graded[("crasher", ex)]["status"] == "crashed" and graded[("crasher", ex)]["points"] == "0"
        assert "kernel died" in graded[("crasher", ex)]["detail"]
        assert graded[("hanger", ex)]["status"] == "timeout" and graded[("hanger", ex)]["points"] == "0"
        assert f"{TIMEOUT_S} s" in graded[("hanger", ex)]["detail"]


def test_sandbox_has_no_network():
    prefix = grade._sandbox()
    if not prefix:
        pytest.skip("unshare --net is not allowed on this machine")
    probe = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\nexcept OSError:\n" \
            "    raise SystemExit(7)\n"
    assert subprocess.run([*prefix, sys.executable, "-c", probe], timeout=60).returncode == 7


@pytest.mark.parametrize("args, message", [
    (["does-not-exist"], "is not a folder"),
    (["{empty}"], "no notebooks"),
    (["{empty}", "--timeout", "0"], "--timeout"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.replace("{empty}", str(tmp_path / "empty")) for a in args]
    assert grade.main(args + ["--out", str(tmp_path / "g.csv")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_a_check_cell_that_is_not_a_plain_call_is_refused():
    nb = teacher_notebook()
    nb.cells[4].source = "exercises.check_value_function(lambda a, b: a)"
    with pytest.raises(grade.GradeError, match="check_NAME"):
        grade.exercises_of(nb, "demo")
