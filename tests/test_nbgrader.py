"""nbgrader, tested with nbgrader itself (issue 19).

* Every chapter's nbgrader cell metadata (and its Colab cell) is exactly what ``python -m gan_lessons
  sync-notebooks`` writes, so a hand edit or a merge is repaired by running that command again.
* ``nbgrader generate_assignment`` releases every chapter, and the release has the same code cells as our own
  student edition, with no solution code or prose in it.
* On chapter 1 (with training): ``nbgrader validate`` passes the teacher notebook, and ``nbgrader autograde``
  gives the teacher solutions full marks on every autograded cell, the untouched release zero, and a release
  that prints ``passed - `` instead of solving zero. tests/test_instructor_guide.py does the same on chapter 3
  (no training) with the guide's commands, verbatim.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gan_lessons import colab, nbgrader_meta, student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = student.toc_notebooks(ROOT)
IDS = [p.stem for p in NOTEBOOKS]
BIN = Path(sys.executable).parent
SMALL = "03_divergences.ipynb"
GRADED = ["01_minimax.ipynb"]  # a chapter with training; tests/test_instructor_guide.py runs the guide's
# nbgrader commands on chapter 3, which trains nothing


def nbgrader(*args: str, cwd: Path, timeout: int = 2400) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", GAN_LESSONS_PROGRESS="0")
    env.setdefault("GAN_LESSONS_PROFILE", "quick")
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


# --- the metadata is the tool's ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_metadata_is_what_sync_notebooks_writes(path):
    nb = nbformat.read(path, as_version=4)
    expected = nbgrader_meta.synced_notebook(nb, ROOT, path.name)
    if nbformat.writes(expected).rstrip("\n") + "\n" != path.read_text(encoding="utf-8"):
        have = [c.metadata.get("nbgrader") for c in nb.cells]
        want = [c.metadata.get("nbgrader") for c in expected.cells]
        first = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
        pytest.fail(f"{path.name}: the nbgrader metadata or the Colab cell is not what the tool writes (first "
                    f"difference at cell {first}); run `python -m gan_lessons sync-notebooks`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_solution_and_check_cell_is_marked(path):
    nb = nbformat.read(path, as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_ids"
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and student.BEGIN in cell.source:
            assert meta.get("solution") is True and meta.get("grade") is False, f"{path.name} cell {i}"
        if cell.cell_type == "code" and student.is_check_cell(cell.source):
            assert meta.get("grade") is True and meta.get("locked") is True and meta.get("points") == 1, \
                f"{path.name} cell {i}"
    assert nb.cells[0].source == colab.colab_cell_source(ROOT)


def test_tool_splits_mixed_cells_and_is_idempotent():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code("# Colab only\nimport sys\nif 'google.colab' in sys.modules:\n    pass"),
        md("(chap-demo)=\n# Demo"),
        md("```{exercise} One\n:label: ex-one\nWrite f.\n```\n\n```{solution-start} ex-one\n:class: dropdown\n```"),
        code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        md("SECRET reason.\n```{solution-end}\n```\n\n```{exercise} Two\n:label: ex-two\nWhy?\n```\n\n"
           "```{solution-start} ex-two\n:class: dropdown\n```\nBecause SECRET.\n```{solution-end}\n```\n\nAfter."),
        code("exercises.check_value_function(f)"),
    ]
    nb.cells[4].metadata["nbgrader"] = {"grade": True, "grade_id": "stale", "points": 7}  # a stale hand edit
    once = nbgrader_meta.synced_notebook(nb, ROOT, "demo")
    assert nbformat.writes(nbgrader_meta.synced_notebook(once, ROOT, "demo")) == nbformat.writes(once)
    roles = [(c.cell_type, c.metadata.get("nbgrader", {}).get("grade_id"), c.source[:12]) for c in once.cells]
    assert roles == [
        ("code", None, once.cells[0].source[:12]), ("markdown", None, "(chap-demo)="),
        ("markdown", "ex-one-statement", "```{exercise"), ("code", "ex-one-solution", "def f(x):\n  "),
        ("markdown", "ex-one-answer", "SECRET reaso"), ("markdown", "ex-two-statement", "```{exercise"),
        ("markdown", "ex-two-answer", "```{solution"), ("markdown", None, "After."),
        ("code", "ex-two-check", "exercises.ch")], roles
    assert once.cells[0].source == colab.colab_cell_source(ROOT)
    nbformat.validate(once)
    # the text is kept, only cut into cells at the solution's boundaries:
    assert [ln for c in nb.cells[4:5] for ln in c.source.split("\n") if ln.strip()] == \
        [ln for c in once.cells[4:8] for ln in c.source.split("\n") if ln.strip()]


def test_sync_notebooks_check_reports_and_repairs(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_config.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (book / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n  - file: book/{SMALL}\n")
    shutil.copy(ROOT / "book" / SMALL, book / SMALL)
    nb = nbformat.read(book / SMALL, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)  # what a merge that dropped the metadata leaves
    nbformat.write(nb, book / SMALL)
    run = [sys.executable, "-m", "gan_lessons", "sync-notebooks", "--book-root", str(tmp_path)]
    proc = subprocess.run([*run, "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and SMALL in proc.stdout and "sync-notebooks" in proc.stderr
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    assert (book / SMALL).read_text() == (ROOT / "book" / SMALL).read_text()
    assert subprocess.run([*run, "--check"], capture_output=True, timeout=120).returncode == 0


def test_nbgrader_config_stub_is_the_student_editions():
    namespace = {"get_config": lambda: type("C", (), {"__getattr__": lambda s, k: s.__dict__.setdefault(
        k, type("S", (), {})())})()}
    exec(nbgrader_meta.nbgrader_config(), namespace)  # noqa: S102 - our own config text
    stub = namespace["c"].ClearSolutions.code_stub["python"]
    assert student.stub_code(f"{student.BEGIN}\nx = 1\n{student.END}") == stub


# --- nbgrader itself ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder with every chapter as assignment ``book``, released by ``nbgrader generate_assignment``."""
    course = tmp_path_factory.mktemp("course")
    (course / "source" / "book").mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy(path, course / "source" / "book" / path.name)
    (course / "nbgrader_config.py").write_text(nbgrader_meta.nbgrader_config())
    nbgrader("generate_assignment", "book", cwd=course)
    return course


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_release_has_the_student_editions_code_and_no_solution(course, path):
    release = nbformat.read(course / "release" / "book" / path.name, as_version=4)
    ours = student.student_notebook(nbformat.read(path, as_version=4), path.name)
    assert [c.source for c in release.cells if c.cell_type == "code"] == \
        [c.source for c in ours.cells if c.cell_type == "code"], \
        f"{path.name}: nbgrader's release and `student-edition` have different code cells"
    teacher = nbformat.read(path, as_version=4)
    text, public = nbformat.writes(release), nbformat.writes(ours)  # a line the exercise states is no secret
    for cell in teacher.cells:
        for block in student.solution_blocks(cell.source) if cell.cell_type == "code" else []:
            for line in block.split("\n"):
                if len(line.strip()) > 25 and line.strip() not in public:
                    assert line.strip() not in text, f"{path.name}: solution code in the release: {line}"
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").endswith("-answer"):
            for line in cell.source.split("\n"):
                if len(line.strip()) > 40 and "{solution" not in line and line.strip()[:60] not in public:
                    assert line.strip()[:60] not in text, f"{path.name}: solution prose in the release: {line}"


