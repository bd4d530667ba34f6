"""Colab and launch buttons (issue 9): every notebook opens in Colab and installs the package it runs on.

* The first cell of every toc notebook is the Colab install cell, tagged ``remove-cell``, identical everywhere.
* It installs only when ``google.colab`` is imported, from this book's repository (``_config.yml``
  ``repository.url``) pinned to a tag or commit, and does not reinstall torch (Colab's is reused).
* ``_config.yml`` has ``launch_buttons.colab_url`` and ``repository.branch: main``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from gan_lessons.student import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
NOTEBOOKS = toc_notebooks(ROOT)
IDS = [p.stem for p in NOTEBOOKS]
# git+<repository url>@<tag or commit>: a tag like v0.1.0 or a full 40-character commit hash; never a branch
PIN = re.compile(r"git\+(?P<url>https://[^@\s\"']+?)(?:\.git)?@(?P<ref>v\d+(?:\.\d+)*\w*|[0-9a-f]{40})[\"'#]")


def first_cell(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    assert nb.cells, f"{path.name} is empty"
    return nb.cells[0]


def test_config_has_colab_launch_and_main_branch():
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["html"].get("use_repository_button") is True


def test_there_are_notebooks():
    assert NOTEBOOKS, "_toc.yml lists no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_is_the_colab_install_cell(path):
    cell = first_cell(path)
    assert cell.cell_type == "code", f"{path.name}: the first cell must be the Colab install code cell"
    assert "remove-cell" in cell.metadata.get("tags", []), f"{path.name}: tag the Colab cell remove-cell"
    src = cell.source
    tree = ast.parse(src)  # valid Python
    guarded = [node for node in ast.walk(tree) if isinstance(node, ast.If)
               and "google.colab" in ast.unparse(node.test) and "sys.modules" in ast.unparse(node.test)]
    assert guarded, f"{path.name}: the install must run only when 'google.colab' in sys.modules"
    assert "pip" in ast.unparse(guarded[0]), f"{path.name}: the pip install must sit inside the Colab guard"
    match = PIN.search(src)
    assert match, f"{path.name}: install from git+<repository>@<tag or 40-char commit>, got:\n{src}"
    assert match.group("url").rstrip("/") == CONFIG["repository"]["url"].rstrip("/"), \
        f"{path.name}: the Colab cell installs from {match.group('url')}, but _config.yml's repository.url is " \
        f"{CONFIG['repository']['url']}"
    strings = [n.value for n in ast.walk(guarded[0]) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if re.match(r"\s*torch", s)] and "--upgrade" not in strings, \
        f"{path.name}: do not (re)install torch on Colab; its preinstalled torch is reused"


def test_colab_cell_is_identical_in_every_notebook():
    sources = {p.name: first_cell(p).source for p in NOTEBOOKS}
    if len(set(sources.values())) > 1:
        reference = sources[NOTEBOOKS[0].name]
        differ = [name for name, src in sources.items() if src != reference]
        pytest.fail(f"the Colab cell differs from {NOTEBOOKS[0].name}'s in: {', '.join(differ)}")


def test_package_installs_without_pinning_torch():
    """pyproject's dependencies are loose bounds, so pip on Colab keeps the preinstalled torch."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_dep = [d for d in deps if re.match(r"torch\b", d)]
    assert torch_dep and "==" not in torch_dep[0], f"torch must not be pinned exactly in pyproject: {torch_dep}"
