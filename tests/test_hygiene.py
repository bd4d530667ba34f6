"""Notebook hygiene: chapters are committed without outputs, execution counts or widget state, every notebook
in book/ is in _toc.yml (so nbval and the book build run it), and each follows the chapter template."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from gan_lessons.student import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
BOOK_NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
IDS = [p.stem for p in BOOK_NOTEBOOKS]


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    toc = {p.resolve() for p in toc_notebooks(ROOT)}
    assert toc, "_toc.yml lists no notebook"
    assert all(p.is_file() for p in toc)
    missing = sorted(p.name for p in BOOK_NOTEBOOKS if p.resolve() not in toc)
    assert not missing, f"notebooks not in _toc.yml (nbval and the book would skip them): {missing}"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; clear it"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_follows_the_chapter_template(path):
    nb = nbformat.read(path, as_version=4)
    heading = nb.cells[1].source if len(nb.cells) > 1 else ""
    assert re.match(r"\(chap-[a-z0-9-]+\)=\s*\n# ", heading), \
        f"{path.name}: the second cell must be '(chap-name)=' then '# Title'"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "banner(" in code, f"{path.name}: print runtime.banner(...) at the top"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(re.findall(r"```\{exercise\}", prose)) >= 3, f"{path.name}: at least 3 exercises"
    assert re.search(r"exercises\.check_\w+\(", code), f"{path.name}: at least one automatically checked exercise"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_kernel_is_plain_python3(path):
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert meta.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


MAX_LINE = 88
HIDDEN = {"remove-input", "remove-cell"}


def _visible_code_cells(nb):
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not HIDDEN & set(cell.metadata.get("tags", [])):
            yield i, cell


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_code_lines_fit_the_code_box(path):
    nb = nbformat.read(path, as_version=4)
    long = [(i, n + 1, len(line)) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for n, line in enumerate(cell.source.splitlines()) if len(line) > MAX_LINE]
    assert not long, f"{path.name}: code lines longer than {MAX_LINE} characters (cell, line, length): {long}"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_bookkeeping_is_hidden(path):
    """glue and claims calls are bookkeeping: they live in cells tagged remove-input or remove-cell."""
    nb = nbformat.read(path, as_version=4)
    shown = [i for i, cell in _visible_code_cells(nb)
             if re.search(r"\bglue\(|\bclaims\.(claim|save)\(", cell.source)]
    assert not shown, f"{path.name}: visible code cells {shown} call glue/claims; move the calls into a cell " \
                      "tagged remove-input"


def literal_glue_keys(nb) -> list[str]:
    """The keys a notebook glues by a literal name, glue("key", ...), once per call site (f-string keys are left out)."""
    return [m.group(2) for cell in nb.cells if cell.cell_type == "code"
            for m in re.finditer(r"\bglue\(\s*(['\"])([^'\"{}]+)\1", cell.source)]


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_each_glue_key_is_glued_once(path):
    """myst-nb warns on a key glued twice, and the -W book build fails on that warning at the end of CI; this
    finds it in seconds. Give the second value its own name."""
    keys = literal_glue_keys(nbformat.read(path, as_version=4))
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"{path.name}: glue keys set in more than one place: {twice}; rename one of each pair " \
                      "(and its {glue:text} references)"


def test_the_glue_key_check_finds_a_key_glued_twice():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('glue("lr", 1, display=False)'),
                                         nbformat.v4.new_code_cell("glue('lr', 2)\nglue(f\"{name}_x\", 3)")])
    assert literal_glue_keys(nb) == ["lr", "lr"]


def _prints_a_verdict(source: str) -> bool:
    """Whether a cell's last statement is a bare ``claims.claim(...)``: Jupyter shows the returned verdict, so
    the web page would print a lone ``True`` or ``False`` under the hidden bookkeeping cell (end it with ';')."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    last = body[-1] if body else None
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)):
        return False
    func = last.value.func
    if not (isinstance(func, ast.Attribute) and func.attr == "claim" and isinstance(func.value, ast.Name)
            and func.value.id == "claims"):
        return False
    line = source.splitlines()[last.end_lineno - 1].encode()
    return not line[last.end_col_offset:].decode().lstrip().startswith(";")


def test_prints_a_verdict_finds_a_bare_claim_and_accepts_the_semicolon():
    bare = 'x = 1\nclaims.claim(\n    "a", x > 0, true_text="t", false_text="f",\n)'
    assert _prints_a_verdict(bare) and not _prints_a_verdict(bare + ";")
    assert not _prints_a_verdict(bare + "\nglue('x', x, display=False)")
    assert not _prints_a_verdict("ok = claims.claim(1)")


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=IDS)
def test_no_cell_prints_a_claims_verdict(path):
    nb = nbformat.read(path, as_version=4)
    loud = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _prints_a_verdict(c.source)]
    assert not loud, (f"{path.name}: cells {loud} end with a bare claims.claim(...), so the page prints its verdict "
                      "(True/False); end the call with ';'")
