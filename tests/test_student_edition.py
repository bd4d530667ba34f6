"""The student edition and the automatic checks (issue 9).

* ``python -m gan_lessons student-edition`` works on every notebook in ``_toc.yml``, and on small notebooks built
  here: solution code becomes ``raise NotImplementedError``, prose solutions go, check cells stay.
* No solution code survives in the student edition.
* Run in a kernel, every check rejects the student stub by raising ``CheckFailed`` (so nbgrader counts the cell as
  failed), shown as one line ``not yet - <hint>`` without a traceback, and the teacher's solutions pass every
  check, which prints its verdict exactly once, in ASCII.
* Every ``check_*`` in ``gan_lessons.exercises`` rejects wrong implementations with a hint: generic ones
  (constants, None, the stub, not a function, the reference itself) and each chapter module's own
  ``WRONG_IMPLEMENTATIONS = {"check_name": [fn, ...]}``.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest
import torch

from gan_lessons import student
from gan_lessons.exercises import CheckFailed
from gan_lessons.student import BEGIN, END, StudentEditionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = student.toc_notebooks(ROOT)
IDS = [p.stem for p in NOTEBOOKS]

COLAB = ("# Colab only\nimport subprocess, sys\nif \"google.colab\" in sys.modules:\n"
         "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"gan-lessons\"], check=True)")


# --- a small teacher notebook, written the way the chapters are ------------------------------------------------

def demo_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    colab = nbformat.v4.new_code_cell(COLAB)
    colab.metadata["tags"] = ["remove-cell"]
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    setup = code("import torch\nfrom gan_lessons import exercises, runtime\nruntime.seed_everything(0)")
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an old output\n")]
    setup.execution_count = 3
    nb.cells = [
        colab,
        md("(chap-demo)=\n# Demo\n\nWhat you will learn."),
        setup,
        md("## Exercises\n\n```{exercise} The value function\n:label: ex-demo-v\nWrite V(D, G).\n```"),
        md("```{solution-start} ex-demo-v\n:class: dropdown\n```\nAverage the two logs: SECRET-PROSE-1."),
        code("def value_function(d_real, d_fake):\n    ### BEGIN SOLUTION\n"
             "    real_term = torch.log(d_real).mean()\n    return real_term + torch.log1p(-d_fake).mean()\n"
             "    ### END SOLUTION"),
        md("```{solution-end}\n```"),
        code("exercises.check_value_function(value_function)"),
        md("```{exercise} Why?\n:label: ex-demo-why\nExplain.\n```\n\n"
           "````{solution-start} ex-demo-why\n:class: dropdown\n````\nBecause SECRET-PROSE-2.\n\n"
           "```python\nprint('a code block in the prose')\n```\n````{solution-end}\n````"),
        md(":::{exercise}\n:label: ex-demo-three\nA third one.\n:::\n\n:::{solution} ex-demo-three\n"
           ":class: dropdown\nSECRET-PROSE-3\n:::\n\nText after the solution stays."),
    ]
    return nb


def write_book(folder: Path, notebooks: dict[str, nbformat.NotebookNode]) -> Path:
    (folder / "book").mkdir(parents=True)
    (folder / "book" / "intro.md").write_text("# Intro\n")
    toc = "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(f"  - file: book/{n}\n" for n in notebooks)
    (folder / "_toc.yml").write_text(toc)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / "book" / f"{name}.ipynb")
    return folder


# --- the conversion, on the small notebook ----------------------------------------------------------------------

def test_stub_keeps_indentation_and_the_code_around_it():
    src = ("def f(x):\n    y = 2 * x\n    ### BEGIN SOLUTION\n    return y + 1\n    ### END SOLUTION\n\n"
           "### BEGIN SOLUTION\nz = f(1)\n### END SOLUTION\nprint('after')")
    out = student.stub_code(src)
    assert out.split("\n") == [
        "def f(x):", "    y = 2 * x", "    # YOUR CODE HERE",
        f'    raise NotImplementedError("{student.STUB_MESSAGE}")', "",
        "# YOUR CODE HERE", f'raise NotImplementedError("{student.STUB_MESSAGE}")', "print('after')"]
    assert student.stub_code("x = 1\n") == "x = 1\n"
    compile(out, "stub", "exec")  # still valid Python


@pytest.mark.parametrize("src, message", [
    (f"{BEGIN}\nx = 1\n", "never closed"),
    (f"x = 1\n{END}\n", "without a"),
    (f"{BEGIN}\n{BEGIN}\nx = 1\n{END}\n", "inside the solution block"),
])
def test_unbalanced_code_markers_are_reported(src, message):
    with pytest.raises(StudentEditionError, match=message):
        student.stub_code(src, "book/x.ipynb, cell 4")
    with pytest.raises(StudentEditionError, match="cell 4"):
        student.stub_code(src, "book/x.ipynb, cell 4")


def test_unbalanced_solution_directives_are_reported():
    nb = demo_notebook()
    del nb.cells[6]  # the first {solution-end}
    with pytest.raises(StudentEditionError, match="still open"):
        student.student_notebook(nb, "demo.ipynb")
    nb = demo_notebook()
    del nb.cells[4]  # the first {solution-start}
    with pytest.raises(StudentEditionError, match="without a"):
        student.student_notebook(nb, "demo.ipynb")
    nb = demo_notebook()
    nb.cells[6].source = "```{solution-end}\n"  # fence never closed
    with pytest.raises(StudentEditionError, match="never closed"):
        student.student_notebook(nb, "demo.ipynb")


def test_student_notebook_of_the_demo():
    teacher = demo_notebook()
    before = nbformat.writes(teacher)
    nb = student.student_notebook(teacher, "demo.ipynb")
    assert nbformat.writes(teacher) == before, "the teacher notebook must not be modified"
    text = nbformat.writes(nb)
    for secret in ("SECRET-PROSE-1", "SECRET-PROSE-2", "SECRET-PROSE-3", "real_term", "log1p",
                   "a code block in the prose", BEGIN, END, "{solution-start}", "{solution-end}", "{solution}"):
        assert secret not in text, secret
    sources = [c.source for c in nb.cells]
    assert sources[0] == COLAB and nb.cells[0].metadata["tags"] == ["remove-cell"]
    assert "exercises.check_value_function(value_function)" in sources
    assert "Text after the solution stays." in text and "A third one." in text
    assert student.CODE_PLACEHOLDER in text and student.PROSE_PLACEHOLDER in text
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    nbformat.validate(nb)


def test_cli_writes_every_toc_notebook(tmp_path):
    book = write_book(tmp_path / "src", {"01_demo": demo_notebook(), "02_demo": demo_notebook()})
    out = tmp_path / "student"
    proc = subprocess.run([sys.executable, "-m", "gan_lessons", "student-edition", str(out), "--book-root",
                           str(book)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["01_demo.ipynb", "02_demo.ipynb"]
    assert "wrote 2 student notebook(s)" in proc.stderr


@pytest.mark.parametrize("bad", ["file", "teacher_folder", "empty"])
def test_bad_out_dir_is_refused_with_a_clear_message(tmp_path, capsys, bad):
    book = write_book(tmp_path / "src", {"01_demo": demo_notebook()})
    target = {"file": tmp_path / "a_file", "teacher_folder": book / "book", "empty": ""}[bad]
    if bad == "file":
        target.write_text("x")
    before = (book / "book" / "01_demo.ipynb").read_text()
    assert student.main([str(target), "--book-root", str(book)]) == 2
    err = capsys.readouterr().err
    assert "student-edition: error:" in err and "OUT_DIR" in err
    assert (book / "book" / "01_demo.ipynb").read_text() == before


def test_missing_toc_and_missing_notebook_are_reported(tmp_path, capsys):
    assert student.main([str(tmp_path / "out"), "--book-root", str(tmp_path)]) == 2
    assert "_toc.yml" in capsys.readouterr().err
    book = write_book(tmp_path / "src", {"01_demo": demo_notebook()})
    (book / "book" / "01_demo.ipynb").unlink()
    with pytest.raises(StudentEditionError, match="book/01_demo"):
        student.toc_notebooks(book)


def test_a_bad_notebook_writes_nothing(tmp_path):
    bad = demo_notebook()
    bad.cells[5].source = f"{BEGIN}\nx = 1\n"
    book = write_book(tmp_path / "src", {"01_demo": demo_notebook(), "02_bad": bad})
    with pytest.raises(StudentEditionError, match="02_bad.ipynb, cell 5"):
        student.write_student_edition(tmp_path / "out", book)
    assert not (tmp_path / "out").exists()


# --- the book's own notebooks ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    assert student.main([str(out)]) == 0
    return out


def test_student_edition_covers_the_toc(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_has_exercises_and_an_automatic_check(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    n_exercises = len(re.findall(r"^\s*(`{3,}|:{3,})\{exercise(-start)?\}", text, flags=re.M))
    assert n_exercises >= 3, f"{path.name}: {n_exercises} exercises; a chapter ends with at least 3"
    assert any(BEGIN in c.source for c in nb.cells if c.cell_type == "code"), \
        f"{path.name}: no code exercise with {BEGIN!r} markers"
    assert any(student.is_check_cell(c.source) for c in nb.cells if c.cell_type == "code"), \
        f"{path.name}: no cell calls an automatic check from gan_lessons.exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_solution_code_outside_markers(path):
    """Code cells inside a {solution-start} region hold the markers or call a check: nothing else can leak."""
    nb = nbformat.read(path, as_version=4)
    for start, end in student.solution_regions(nb, path.name):
        for i in range(start, end + 1):
            cell = nb.cells[i]
            if cell.cell_type == "code" and BEGIN not in cell.source and not student.is_check_cell(cell.source):
                pytest.fail(f"{path.name}, cell {i}: a code cell inside a solution without {BEGIN!r} markers "
                            f"would reach students as it is:\n{cell.source}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_notebook_has_no_solution(student_dir, path):
    teacher = nbformat.read(path, as_version=4)
    nb = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    for marker in (BEGIN, END, "{solution-start}", "{solution-end}", "{solution}"):
        assert marker not in text, f"{path.name}: {marker!r} left in the student edition"
    public = "\n".join(c.source for c in teacher.cells if c.cell_type == "code" and BEGIN not in c.source)
    student_code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for cell in teacher.cells:
        for block in student.solution_blocks(cell.source) if cell.cell_type == "code" else []:
            for line in block.split("\n"):
                line = line.strip()
                if len(line) >= 8 and not line.startswith("#") and line not in public:
                    assert line not in student_code, f"{path.name}: solution line left: {line!r}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    # everything else unchanged: code cells without markers, markdown outside solutions
    regions = student.solution_regions(teacher, path.name)
    inside = {i for s, e in regions for i in range(s, e + 1)}
    kept_code = [c.source for c in teacher.cells if c.cell_type == "code" and BEGIN not in c.source]
    assert kept_code == [c.source for c in nb.cells if c.cell_type == "code" and "YOUR CODE HERE" not in c.source]
    kept_md = [c.source for i, c in enumerate(teacher.cells) if c.cell_type == "markdown" and i not in inside
               and "{solution" not in c.source]
    student_md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert all(src in student_md for src in kept_md)
    assert [c.metadata.get("tags") for c in teacher.cells if c.cell_type == "code"] == \
        [c.metadata.get("tags") for c in nb.cells if c.cell_type == "code"]


# --- running the exercises in a kernel ---------------------------------------------------------------------------

RECORDER = '''\
import json as _gl_json, importlib as _gl_importlib, pkgutil as _gl_pkgutil
import gan_lessons.exercises as _gl_exercises
_GL_RESULTS, _GL_DEPTH = [], [0]

def _gl_wrap(fn, name):
    def recorded(*args, **kwargs):
        _GL_DEPTH[0] += 1
        try:
            result = fn(*args, **kwargs)
        except BaseException as err:
            if _GL_DEPTH[0] == 1:
                _GL_RESULTS.append({"check": name, "passed": False, "raised": type(err).__name__,
                                    "message": str(err)})
            raise
        finally:
            _GL_DEPTH[0] -= 1
        if _GL_DEPTH[0] == 0:
            _GL_RESULTS.append({"check": name, "passed": bool(getattr(result, "passed", False)), "raised": None,
                                "message": str(getattr(result, "message", result)), "type": type(result).__name__})
        return result
    return recorded

_gl_done = {}
for _gl_mod in [_gl_exercises] + [_gl_importlib.import_module(f"gan_lessons.exercises.{m.name}")
                                  for m in _gl_pkgutil.iter_modules(_gl_exercises.__path__)]:
    for _gl_name, _gl_fn in list(vars(_gl_mod).items()):
        if _gl_name.startswith("check_") and _gl_name != "check_function" and callable(_gl_fn):
            _gl_done.setdefault(id(_gl_fn), _gl_wrap(_gl_fn, _gl_name))
            setattr(_gl_mod, _gl_name, _gl_done[id(_gl_fn)])
'''
REPORT = 'print("__GL_RESULTS__" + _gl_json.dumps(_GL_RESULTS))'


def exercise_cells(nb: nbformat.NotebookNode, whole: bool) -> list[int]:
    """Indices of the code cells to run, up to the last check cell (later solutions have no check to pass;
    nbval runs them): the set-up cell and the code cells from the first exercise on (``whole=False``), or
    every code cell but the Colab one (``whole=True``)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "google.colab" not in c.source]
    last_check = max((i for i in code if student.is_check_cell(nb.cells[i].source)), default=-1)
    code = [i for i in code if i <= last_check]
    if whole:
        return code
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                  and re.search(r"\{exercise(-start)?\}", c.source)), len(nb.cells))
    return code[:1] + [i for i in code[1:] if i > first]


