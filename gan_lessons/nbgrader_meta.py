"""nbgrader cell metadata for the chapter notebooks, written by one idempotent tool.

``python -m gan_lessons sync-notebooks`` rewrites, in every notebook of ``_toc.yml``, the ``nbgrader`` cell
metadata (and the Colab install cell, see :mod:`gan_lessons.colab`) from what the cells contain, so the
notebooks stay hand-editable: edit a chapter, or merge two branches, then run the command again.
``--check`` only reports what it would change (the tests run it). The rules:

* a code cell with ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` is an nbgrader *solution* cell
  (``grade_id`` ``<exercise label>-solution``);
* a code cell that calls an automatic check (``exercises.check_...(...)``) is an *autograded test* cell worth
  :data:`CHECK_POINTS` point, locked (``<label>-check``): a failing check raises, so nbgrader gives 0;
* a markdown cell that holds solution prose (inside ``{solution-start}`` ... ``{solution-end}``, or a
  ``{solution}`` directive) is a *manually graded answer* cell worth :data:`ANSWER_POINTS` point
  (``<label>-answer``); nbgrader replaces it by "YOUR ANSWER HERE". A markdown cell that mixes solution prose
  with other text (an exercise statement, the chapter's prose) is first split at the solution's boundary;
* a markdown cell with an ``{exercise}`` statement is *read-only* (``<label>-statement``);
* every other cell carries no ``nbgrader`` metadata.

``<label>`` is the ``:label:`` of the exercise the cell belongs to; a second cell of the same kind in one
exercise gets ``-2``, ``-3``, ...
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
import os
from pathlib import Path
from typing import Iterable

import nbformat

from . import student
from .checks import check_type

__all__ = ["CHECK_POINTS", "ANSWER_POINTS", "SCHEMA_VERSION", "nbgrader_notebook", "cell_roles",
           "nbgrader_config", "synced_notebook", "sync_notebooks", "main", "config_main"]

CHECK_POINTS = 1  # points of one autograded check cell
ANSWER_POINTS = 1  # points of one manually graded prose answer
SCHEMA_VERSION = 3  # nbgrader's cell-metadata schema (nbgrader 0.6 - 0.9)

_LABEL = re.compile(r"^\s*:label:\s*(\S+)", re.M)
_EXERCISE = re.compile(r"^\s*(`{3,}|:{3,})\{exercise(-start)?\}", re.M)
_SOLUTION_ARG = re.compile(r"^\s*(?:`{3,}|:{3,})\{solution(?:-start)?\}\s+(\S+)")
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def nbgrader_notebook(nb: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """A copy of ``nb`` with mixed solution/prose markdown cells split and every cell's ``nbgrader`` metadata
    set by the rules of the module docstring. Idempotent: ``nbgrader_notebook(nbgrader_notebook(nb)) ==
    nbgrader_notebook(nb)``; ``nb`` itself is not modified."""
    _check_notebook(nb)
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(f"{where}: expected a notebook (nbformat.read(path, as_version=4)), got "
                        f"{type(nb).__name__}")
    nb = copy.deepcopy(nb)
    student.solution_regions(nb, where)  # balanced {solution-start}/{solution-end}, with a clear error if not
    nb.cells = list(_split_mixed_cells(nb.cells, where))
    for cell, meta in zip(nb.cells, cell_roles(nb, where)):
        if meta is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = meta
    return nb


def cell_roles(nb: nbformat.NotebookNode, where: str = "notebook") -> list[dict | None]:
    """The ``nbgrader`` metadata each cell of ``nb`` should carry (None: none), without splitting cells."""
    _check_notebook(nb)
    roles: list[dict | None] = []
    used: dict[str, int] = {}
    label, in_solution = _stem_label(nb, where), False
    for i, cell in enumerate(nb.cells):
        src = student._src(cell)
        if cell.cell_type == "markdown":
            segments, in_solution_after = _segments(src, in_solution, f"{where}, cell {i}")
            label = _label_of(src, label)
            has_prose = any(kind == "prose" for kind, _ in segments)
            has_out = any(kind == "out" and line.strip() for kind, line in segments)
            in_solution = in_solution_after
            if has_prose and not has_out:
                roles.append(_meta(_unique(used, f"{label}-answer"), grade=True, solution=True,
                                   points=ANSWER_POINTS))
            elif _EXERCISE.search(src) and not has_prose:
                roles.append(_meta(_unique(used, f"{label}-statement"), locked=True))
            else:
                roles.append(None)
        elif cell.cell_type == "code" and any(student.BEGIN in line for line in src.split("\n")):
            roles.append(_meta(_unique(used, f"{label}-solution"), solution=True))
        elif cell.cell_type == "code" and student.is_check_cell(src):
            roles.append(_meta(_unique(used, f"{label}-check"), grade=True, locked=True, points=CHECK_POINTS))
        else:
            roles.append(None)
    return roles


def nbgrader_config() -> str:
    """The ``nbgrader_config.py`` of a course that releases these notebooks: nbgrader's code stub made the
    same as the student edition's, so both editions of a chapter have the same code cells."""
    stub = f'# YOUR CODE HERE\nraise NotImplementedError("{student.STUB_MESSAGE}")'
    return ("# nbgrader configuration for a course built on GAN Lessons "
            "(written by `python -m gan_lessons nbgrader-config`).\n"
            "c = get_config()  # noqa: F821 - provided by nbgrader\n"
            f"c.ClearSolutions.code_stub = {{'python': {stub!r}}}\n"
            "# The chapters train small models: give a cell up to 15 minutes when grading, and a busy machine\n"
            "# 2 minutes (nbclient's default is 4 s) to deliver a cell's output after the cell has finished.\n"
            "c.ExecutePreprocessor.timeout = 900\n"
            "c.ExecutePreprocessor.iopub_timeout = 120\n")


