"""The student edition: ``python -m gan_lessons student-edition OUT_DIR``.

For every notebook listed in the book's ``_toc.yml`` it writes a student copy into ``OUT_DIR``:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) is replaced by
  ``# YOUR CODE HERE`` and ``raise NotImplementedError(...)``, at the indentation of the BEGIN line;
* prose solutions are removed: the markdown between ``{solution-start}`` and ``{solution-end}`` (and whole
  ``{solution}`` directives), replaced by a short "your answer" placeholder;
* everything else (exercise text, check cells, the Colab cell, tags) is kept as it is; outputs, execution
  counts and widget state are stripped.

The teacher notebooks are never modified, and OUT_DIR may not be a folder that holds them.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path
from typing import Iterable

import nbformat

__all__ = ["BEGIN", "END", "STUB_MESSAGE", "StudentEditionError", "main", "write_student_edition",
           "toc_notebooks", "find_book_root", "student_notebook", "stub_code", "solution_regions",
           "solution_blocks", "is_check_cell"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_MESSAGE = "exercise: replace this line with your solution"
PROSE_PLACEHOLDER = "**Your answer.** YOUR ANSWER HERE"
CODE_PLACEHOLDER = ("**Your solution.** Complete the code below: replace each `raise NotImplementedError(...)` "
                    "with your own code, then run the cells that follow.")

# ```{solution-start} label   /   :::{solution-end}   /   ````{solution} label
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>solution-start|solution-end|solution)\}")
_CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")


class StudentEditionError(ValueError):
    """The book's notebooks or the command's arguments are not usable for a student edition."""


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring). Returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_lessons student-edition",
        description="Write the student notebooks: solution code replaced by `raise NotImplementedError`, "
                    "prose solutions removed, check cells kept, outputs stripped.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the student notebooks into")
    parser.add_argument("--book-root", default=None,
                        help="folder holding _toc.yml (default: the repository this package lives in, "
                             "else the current folder)")
    args = parser.parse_args(argv)
    try:
        root = Path(args.book_root) if args.book_root else find_book_root()
        written = write_student_edition(args.out_dir, root)
    except StudentEditionError as err:
        print(f"gan_lessons student-edition: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"[gan_lessons] wrote {len(written)} student notebook(s) to {Path(args.out_dir).resolve()}",
          file=sys.stderr)
    return 0


def write_student_edition(out_dir: str | Path, root: str | Path) -> list[Path]:
    """Write a student copy of every toc notebook under ``root`` into ``out_dir``; return the paths written."""
    _check_path("out_dir", out_dir)
    root = Path(_check_path("root", root)).resolve()
    sources = toc_notebooks(root)
    out = _checked_out_dir(out_dir, sources)
    names: dict[str, Path] = {}
    for src in sources:
        if src.name in names:
            raise StudentEditionError(f"two notebooks in _toc.yml are both named {src.name} "
                                      f"({names[src.name]} and {src}): rename one")
        names[src.name] = src
    students = [(src, student_notebook(nbformat.read(src, as_version=4), where=str(src.relative_to(root))))
                for src in sources]  # convert everything first, so a bad notebook writes nothing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src, nb in students:
        dest = out / src.name
        nbformat.write(nb, dest)
        written.append(dest)
    return written


def find_book_root() -> Path:
    """The folder with ``_toc.yml``: the repository holding this package, else the current folder."""
    for candidate in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (candidate / "_toc.yml").is_file():
            return candidate
    raise StudentEditionError("no _toc.yml found next to the gan_lessons package or in the current folder: "
                              "run this from the book's repository or pass --book-root")


def toc_notebooks(root: str | Path) -> list[Path]:
    """The ``.ipynb`` files listed in ``root/_toc.yml``, in book order (markdown pages are skipped)."""
    import yaml

    _check_path("root", root)
    root = Path(root)
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise StudentEditionError(f"{toc_path} does not exist: pass the folder that holds the book's _toc.yml")
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
    found = []
    for entry in _toc_files(toc):
        path = root / entry
        candidates = [path] if path.suffix else [path.with_suffix(".ipynb"), path.with_suffix(".md")]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            raise StudentEditionError(f"_toc.yml lists {entry!r} but no such file exists under {root}")
        if existing[0].suffix == ".ipynb":
            found.append(existing[0].resolve())
    return found


def student_notebook(nb: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a teacher notebook (a new object; ``nb`` is not modified)."""
    _check_notebook(nb)
    nb = copy.deepcopy(nb)
    regions = solution_regions(nb, where)
    has_code = {start: any(BEGIN in _src(nb.cells[i]) for i in range(start, end + 1)
                           if nb.cells[i].cell_type == "code") for start, end in regions}
    kept, in_solution = [], False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = stub_code(_src(cell), f"{where}, cell {i}")
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            text, changed, in_solution = _strip_prose(_src(cell), in_solution, has_code.get(i, False),
                                                      f"{where}, cell {i}")
            if changed and not text.strip():
                continue  # a markdown cell that held nothing but solution prose
            cell.source = text
        for key in ("execution", "widgets"):
            cell.metadata.pop(key, None)
        kept.append(cell)
    nb.cells = kept
    nb.metadata.pop("widgets", None)
    return nb


