"""The instructor guide (issue 9): in the toc, and its ``{include-if-exists}`` of the measured chapter times."""
from __future__ import annotations

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
                   "### BEGIN SOLUTION", "passed - ", "python benchmarks/chapter_times.py",
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