def run_cells(sources: list[str], folder: Path, allow_errors: bool) -> tuple[list[dict], list[list[dict]]]:
    """Execute the recorder, ``sources`` and the report in a fresh kernel; return (check results, outputs)."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [RECORDER, *sources, REPORT]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    os.environ.setdefault("GAN_LESSONS_PROFILE", "quick")
    os.environ["GAN_LESSONS_PROGRESS"] = "0"
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(folder)}}).execute()
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    match = re.search(r"__GL_RESULTS__(.*)", report)
    assert match, f"the report cell printed no results: {nb.cells[-1].outputs}"
    return json.loads(match.group(1)), [c.outputs for c in nb.cells[1:-1]]


def check_exercises(teacher: nbformat.NotebookNode, pupil: nbformat.NotebookNode, folder: Path, name: str) -> None:
    from nbclient.exceptions import CellExecutionError

    teacher_code = [i for i, c in enumerate(teacher.cells) if c.cell_type == "code"]
    pupil_code = [i for i, c in enumerate(pupil.cells) if c.cell_type == "code"]
    assert len(teacher_code) == len(pupil_code), f"{name}: the student edition lost code cells"
    pos = {cell: k for k, cell in enumerate(teacher_code)}
    n_checks = sum(student.is_check_cell(teacher.cells[i].source) for i in teacher_code)
    if n_checks == 0:
        pytest.skip(f"{name} has no check cell (test_chapter_has_exercises_and_an_automatic_check reports it)")
    chosen = None
    for whole in (False, True):  # fast: set-up + exercises; if they need more of the chapter, all of it
        chosen = exercise_cells(teacher, whole)
        try:
            results, teacher_outputs = run_cells([teacher.cells[i].source for i in chosen], folder,
                                                 allow_errors=False)
            break
        except CellExecutionError as err:
            if getattr(err, "ename", "") == "CheckFailed":
                pytest.fail(f"{name}: the teacher's solutions fail their checks: {err.evalue}")
            if whole:
                pytest.fail(f"{name}: the teacher notebook's exercises fail to run:\n{str(err)[-3000:]}")
    assert len(results) >= n_checks, f"{name}: {n_checks} check cells but only {len(results)} checks ran"
    failed = [r for r in results if not r["passed"]]
    if failed:
        pytest.fail(f"{name}: the teacher's solutions fail their checks: {failed}")

    pupil_cells = [pupil.cells[pupil_code[pos[i]]].source for i in chosen]
    pupil_results, outputs = run_cells(pupil_cells, folder, allow_errors=True)
    for src, outs in zip(pupil_cells, outputs):
        for out in outs:
            if out.output_type != "error":
                continue
            if student.is_check_cell(src):
                if out.ename != "CheckFailed":
                    pytest.fail(f"{name}: the check cell\n{src}\nraised {out.ename}: {out.evalue} on the student "
                                "stub instead of a hint (keep the markers inside the function body)")
                assert out.traceback == [f"not yet - {out.evalue}"], \
                    f"{name}: a failed check must show one line 'not yet - <hint>', not {out.traceback}"
                continue
            assert out.ename == "NotImplementedError", f"{name}: the student edition raised {out.ename}: " \
                                                       f"{out.evalue} in\n{src}"
    assert len(pupil_results) == len(results), \
        f"{name}: {len(results)} checks ran on the solutions but {len(pupil_results)} on the student stubs"
    for r in pupil_results:
        assert r["raised"] == "CheckFailed", f"{name}: {r['check']} raised {r['raised']} on the stub, not a hint"
        assert not r["passed"], f"{name}: {r['check']} passed the student stub"
        assert len(r["message"]) > 20 and "Traceback" not in r["message"], r
    for src, outs in zip([teacher.cells[i].source for i in chosen], teacher_outputs):
        if student.is_check_cell(src):
            text = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
            assert not [o for o in outs if o.output_type in ("execute_result", "display_data")], \
                f"{name}: {src} shows its result a second time after printing it"
            assert text.count("passed - ") == 1 and text.isascii(), \
                f"{name}: {src} must print its verdict once, in ASCII (the book's fonts), got {text!r}"


def test_exercise_runner_on_the_demo(tmp_path):
    """The machinery below, on the demo notebook: the solution passes, the stub gets a hint."""
    teacher = demo_notebook()
    check_exercises(teacher, student.student_notebook(teacher), tmp_path, "demo")
    broken = demo_notebook()
    broken.cells[5].source = broken.cells[5].source.replace("log1p(-d_fake)", "log1p(d_fake)")
    with pytest.raises(pytest.fail.Exception, match="fail their checks"):
        check_exercises(broken, student.student_notebook(broken), tmp_path, "broken")
    top_level = demo_notebook()  # markers around the whole def: the check cell then raises NameError
    top_level.cells[5].source = ("### BEGIN SOLUTION\ndef value_function(d_real, d_fake):\n"
                                 "    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()\n"
                                 "### END SOLUTION")
    with pytest.raises(pytest.fail.Exception, match="instead of a hint"):
        check_exercises(top_level, student.student_notebook(top_level), tmp_path, "top-level")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solutions_pass_and_stubs_get_hints(path, student_dir):
    teacher = nbformat.read(path, as_version=4)
    check_exercises(teacher, nbformat.read(student_dir / path.name, as_version=4), path.parent, path.name)


# --- every check against wrong implementations ------------------------------------------------------------------

def _exercise_modules() -> list:
    import gan_lessons.exercises as pkg

    return [pkg] + [importlib.import_module(f"{pkg.__name__}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]


def _checks() -> dict[str, tuple[Callable, Any]]:
    found = {}
    for module in _exercise_modules():
        for name, fn in vars(module).items():
            if name.startswith("check_") and name != "check_function" and inspect.isfunction(fn) \
                    and fn.__module__.startswith("gan_lessons.exercises"):
                found.setdefault(name, (fn, importlib.import_module(fn.__module__)))
    return dict(sorted(found.items()))


CHECKS = _checks()


def _stub(*args, **kwargs):
    raise NotImplementedError(student.STUB_MESSAGE)


GENERIC_WRONG = {
    "the student stub (raises NotImplementedError)": _stub,
    "returns the constant tensor 0": lambda *a, **k: torch.tensor(0.0),
    "returns the constant 1.0": lambda *a, **k: 1.0,
    "returns None (forgot `return`)": lambda *a, **k: None,
    "returns its first argument": lambda *a, **k: a[0] if a else None,
}


def _wrong_cases() -> list:
    cases = []
    for check_name, (check, module) in CHECKS.items():
        for what, fn in GENERIC_WRONG.items():
            cases.append(pytest.param(check_name, fn, id=f"{check_name}-{what.split(' (')[0]}"))
        for k, fn in enumerate(getattr(module, "WRONG_IMPLEMENTATIONS", {}).get(check_name, [])):
            label = (fn.__doc__ or getattr(fn, "__name__", f"wrong{k}")).strip().splitlines()[0][:40]
            cases.append(pytest.param(check_name, fn, id=f"{check_name}-module-{k}-{label}"))
    return cases


def _run_check(check_name: str, candidate: Any, capsys) -> Any:
    """(result, what the check printed, the one line Jupyter shows for its CheckFailed or None)."""
    check = getattr(importlib.import_module("gan_lessons.exercises"), check_name, None) or CHECKS[check_name][0]
    try:
        result, shown = check(candidate), None
    except CheckFailed as err:
        result, shown = err.result, err._render_traceback_()
        assert str(err) == result.message, f"{check_name}: the exception's message must be the hint"
    except Exception as err:  # noqa: BLE001 - a check raises CheckFailed with a hint, nothing else
        pytest.fail(f"{check_name} raised {type(err).__name__}: {err} instead of CheckFailed with a hint")
    printed = capsys.readouterr().out
    return result, printed, shown


def _assert_rejected(check_name: str, result: Any, printed: str, shown: list[str] | None) -> None:
    assert result is not None and not bool(result), f"{check_name} accepted a wrong implementation: {result}"
    message = str(getattr(result, "message", result))
    assert len(message) > 20, f"{check_name}: the hint is too short to help: {message!r}"
    assert shown == [f"not yet - {message}"] and message.isascii(), \
        f"{check_name}: Jupyter must show the hint as one ASCII line 'not yet - <hint>', got {shown!r}"
    assert printed == "", f"{check_name}: a failing check shows its verdict once (as the error), printed {printed!r}"


def test_checks_exist():
    assert CHECKS, "gan_lessons.exercises has no check_* functions"


@pytest.mark.parametrize("check_name, wrong", _wrong_cases())
def test_check_rejects_wrong_implementation(check_name, wrong, capsys):
    _assert_rejected(check_name, *_run_check(check_name, wrong, capsys))


@pytest.mark.parametrize("check_name", list(CHECKS))
def test_check_rejects_a_value_instead_of_a_function(check_name, capsys):
    _assert_rejected(check_name, *_run_check(check_name, 0.5, capsys))


@pytest.mark.parametrize("check_name", list(CHECKS))
def test_check_cannot_be_passed_with_the_reference(check_name, capsys, monkeypatch):
    """Handing in the reference itself, or a function that calls it, is rejected."""
    check, module = CHECKS[check_name]
    seen: list[Callable] = []
    core = importlib.import_module("gan_lessons.exercises._core")
    original = core.check_function

    def spy(student_fn, reference_fn, *args, **kwargs):
        seen.append(reference_fn)
        return original(student_fn, reference_fn, *args, **kwargs)

    monkeypatch.setattr(module, "check_function", spy, raising=False)
    with pytest.raises(CheckFailed):
        check(GENERIC_WRONG["the student stub (raises NotImplementedError)"])
    capsys.readouterr()
    monkeypatch.undo()
    if not seen:
        pytest.skip(f"{check_name} does not use exercises.check_function, so its reference is unknown here")
    reference = seen[0]
    for how, candidate in (("handing in the reference itself", reference),
                           ("a function that calls the reference, imported by name before the check",
                            lambda *a, **k: reference(*a, **k))):
        result, printed, shown = _run_check(check_name, candidate, capsys)
        assert result is not None and not bool(result), (
            f"{check_name} is passed by {how}: blocking the module attribute (check_function's `blocked`) does "
            "not stop a function object the student already holds; block the function object itself")
        _assert_rejected(check_name, result, printed, shown)


@pytest.mark.parametrize("check_name", list(CHECKS))
def test_check_spec_matches_the_check(check_name):
    """spec_of gives the cases and reference the check uses (the grader compares with them)."""
    from gan_lessons.exercises import spec_of

    spec = spec_of(CHECKS[check_name][0])
    assert spec.cases and callable(spec.reference_fn) and spec.name
    with pytest.raises(TypeError, match="check function"):
        spec_of(3)


def test_passing_check_prints_its_verdict_once_and_displays_nothing_more(capsys):
    from IPython.core.formatters import DisplayFormatter

    result = CHECKS["check_value_function"][0](
        lambda d_real, d_fake: torch.log(d_real).mean() + torch.log1p(-d_fake).mean())
    printed = capsys.readouterr().out
    assert printed == f"passed - {result.message}\n" and printed.isascii()
    assert bool(result) and DisplayFormatter().format(result) == ({}, {}), \
        "the returned result must not show the verdict a second time in Jupyter"