def synced_notebook(nb: nbformat.NotebookNode, root: str | Path, where: str = "notebook"
                    ) -> nbformat.NotebookNode:
    """What ``sync-notebooks`` writes for ``nb``: the Colab install cell first (from ``root``'s
    ``_config.yml`` and ``pyproject.toml``), then :func:`nbgrader_notebook`."""
    _check_notebook(nb)
    check_type("root", root, (str, os.PathLike), "the repository's folder (a str or Path)")
    from . import colab

    nb = copy.deepcopy(nb)
    source = colab.colab_cell_source(root)
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "code" or "google.colab" not in student._src(first):
        first = nbformat.v4.new_code_cell(source)
        nb.cells.insert(0, first)
    first.source = source
    tags = list(first.metadata.get("tags", []))
    first.metadata["tags"] = tags + [t for t in colab.COLAB_TAGS if t not in tags]
    return nbgrader_notebook(nb, where)


def sync_notebooks(root: str | Path, check: bool = False) -> list[Path]:
    """Bring every ``_toc.yml`` notebook under ``root`` to :func:`synced_notebook`; return those that were (with
    ``check=True``: would be) changed. Notebooks are converted first and written only if all convert."""
    check_type("root", root, (str, os.PathLike), "the repository's folder (a str or Path)")
    if not (Path(root) / "_toc.yml").is_file():
        raise FileNotFoundError(f"{root} has no _toc.yml: pass the book's repository root")
    root = Path(root).resolve()
    changed = []
    for path in student.toc_notebooks(root):
        nb = nbformat.read(path, as_version=4)
        new = synced_notebook(nb, root, str(path.relative_to(root)))
        if nbformat.writes(new).rstrip("\n") + "\n" != path.read_text(encoding="utf-8"):  # nbformat's own layout too
            changed.append((path, new))
    if not check:
        for path, new in changed:
            nbformat.write(new, path)
    return [path for path, _ in changed]


