"""Colab and launch buttons (issue 9): every notebook opens in Colab and installs the package it runs on.

* The first cell of every toc notebook is the Colab install cell, tagged ``remove-cell``, identical everywhere.
* It installs only when ``google.colab`` is imported, from this book's repository (``_config.yml``
  ``repository.url``) pinned to a tag or commit, and does not reinstall torch (Colab's is reused).
* ``_config.yml`` has ``launch_buttons.colab_url`` and ``repository.branch: main``.
* One setting (issue 19): the cell is exactly what ``python -m gan_lessons sync-notebooks`` writes from
  ``_config.yml``'s ``repository.url`` (which the launch buttons use) and ``pyproject.toml``'s version (the tag).
* The requirement the cell installs really installs: from a local git repository tagged like a release, into a
  fresh virtual environment, without downloading anything, and the package imports from there.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
import yaml

import gan_lessons
from gan_lessons import colab
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


def test_colab_cell_comes_from_the_one_setting():
    assert colab.repository_url(ROOT) == CONFIG["repository"]["url"].rstrip("/")
    assert colab.release_tag(ROOT) == f"v{gan_lessons.__version__}", \
        "pyproject.toml's version and gan_lessons.__version__ differ"
    expected = colab.colab_cell_source(ROOT)
    differ = [p.name for p in NOTEBOOKS if first_cell(p).source != expected]
    assert not differ, f"the Colab cell of {differ} is not the one _config.yml and pyproject.toml give; run " \
                       "`python -m gan_lessons sync-notebooks`"
    match = PIN.search(expected)
    assert match and match.group("ref") == colab.release_tag(ROOT)


@pytest.mark.parametrize("bad, message", [("url: git@github.com:a/b", "https://"), ("url: ''", "https://")])
def test_bad_repository_url_is_refused(tmp_path, bad, message):
    (tmp_path / "_config.yml").write_text(f"repository:\n  {bad}\n")
    with pytest.raises(ValueError, match=message):
        colab.repository_url(tmp_path)


def test_colab_requirement_installs_into_a_fresh_venv(tmp_path):
    """pip-install the Colab cell's requirement, pointed at a local git repository tagged like the release."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "gan_lessons", repo / "gan_lessons", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", colab.release_tag(ROOT)]):
        subprocess.run([git, *cmd], cwd=repo, env=env, check=True, capture_output=True)
    requirement = PIN.sub(lambda m: m.group(0).replace(m.group("url"), repo.as_uri()),
                          f'"{colab.install_requirement(ROOT)}"').strip('"')
    assert requirement.startswith("gan-lessons @ git+file://") and requirement.endswith(colab.release_tag(ROOT))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # torch, pip and setuptools come from this environment (Colab has its own); gan_lessons must not
    Path(site, "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           requirement], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([str(python), "-c", "import gan_lessons, gan_lessons.exercises, gan_lessons.grade; "
                           "print(gan_lessons.__file__, gan_lessons.__version__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, version = proc.stdout.split()
    assert Path(where).is_relative_to(venv) and version == gan_lessons.__version__, proc.stdout