def cheat(release: Path) -> nbformat.NotebookNode:
    """The release with every solution stub replaced by code that prints what a passing check prints."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "raise NotImplementedError" in cell.source:
            cell.source = re.sub(r"raise NotImplementedError\(.*\)", 'print("passed - all cases passed.")',
                                 cell.source)
    return nb


@pytest.fixture(scope="module")
def autograded(course) -> Path:
    """``nbgrader validate`` of the teacher notebooks, then ``nbgrader autograde`` of three students."""
    assignment = "graded"
    (course / "source" / assignment).mkdir()
    for name in GRADED:
        shutil.copy(ROOT / "book" / name, course / "source" / assignment / name)
        proc = nbgrader("validate", f"source/{assignment}/{name}", cwd=course)
        assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout[-3000:]
    nbgrader("generate_assignment", assignment, cwd=course)
    for who in ("teacher", "untouched", "cheater"):
        folder = course / "submitted" / who / assignment
        folder.mkdir(parents=True)
        for name in GRADED:
            release = course / "release" / assignment / name
            if who == "teacher":
                shutil.copy(ROOT / "book" / name, folder / name)
            elif who == "untouched":
                shutil.copy(release, folder / name)
            else:
                nbformat.write(cheat(release), folder / name)
    nbgrader("autograde", assignment, cwd=course, timeout=1800)
    return course


def scores(course: Path, student_id: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name in GRADED:
            nb = gb.find_submission_notebook(Path(name).stem, "graded", student_id)
            for grade in nb.grades:
                if grade.auto_score is not None or grade.cell.cell_type == "code":
                    out[f"{name}:{grade.name}"] = (grade.auto_score, grade.max_score)
    return out


@pytest.mark.parametrize("who, full", [("teacher", True), ("untouched", False), ("cheater", False)])
def test_autograde_marks(autograded, who, full):
    got = scores(autograded, who)
    checks = {k: v for k, v in got.items() if k.endswith("-check") or "-check-" in k}
    n_checks = sum(student.is_check_cell(c.source) for name in GRADED
                   for c in nbformat.read(ROOT / "book" / name, as_version=4).cells if c.cell_type == "code")
    assert len(checks) == n_checks >= 2, got
    for cell, (score, max_score) in checks.items():
        assert max_score == 1, (cell, max_score)
        assert score == (max_score if full else 0), f"{who}: {cell} scored {score} of {max_score}"
