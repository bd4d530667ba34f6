"""Checked claims: a sentence about a result is computed from the run's data, never typed by hand.

A chapter says "the saturating run stalls" only if its run shows it. ``claim`` takes the truth value
computed from the data, glues the wording that is true (myst-nb ``glue``, ``display=False``), and records
the claim with the numbers it was computed from::

    claims.claim("minimax_stalls", d_fake < 0.05, expected=True,
                 true_text="drops to zero and stays there",
                 false_text="does not collapse to zero in this run",
                 because={"final D(G(z))": d_fake})

and the markdown says ``$D(G(z))$ {glue:text}`minimax_stalls` ``. A claim marked ``expected=True`` is
the phenomenon the chapter teaches: when the run does not show it, ``claim`` raises ``ClaimFailed``
naming the claim (so nbval fails instead of the page teaching the opposite). With the environment
variable ``GAN_LESSONS_CLAIMS=report`` (used by smoke runs with shortened training) a failed expected
claim only warns (``ClaimWarning``). ``registry()`` lists every claim made in this process, and
``save(chapter)`` writes them as JSON to ``$GAN_LESSONS_CLAIMS_DIR/<chapter>.json`` when that
variable is set.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "MODES",
    "ClaimFailed",
    "ClaimWarning",
    "claim",
    "claims_mode",
    "registry",
    "clear",
    "save",
]

MODES = ("strict", "report")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGISTRY: dict[str, dict[str, Any]] = {}


class ClaimFailed(AssertionError):
    """An expected claim (the phenomenon a chapter teaches) did not hold in this run."""


class ClaimWarning(UserWarning):
    """An expected claim did not hold, reported instead of raised (``GAN_LESSONS_CLAIMS=report``)."""


def claims_mode() -> str:
    """``'strict'`` (default: a failed expected claim raises) or ``'report'`` (it warns).

    Read from the environment variable ``GAN_LESSONS_CLAIMS``.
    """
    mode = (os.environ.get("GAN_LESSONS_CLAIMS") or "strict").strip().lower()
    if mode not in MODES:
        raise ValueError(f"GAN_LESSONS_CLAIMS={mode!r} is not understood: use one of {', '.join(MODES)}")
    return mode


def claim(name: str, holds: Any, *, true_text: str, false_text: str, expected: bool = False,
          because: Mapping[str, Any] | None = None) -> bool:
    """Record the claim ``name``, glue the wording that is true, return its verdict.

    verdict = bool(holds); the glued text is ``true_text`` if the verdict is True, else ``false_text``.
    If ``expected`` and the verdict is False: raise ``ClaimFailed`` (or warn under
    ``GAN_LESSONS_CLAIMS=report``). ``because`` holds the numbers the verdict was computed from.
    """
    _check_name(name)
    for label, text in (("true_text", true_text), ("false_text", false_text)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"claim {name!r}: {label} must be a non-empty string, got {text!r}")
    if not isinstance(expected, bool):
        raise ValueError(f"claim {name!r}: expected must be True or False, got {expected!r}")
    verdict = _truth(name, holds)
    data = {str(k): _plain(v) for k, v in (because or {}).items()}
    text = true_text if verdict else false_text
    _REGISTRY[name] = {"verdict": verdict, "expected": expected, "text": text, "because": data}
    _glue(name, text)
    if expected and not verdict:
        message = (f"claim {name!r} did not hold in this run: the chapter teaches {true_text!r}, "
                   f"but the data say {false_text!r} (computed from {data}). Check the training "
                   f"budget or the seed; set GAN_LESSONS_CLAIMS=report to only warn.")
        if claims_mode() == "report":
            warnings.warn(message, ClaimWarning, stacklevel=2)
        else:
            raise ClaimFailed(message)
    return verdict


def registry() -> dict[str, dict[str, Any]]:
    """Every claim made in this process: name -> {verdict, expected, text, because} (a copy)."""
    return {name: dict(entry) for name, entry in _REGISTRY.items()}


def clear() -> None:
    """Forget every recorded claim (a notebook's set-up cell starts with an empty registry)."""
    _REGISTRY.clear()


def save(chapter: str) -> dict[str, dict[str, Any]]:
    """Return the registry; also write it to ``$GAN_LESSONS_CLAIMS_DIR/<chapter>.json`` if that is set."""
    if not isinstance(chapter, str) or not re.match(r"^[A-Za-z0-9_.-]+$", chapter):
        raise ValueError(f"chapter must be a file-name-like string such as '01_minimax', got {chapter!r}")
    entries = registry()
    folder = os.environ.get("GAN_LESSONS_CLAIMS_DIR")
    if folder:
        path = Path(folder) / f"{chapter}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    return entries


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"claim name must be an identifier such as 'minimax_stalls', got {name!r}")


def _truth(name: str, holds: Any) -> bool:
    try:
        if hasattr(holds, "numel") and holds.numel() != 1:
            raise ValueError
        value = holds.item() if hasattr(holds, "item") else holds
    except (ValueError, RuntimeError):
        raise ValueError(f"claim {name!r}: holds must be one truth value, got an array") from None
    if not isinstance(value, (bool, int)) or (isinstance(value, int) and value not in (0, 1)):
        raise ValueError(f"claim {name!r}: holds must be a boolean computed from the data, got {holds!r}")
    return bool(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def _glue(name: str, text: str) -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with every notebook install
        return
    if get_ipython() is None:
        return
    from myst_nb import glue

    glue(name, _Text(text), display=False)


class _Text:
    """Glued wording: its text/plain form is the words themselves, without a str's quotes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text
