"""The instructor guide (issue 9): in the toc, and its ``{include-if-exists}`` of the measured chapter times.

Issue 19: the guide's grading commands run verbatim. Its nbgrader block (validate, generate_assignment) and its
autograde block run on chapter 3 with three submissions: the teacher solutions get full marks on every
autograded cell, the untouched release and a release that prints ``passed - `` get zero; its
``python -m gan_lessons grade`` command grades the same folder the same way.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_guide_is_in_the_toc_under_for_instructors_before_references():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    part = next(p for p in toc["parts"] if p["caption"] == "For instructors")
    files = [c["file"] for c in part["chapters"]]
    assert files.index("book/instructors") < files.index("book/references")


def test_guide_covers_build_gpu_student_edition_grading_and_times():
    text = (ROOT / "book" / "instructors.md").read_text()
    for needle in ("make book", "GAN_LESSONS_PROFILE=full", "python -m gan_lessons student-edition",
                   "### BEGIN SOLUTION", "passed - ", "not yet - ", "python benchmarks/chapter_times.py",
                   "python -m gan_lessons sync-notebooks", "nbgrader autograde", "repository.url",
                   "python -m gan_lessons grade submitted/ --out grades.csv",
                   "```{include-if-exists} ../_build/chapter_times.md ../benchmarks/chapter_times.md"):
        assert needle in text, needle


def test_extension_is_registered():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["gl_book"] == "book/_ext"
    assert (ROOT / "book" / "_ext" / "gl_book.py").is_file()


@pytest.mark.parametrize("exists", [True, False, "second"])
def test_include_if_exists(tmp_path, exists):
    """A tiny Sphinx build: the first candidate file that exists, the directive's own text when none does."""
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "page").mkdir(parents=True)
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
                                 "extensions = ['myst_parser', 'gl_book']\n"
                                 "exclude_patterns = ['times.md', 'fallback.md']\n")
    (src / "index.md").write_text("# Home\n\n```{toctree}\npage/guide\n```\n")
    (src / "page" / "guide.md").write_text("# Guide\n\n```{include-if-exists} ../times.md ../fallback.md\n"
                                           "Not measured yet: run `the script`.\n```\n")
    if exists is True:
        (src / "times.md").write_text("| chapter | seconds |\n|---|---:|\n| One | 12.5 |\n")
    (src / "fallback.md").write_text("| chapter | seconds |\n|---|---:|\n| One | 99.0 |\n")
    if exists is False:
        (src / "fallback.md").unlink()
    elif exists == "second":
        proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-E", "-b", "html", str(src), str(out)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        page = (out / "page" / "guide.html").read_text()
        assert "99.0" in page and "Not measured yet" not in page
        return
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-E", "-b", "html", str(src), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = (out / "page" / "guide.html").read_text()
    if exists:
        assert "<table" in page and "12.5" in page and "Not measured yet" not in page
    else:
        assert "Not measured yet" in page and "<table" not in page


GUIDE = (ROOT / "book" / "instructors.md").read_text()
BASH = re.findall(r"```bash\n(.*?)```", GUIDE, flags=re.S)


def guide_block(needle: str) -> str:
    blocks = [b for b in BASH if needle in b]
    assert len(blocks) == 1, f"the guide must have one bash block with {needle!r}, found {len(blocks)}"
    return blocks[0]


def run_bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", GAN_LESSONS_PROGRESS="0")
    env.setdefault("GAN_LESSONS_PROFILE", "quick")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, f"the guide's commands failed:\n{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_guide_grading_commands_run_verbatim(tmp_path):
    from test_nbgrader import cheat

    (tmp_path / "book").symlink_to(ROOT / "book")  # the guide's commands run from the repository root
    release_block = guide_block("nbgrader generate_assignment")
    proc = run_bash(release_block, tmp_path)
    assert "Success! Your notebook passes all the tests." in proc.stdout + proc.stderr
    course, name = tmp_path / "course", "03_divergences.ipynb"
    release = course / "release" / "ch03" / name
    for who in ("teacher", "untouched", "cheater"):
        (course / "submitted" / who / "ch03").mkdir(parents=True)
    shutil.copy(ROOT / "book" / name, course / "submitted" / "teacher" / "ch03" / name)
    shutil.copy(release, course / "submitted" / "untouched" / "ch03" / name)
    import nbformat

    nbformat.write(cheat(release), course / "submitted" / "cheater" / "ch03" / name)
    run_bash(guide_block("nbgrader autograde"), course)
    from nbgrader.api import Gradebook

    n_checks = sum(c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("-check")
                   for c in nbformat.read(ROOT / "book" / name, as_version=4).cells)
    assert n_checks >= 2
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for who, full in (("teacher", True), ("untouched", False), ("cheater", False)):
            nb = gb.find_submission_notebook(Path(name).stem, "ch03", who)
            checks = [g for g in nb.grades if g.name.endswith("-check")]
            assert len(checks) == n_checks
            for g in checks:
                assert g.auto_score == (g.max_score if full else 0), (who, g.name, g.auto_score)
    assert (course / "grades.csv").is_file(), "nbgrader export wrote no grades.csv"

    # our grader, on the same submissions (the untouched one is left out: test_grade.py covers zero marks)
    shutil.rmtree(course / "submitted" / "untouched")
    run_bash(guide_block("python -m gan_lessons grade"), course)
    with open(course / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["student"] for r in rows} == {"teacher", "cheater"} and len(rows) == 2 * n_checks, rows
    for r in rows:
        assert r["status"] == ("passed" if r["student"] == "teacher" else "failed"), r