def main(argv: list[str] | None = None) -> int:
    """``python -m gan_lessons sync-notebooks [--check] [--book-root DIR]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_lessons sync-notebooks",
        description="Write the nbgrader cell metadata and the Colab install cell of every notebook in "
                    "_toc.yml from the cells' contents, _config.yml and pyproject.toml. Idempotent.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the notebooks that are out of date and exit 1 if any")
    parser.add_argument("--book-root", default=None, help="folder holding _toc.yml (default: this repository)")
    args = parser.parse_args(argv)
    try:
        root = Path(args.book_root) if args.book_root else student.find_book_root()
        changed = sync_notebooks(root, check=args.check)
    except (student.StudentEditionError, ValueError, FileNotFoundError) as err:
        print(f"gan_lessons sync-notebooks: error: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(path)
    if args.check and changed:
        print(f"[gan_lessons] {len(changed)} notebook(s) out of date: run `python -m gan_lessons "
              "sync-notebooks`", file=sys.stderr)
        return 1
    verb = "out of date" if args.check else "updated"
    print(f"[gan_lessons] {len(changed)} notebook(s) {verb}", file=sys.stderr)
    return 0


def config_main(argv: list[str] | None = None) -> int:
    """``python -m gan_lessons nbgrader-config``: print :func:`nbgrader_config`."""
    argparse.ArgumentParser(prog="python -m gan_lessons nbgrader-config",
                            description="Print the nbgrader_config.py of a course built on this book.").parse_args(argv)
    print(nbgrader_config(), end="")
    return 0


# --- helpers -------------------------------------------------------------------------------------------------

def _meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
          points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _unique(used: dict[str, int], grade_id: str) -> str:
    used[grade_id] = used.get(grade_id, 0) + 1
    return grade_id if used[grade_id] == 1 else f"{grade_id}-{used[grade_id]}"


def _stem_label(nb: nbformat.NotebookNode, where: str) -> str:
    """The id prefix of cells before the first exercise: the notebook's chapter label, else 'chapter'."""
    for cell in nb.cells[:3]:
        m = re.match(r"\((chap-[A-Za-z0-9_-]+)\)=", student._src(cell))
        if m:
            return m.group(1)
    return "chapter"


def _label_of(src: str, current: str) -> str:
    """The exercise label a markdown cell leaves open: its last ``:label:`` of an exercise, or the argument of
    its last solution directive, else ``current``."""
    label = current
    for line in src.split("\n"):
        m = _SOLUTION_ARG.match(line)
        if m:
            label = _ID_CHARS.sub("-", m.group(1))
    for m in _LABEL.finditer(src):
        label = _ID_CHARS.sub("-", m.group(1))
    return label


def _segments(src: str, in_solution: bool, where: str) -> tuple[list[tuple[str, str]], bool]:
    """Classify every line of a markdown cell: ``out`` (not part of a solution), ``directive`` (a
    ``{solution-start}``/``{solution-end}`` fence), ``prose`` (solution text). Returns (lines, state after)."""
    lines = src.split("\n")
    out: list[tuple[str, str]] = []
    n = 0
    while n < len(lines):
        m = student._DIRECTIVE.match(lines[n])
        if m:
            close = student._closing_fence(lines, n, m.group("fence"), where)
            name = m.group("name")
            kind = "prose" if name == "solution" else "directive"
            out += [(kind, line) for line in lines[n: close + 1]]
            if name == "solution-start":
                in_solution = True
            elif name == "solution-end":
                in_solution = False
            n = close + 1
            continue
        line = lines[n]
        out.append(("prose" if in_solution and line.strip() else ("blank-in" if in_solution else "out"), line))
        n += 1
    return out, in_solution


def _split_mixed_cells(cells: list, where: str) -> Iterable:
    """Split each markdown cell that holds solution prose AND other text into cells of one kind each."""
    in_solution = False
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            yield cell
            continue
        segments, after = _segments(student._src(cell), in_solution, f"{where}, cell {i}")
        has_prose = any(kind == "prose" for kind, _ in segments)
        has_out = any(kind == "out" and line.strip() for kind, line in segments)
        if not (has_prose and has_out):
            in_solution = after
            yield cell
            continue
        runs: list[tuple[bool, list[str]]] = []  # (is solution, lines)
        for kind, line in segments:
            solution_line = kind != "out"
            if runs and runs[-1][0] == solution_line:
                runs[-1][1].append(line)
            else:
                runs.append((solution_line, [line]))
        in_solution = after
        for k, (_, lines) in enumerate(r for r in runs if "\n".join(r[1]).strip()):
            piece = copy.deepcopy(cell)
            piece.source = "\n".join(lines).strip("\n")
            if k and "id" in piece:
                piece["id"] = f"{cell['id']}-{k}"[-64:]  # deterministic, so the tool stays idempotent
            yield piece


def _check_notebook(nb: object) -> None:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook (nbformat.read(...)), got {type(nb).__name__}")