def stub_code(source: str, where: str = "cell") -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by an indented NotImplementedError."""
    _check_source(source)
    out: list[str] = []
    begin_line = None
    for n, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                raise StudentEditionError(f"{where}: line {n}: '{BEGIN}' inside the solution block opened on "
                                          f"line {begin_line}; close it with '{END}' first")
            begin_line = n
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{STUB_MESSAGE}")']
        elif marker == END:
            if begin_line is None:
                raise StudentEditionError(f"{where}: line {n}: '{END}' without a '{BEGIN}' before it")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise StudentEditionError(f"{where}: the solution block opened on line {begin_line} is never closed: "
                                  f"add '{END}'")
    return "\n".join(out)


def solution_blocks(source: str) -> list[str]:
    """The text of each solution block in a code cell (between the markers, markers excluded)."""
    _check_source(source)
    blocks, current = [], None
    for line in source.split("\n"):
        if line.strip() == BEGIN:
            current = []
        elif line.strip() == END and current is not None:
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def is_check_cell(source: str) -> bool:
    """True for a code cell that calls an automatic check (``exercises.check_...(...)``)."""
    return bool(_CHECK_CALL.search(source)) and BEGIN not in source


def solution_regions(nb: nbformat.NotebookNode, where: str = "notebook") -> list[tuple[int, int]]:
    """(first, last) cell indices of each gated ``{solution-start}`` ... ``{solution-end}`` region."""
    _check_notebook(nb)
    regions, start = [], None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for name, _ in _directives(_src(cell), f"{where}, cell {i}"):
            if name == "solution-start":
                if start is not None:
                    raise StudentEditionError(f"{where}: cell {i}: {{solution-start}} while the solution opened "
                                              f"in cell {start} is still open: add {{solution-end}} first")
                start = i
            elif name == "solution-end":
                if start is None:
                    raise StudentEditionError(f"{where}: cell {i}: {{solution-end}} without a {{solution-start}}")
                regions.append((start, i))
                start = None
    if start is not None:
        raise StudentEditionError(f"{where}: the {{solution-start}} in cell {start} has no {{solution-end}}")
    return regions


# --- helpers -------------------------------------------------------------------------------------------------

def _strip_prose(source: str, in_solution: bool, region_has_code: bool, where: str) -> tuple[str, bool, bool]:
    """Drop prose inside solution regions; a solution-start becomes a placeholder line.

    Returns (new text, whether anything was removed, whether a solution region is still open after it).
    """
    lines = source.split("\n")
    out: list[str] = []
    n, changed = 0, False
    while n < len(lines):
        m = _DIRECTIVE.match(lines[n])
        if m:
            close = _closing_fence(lines, n, m.group("fence"), where)
            name, changed = m.group("name"), True
            if name == "solution-start":
                in_solution = True
                out.append(CODE_PLACEHOLDER if region_has_code else PROSE_PLACEHOLDER)
            elif name == "solution-end":
                in_solution = False
            elif not in_solution:  # a whole {solution} directive, prose and all
                out.append(PROSE_PLACEHOLDER)
            n = close + 1
            continue
        if in_solution:
            changed = True
        else:
            out.append(lines[n])
        n += 1
    return ("\n".join(out).strip("\n") if changed else source), changed, in_solution


def _directives(source: str, where: str) -> Iterable[tuple[str, int]]:
    lines = source.split("\n")
    n = 0
    while n < len(lines):
        m = _DIRECTIVE.match(lines[n])
        if m:
            yield m.group("name"), n
            n = _closing_fence(lines, n, m.group("fence"), where) + 1
        else:
            n += 1


def _closing_fence(lines: list[str], opening: int, fence: str, where: str) -> int:
    char, length = fence[0], len(fence)
    for k in range(opening + 1, len(lines)):
        stripped = lines[k].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= length:
            return k
    raise StudentEditionError(f"{where}: the directive on line {opening + 1} ({lines[opening].strip()!r}) "
                              f"is never closed with {fence}")


def _checked_out_dir(out_dir: str | Path, sources: list[Path]) -> Path:
    if str(out_dir).strip() == "":
        raise StudentEditionError("OUT_DIR is empty: name a folder, e.g. _build/student")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StudentEditionError(f"OUT_DIR {out} exists and is not a folder: choose another path")
    resolved = out.resolve()
    for src in sources:
        if src.parent == resolved:
            raise StudentEditionError(f"OUT_DIR {out} is the folder of the teacher notebooks ({src.name} lives "
                                      "there): writing there would overwrite the solutions; choose another "
                                      "folder, e.g. _build/student")
    return out


def _src(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _toc_files(node: object) -> Iterable[str]:
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def _check_path(name: str, value: object) -> object:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a folder (a str or Path), got {type(value).__name__}")
    return value


def _check_notebook(nb: object) -> None:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook (nbformat.read(...)), got {type(nb).__name__}")


def _check_source(source: object) -> None:
    if not isinstance(source, str):
        raise TypeError(f"source must be a cell's source text (a str), got {type(source).__name__}")
