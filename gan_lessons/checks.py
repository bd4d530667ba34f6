"""Argument checks shared by every public function: one place for "must be an integer >= 1" and friends.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) with a message that names the
argument, says what it must be and shows what was passed, so a reader knows what to change.
"""
from __future__ import annotations

import math

__all__ = ["check_int", "check_positive", "check_choice"]


def check_int(name: str, value: object, minimum: int = 0) -> int:
    """``value`` must be an int (not a bool) >= ``minimum``; returns it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_positive(name: str, value: object) -> float:
    """``value`` must be a finite real number > 0; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_choice(name: str, value: object, choices) -> object:
    """``value`` must be one of ``choices``; returns it."""
    if value not in tuple(choices):
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(map(repr, choices))}")
    return value
