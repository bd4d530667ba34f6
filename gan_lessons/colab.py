"""The Colab install cell, from one setting.

The book's address is ``repository.url`` in ``_config.yml`` (the launch buttons, the repository button and
the issues button use it) and its release is ``v`` + ``version`` in ``pyproject.toml``. The first cell of every
chapter installs exactly that release on Colab; ``python -m gan_lessons sync-notebooks`` writes it from those
two settings, and the tests check that every notebook agrees. To publish the book under another address,
change ``repository.url`` (and, for a new release, ``version``), run ``sync-notebooks``, and push the tag.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .checks import check_type

__all__ = ["COLAB_TAGS", "repository_url", "release_tag", "install_requirement", "colab_cell_source"]

COLAB_TAGS = ["remove-cell"]  # hidden in the HTML book: it only does something on Colab

_TEMPLATE = (  # lines of at most 88 characters for a short repository URL, like every code cell
    "# Colab only: install the package this book runs on, pinned to a release\n"
    "# of the book's repository.\n"
    "import subprocess, sys\n"
    'if "google.colab" in sys.modules:\n'
    '    package = "{requirement}"\n'
    '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)')


def repository_url(root: str | Path) -> str:
    """``repository.url`` of ``root/_config.yml``, without a trailing slash or ``.git``."""
    import yaml

    path = _folder(root) / "_config.yml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the folder that holds the book's _config.yml")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    url = str((config.get("repository") or {}).get("url") or "").strip()
    if not re.match(r"https://[^\s\"'@]+$", url):
        raise ValueError(f"{path}: repository.url must be an https:// address without '@' or quotes, got "
                         f"{url!r}; set it to the repository the book is published from")
    return re.sub(r"(\.git)?/*$", "", url)


def release_tag(root: str | Path) -> str:
    """``v`` + ``[project] version`` of ``root/pyproject.toml`` (the git tag a release is published under)."""
    import tomllib

    path = _folder(root) / "pyproject.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the repository root")
    version = str(tomllib.loads(path.read_text(encoding="utf-8")).get("project", {}).get("version", ""))
    if not re.match(r"\d+(\.\d+)*\w*$", version):
        raise ValueError(f"{path}: [project] version {version!r} is not a release version such as 0.1.0")
    return f"v{version}"


def install_requirement(root: str | Path) -> str:
    """The pip requirement the Colab cell installs: ``gan-lessons @ git+<url>@<tag>``."""
    return f"gan-lessons @ git+{repository_url(root)}@{release_tag(root)}"


def colab_cell_source(root: str | Path) -> str:
    """The source of the Colab install cell for the book in ``root``."""
    return _TEMPLATE.format(requirement=install_requirement(root))


def _folder(root: object) -> Path:
    check_type("root", root, (str, os.PathLike), "the repository's folder (a str or Path)")
    return Path(root)
