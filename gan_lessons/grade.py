"""Grading submitted notebooks without trusting what they print: ``python -m gan_lessons grade``.

``python -m gan_lessons grade SUBMISSIONS --out grades.csv`` grades every ``SUBMISSIONS/<student>/**/<NN>.ipynb``
(nbgrader's ``submitted/<student>/<assignment>/`` layout works as it is). For each notebook:

1. The exercises are the check cells of the *teacher* notebook of the same name in the book's ``_toc.yml``
   (``exercises.check_NAME(my_function)``); the submission's own check cells are dropped (a check cell that
   differs from the teacher's is reported as edited).
2. The submission runs from a fresh kernel, in a fresh working folder, without network (a separate network
   namespace via ``unshare``, where the system allows it), under one time limit for the whole notebook.
   A last cell added by the grader calls each student function on the check's cases, with the reference
   blocked, and saves what came back (tensors, arrays, numbers) to a file.
3. The grader itself, in its own process, computes the expected values with the installed ``gan_lessons``
   checks (:func:`gan_lessons.exercises.spec_of`) and compares. Text the notebook prints, and any change it
   makes to the checks inside its kernel, cannot change a grade.

One CSV row per student, notebook and exercise: ``points`` is :data:`POINTS` for a pass and 0 otherwise;
``status`` is one of ``passed``, ``failed``, ``missing`` (the function is not defined), ``timeout``, ``crashed``
(the kernel died or the grader cell could not run) or ``unknown-notebook``; ``detail`` says why.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from . import student
from .checks import check_type
from .student import _src

__all__ = ["POINTS", "DEFAULT_TIMEOUT_S", "FIELDS", "Exercise", "GradeError", "exercises_of", "grade_notebook",
           "grade_folder", "write_csv", "main"]

POINTS = 1  # points of one automatically checked exercise (the same as nbgrader_meta.CHECK_POINTS)
DEFAULT_TIMEOUT_S = 900  # per notebook; the longest chapter takes about 3 minutes on 2 CPU cores
FIELDS = ["student", "notebook", "exercise", "check", "points", "max_points", "status", "detail"]


class GradeError(ValueError):
    """The grader's arguments or the book's notebooks are not usable."""


@dataclass(frozen=True)
class Exercise:
    """One automatically checked exercise of a teacher notebook."""

    grade_id: str  # the check cell's nbgrader grade_id (or check-<k>)
    check: str  # name of the check in gan_lessons.exercises, e.g. "check_value_function"
    function: str  # the student's function the check cell passes, e.g. "value_function"
    source: str  # the teacher's check cell


def exercises_of(nb: nbformat.NotebookNode, where: str = "notebook") -> list[Exercise]:
    """The check cells of a teacher notebook: each must be ``exercises.check_NAME(function_name)``."""
    from . import exercises

    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook (nbformat.read(...)), got {type(nb).__name__}")
    found = []
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code" and student.is_check_cell(c.source)):
        call = _check_call(cell.source)
        if call is None or not callable(getattr(exercises, call[0], None)):
            raise GradeError(f"{where}: the check cell {cell.source!r} is not of the form "
                             "exercises.check_NAME(my_function) with a check that gan_lessons.exercises has")
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"check-{k + 1}"
        found.append(Exercise(grade_id, call[0], call[1], cell.source))
    return found


def grade_folder(submissions: str | Path, root: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """Grade every ``<student>/**/*.ipynb`` under ``submissions``; return the CSV rows (see the module doc)."""
    _check_timeout(timeout_s)
    submissions = Path(check_type("submissions", submissions, (str, os.PathLike), "a folder (a str or Path)"))
    if not submissions.is_dir():
        raise GradeError(f"SUBMISSIONS {submissions} is not a folder: give the folder that holds one folder "
                         "per student")
    if not timeout_s > 0:
        raise GradeError(f"--timeout must be a positive number of seconds, got {timeout_s}")
    teachers = {p.name: p for p in student.toc_notebooks(root)}
    paths = sorted(p for p in submissions.glob("*/**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise GradeError(f"no notebooks under {submissions}/<student>/: put each student's notebooks in a "
                         "folder named after the student")
    rows = []
    for path in paths:
        name = path.relative_to(submissions).parts[0]
        if path.name not in teachers:
            rows.append(_row(name, path.name, "", "", 0, 0, "unknown-notebook",
                             f"no chapter named {path.name} in the book's _toc.yml"))
            continue
        print(f"[gan_lessons] grading {path}", file=sys.stderr)
        rows += grade_notebook(path, teachers[path.name], name, timeout_s)
    return rows


def grade_notebook(path: str | Path, teacher_path: str | Path, name: str,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """The rows of one submitted notebook, graded against the teacher notebook ``teacher_path``."""
    _check_timeout(timeout_s)
    check_type("name", name, str, "the student's name (a str)")
    for label, p in (("path", path), ("teacher_path", teacher_path)):
        if not isinstance(p, (str, os.PathLike)) or not Path(p).is_file():
            raise FileNotFoundError(f"{label} {p!r} is not a notebook file")
    teacher = nbformat.read(teacher_path, as_version=4)
    exercises = exercises_of(teacher, str(teacher_path))
    notebook = Path(path).name
    try:
        submitted = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - an unreadable file is the student's problem, not the grader's
        return [_row(name, notebook, e.grade_id, e.check, 0, POINTS, "crashed",
                     f"the notebook cannot be read: {type(err).__name__}: {err}") for e in exercises]
    edited = _edited_checks(submitted, exercises)
    with tempfile.TemporaryDirectory(prefix="gan_lessons_grade_") as tmp:
        status, detail, outcomes = _execute(submitted, exercises, Path(tmp), timeout_s)
    rows = []
    for ex in exercises:
        note = "; the check cell was edited (the installed check was used)" if ex.grade_id in edited else ""
        if status != "ok":
            rows.append(_row(name, notebook, ex.grade_id, ex.check, 0, POINTS, status, detail + note))
            continue
        verdict, hint = _judge(ex, outcomes.get(ex.grade_id))
        rows.append(_row(name, notebook, ex.grade_id, ex.check, POINTS if verdict == "passed" else 0, POINTS,
                         verdict, hint + note))
    return rows


def write_csv(rows: list[dict], out: str | Path) -> Path:
    """Write the rows to ``out`` (a new file, or one this grader wrote before)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(r) <= set(FIELDS) for r in rows):
        raise ValueError(f"rows must be a list of dicts with the grader's columns {', '.join(FIELDS)}")
    out = Path(check_type("out", out, (str, os.PathLike), "the CSV file's path (a str or Path)"))
    if out.is_dir():
        raise IsADirectoryError(f"out {out} is a folder: give the path of the CSV file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)  # never a half-written grades file
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m gan_lessons grade SUBMISSIONS --out grades.csv [--timeout S] [--book-root DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m gan_lessons grade",
                                     description="Grade submitted notebooks with the installed checks.")
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder with one folder per student")
    parser.add_argument("--out", default="grades.csv", help="CSV file to write (default grades.csv)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per notebook (default {DEFAULT_TIMEOUT_S})")
    parser.add_argument("--book-root", default=None, help="folder holding _toc.yml (default: this repository)")
    args = parser.parse_args(argv)
    try:
        root = Path(args.book_root) if args.book_root else student.find_book_root()
        rows = grade_folder(args.submissions, root, args.timeout)
    except (GradeError, student.StudentEditionError) as err:
        print(f"gan_lessons grade: error: {err}", file=sys.stderr)
        return 2
    out = write_csv(rows, args.out)
    passed = sum(r["status"] == "passed" for r in rows)
    print(f"[gan_lessons] {len(rows)} row(s), {passed} passed, written to {out}", file=sys.stderr)
    return 0


# --- executing a submission ------------------------------------------------------------------------------------

_KERNEL_CELL = '''\
import torch as _gl_torch
from gan_lessons.exercises import _core as _gl_core
_gl_tasks = _gl_torch.load({cases!r}, weights_only=False)  # written by the grader: the installed checks' specs
_gl_results = {{}}
for _gl_id, (_gl_name, _gl_spec) in _gl_tasks.items():
    _gl_fn = globals().get(_gl_name)
    if not callable(_gl_fn):
        _gl_results[_gl_id] = ("missing", type(_gl_fn).__name__ if _gl_name in globals() else None)
        continue
    _gl_results[_gl_id] = [_gl_core.run_case(_gl_spec, _gl_fn, _gl_case) for _gl_case in _gl_spec.cases]
_gl_torch.save(_gl_core._plain(_gl_results), {out!r})
'''

_WORKER = '''\
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError, CellExecutionError
nb_path, work, limit, status_path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
nb = nbformat.read(nb_path, as_version=4)
deadline = time.monotonic() + limit
client = NotebookClient(nb, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": work}},
                        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())))
try:
    client.execute()
    last = nb.cells[-1].outputs
    errors = [o for o in last if o.get("output_type") == "error"]
    status = ("crashed", f"the grader cell failed: {errors[0]['ename']}: {errors[0]['evalue']}") if errors \\
        else ("ok", "")
except CellTimeoutError:
    status = ("timeout", f"the notebook did not finish within {limit:g} s")
except DeadKernelError as err:
    status = ("crashed", f"the kernel died while running the notebook ({err})")
except Exception as err:
    status = ("crashed", f"the notebook could not be run: {type(err).__name__}: {err}")
json.dump(status, open(status_path, "w"))
'''


def _execute(nb: nbformat.NotebookNode, exercises: list[Exercise], tmp: Path,
             timeout_s: float) -> tuple[str, str, dict]:
    """Run ``nb`` (check cells dropped, the grader cell added) in a sandboxed worker; (status, detail, outcomes)."""
    import torch

    from .exercises import spec_of

    work, cases, out, status_path = tmp / "work", tmp / "cases.pt", tmp / "outcomes.pt", tmp / "status.json"
    work.mkdir()
    torch.save({e.grade_id: (e.function, spec_of(_check(e))) for e in exercises}, cases)
    run = nbformat.v4.new_notebook(metadata=nb.get("metadata", {}))
    run.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    run.cells = [nbformat.v4.new_code_cell(_src(c)) for c in nb.get("cells", [])
                 if c.get("cell_type") == "code" and not student.is_check_cell(_src(c))]
    run.cells.append(nbformat.v4.new_code_cell(_KERNEL_CELL.format(cases=str(cases), out=str(out))))
    nb_path = tmp / "submission.ipynb"
    nbformat.write(run, nb_path)
    env = dict(os.environ, GAN_LESSONS_PROGRESS="0", PYTHONDONTWRITEBYTECODE="1")
    cmd = [*_sandbox(), sys.executable, "-c", _WORKER, str(nb_path), str(work), str(timeout_s), str(status_path)]
    try:
        subprocess.run(cmd, cwd=work, env=env, timeout=timeout_s + 120, capture_output=True, start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", f"the notebook did not finish within {timeout_s:g} s", {}
    if not status_path.is_file():
        return "crashed", "the notebook's worker process died before it reported", {}
    status, detail = json.loads(status_path.read_text())
    if status != "ok":
        return status, detail, {}
    if not out.is_file():
        return "crashed", "the grader cell wrote no results", {}
    try:
        return "ok", "", torch.load(out, weights_only=True)  # data only: a submission cannot run code here
    except Exception as err:  # noqa: BLE001
        return "crashed", f"the results could not be read ({type(err).__name__}: {err})", {}


def _judge(ex: Exercise, outcome: Any) -> tuple[str, str]:
    """Compare one exercise's outcomes with the installed reference, in this process."""
    from .exercises import _core, spec_of

    if outcome is None:
        return "crashed", "the grader cell did not record this exercise"
    if isinstance(outcome, tuple) and outcome and outcome[0] == "missing":
        what = "is not defined" if outcome[1] is None else f"is a {outcome[1]}, not a function"
        return "missing", f"{ex.function} {what} after running the notebook"
    spec = spec_of(_check(ex))
    if not isinstance(outcome, list) or len(outcome) != len(spec.cases):
        return "crashed", "the grader cell recorded a different number of cases than the check has"
    for case, result in zip(spec.cases, outcome):
        expected = spec.reference_fn(*_core._clone(case.args), **_core._clone(case.kwargs))
        problem = _core.judge(spec, case, expected, _core._unplain(result))
        if problem:
            return "failed", problem
    return "passed", f"{spec.name}: passed ({len(spec.cases)} cases)"


def _check(ex: Exercise):
    from . import exercises

    return getattr(exercises, ex.check)


def _edited_checks(nb: nbformat.NotebookNode, exercises: list[Exercise]) -> set[str]:
    by_id = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): _src(c) for c in nb.get("cells", [])}
    plain = [_src(c) for c in nb.get("cells", []) if c.get("cell_type") == "code" and student.is_check_cell(_src(c))]
    edited = set()
    for ex in exercises:
        src = by_id.get(ex.grade_id)
        if (src if src is not None else ex.source if ex.source in plain else None) != ex.source:
            edited.add(ex.grade_id)
    return edited


def _check_call(source: str) -> tuple[str, str] | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr.startswith("check_")]
    if len(calls) != 1 or len(calls[0].args) != 1 or not isinstance(calls[0].args[0], ast.Name):
        return None
    return calls[0].func.attr, calls[0].args[0].id


def _sandbox() -> list[str]:
    """A command prefix that runs its command without network (a new network namespace with only loopback),
    or [] where the system does not allow it (a warning says so)."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip:
        prefix = [unshare, "--user", "--map-root-user", "--net", "sh", "-c", f'{ip} link set lo up && exec "$@"',
                  "sh"]
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            pass
    print("[gan_lessons] warning: cannot isolate the submissions from the network here (unshare --net "
          "failed); grading them anyway", file=sys.stderr)
    return []


def _row(name: str, notebook: str, exercise: str, check: str, points: int, max_points: int, status: str,
         detail: str) -> dict:
    return {"student": name, "notebook": notebook, "exercise": exercise, "check": check, "points": points,
            "max_points": max_points, "status": status, "detail": detail}


def _check_timeout(timeout_s: object) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < float("inf"):
        raise GradeError(f"--timeout (the time limit) must be a positive number of seconds, got {timeout_s!r}")
