"""The checking machinery shared by every chapter's exercise checks."""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

__all__ = ["Case", "CheckResult", "check_function"]


@dataclass(frozen=True)
class Case:
    """One input to try: a short description for the hint, and the arguments."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """What a check found. ``bool(result)`` is True when every case passed."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _repr_markdown_(self) -> str:  # shown as the cell's result in Jupyter
        return ("✅ " if self.passed else "❌ ") + self.message

    def __str__(self) -> str:
        return self.message


class _BlockedReference(Exception):
    pass


def check_function(student_fn: Callable, reference_fn: Callable, cases: Sequence[Case], *, name: str,
                   blocked: Sequence[str] = (), atol: float = 1e-5, rtol: float = 1e-4,
                   verbose: bool = True) -> CheckResult:
    """Compare ``student_fn`` with ``reference_fn`` on every case; print and return a :class:`CheckResult`.

    blocked: dotted names ("gan_lessons.losses.modified_generator_loss") that the student must not call;
    they raise inside the check, and the hint says so.
    """
    if not callable(student_fn):
        result = CheckResult(name, False, f"{name}: expected a function, got {type(student_fn).__name__}. "
                                          "Pass the function itself, without calling it: check(my_fn).")
        return _report(result, verbose)
    for case in cases:
        expected = reference_fn(*_clone(case.args), **_clone(case.kwargs))
        try:
            with _blocking(blocked), _holding_blocked(reference_fn):
                got = student_fn(*_clone(case.args), **_clone(case.kwargs))
        except _BlockedReference as err:
            return _report(CheckResult(name, False, f"{name}: your function called {err}, the very function "
                                                    "this exercise asks you to write. Implement it yourself."),
                           verbose)
        except Exception as err:  # the student's code raised: tell them where
            return _report(CheckResult(name, False, f"{name}: on {case.description}, your function raised "
                                                    f"{type(err).__name__}: {err}"), verbose)
        problem = _compare(expected, got, atol, rtol)
        if problem:
            return _report(CheckResult(name, False, f"{name}: on {case.description}, {problem}"), verbose)
    return _report(CheckResult(name, True, f"{name}: passed ({len(cases)} cases)."), verbose)


def _report(result: CheckResult, verbose: bool) -> CheckResult:
    if verbose:
        print(("passed - " if result.passed else "not yet - ") + result.message)
    return result


def _compare(expected: Any, got: Any, atol: float, rtol: float) -> str | None:
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {type(got).__name__} ({_short(got)})"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        expected, got = expected.detach().double().numpy(), got.detach().double().numpy()
    if isinstance(expected, (float, int, np.ndarray, np.floating)):
        try:
            got_arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__} ({_short(got)})"
        exp_arr = np.asarray(expected, dtype=float)
        if got_arr.shape != exp_arr.shape:
            return f"expected shape {exp_arr.shape}, got shape {got_arr.shape}"
        if not np.allclose(got_arr, exp_arr, atol=atol, rtol=rtol, equal_nan=True):
            return f"expected {_short(exp_arr)}, got {_short(got_arr)}"
        return None
    if expected != got:
        return f"expected {_short(expected)}, got {_short(got)}"
    return None


@contextlib.contextmanager
def _blocking(names: Sequence[str]) -> Iterator[None]:
    saved = []
    try:
        for dotted in names:
            module_name, attr = dotted.rsplit(".", 1)
            module = importlib.import_module(module_name)
            saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, _blocker(dotted))
        yield
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)


@contextlib.contextmanager
def _holding_blocked(fn: Callable) -> Iterator[None]:
    """Make the reference function OBJECT raise while the student's code runs, so that a student who hands in
    the reference itself, or calls a copy of it imported before the check, is caught too (replacing a module
    attribute alone does not reach a function object the student already holds)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_freevars:  # not a plain Python function: the module attributes are blocked
        yield
        return
    _BLOCKED_NAMES[id(fn)] = f"{fn.__module__}.{fn.__qualname__}"
    fn.__code__ = _raise_if_called.__code__
    try:
        yield
    finally:
        fn.__code__ = code
        _BLOCKED_NAMES.pop(id(fn), None)


_BLOCKED_NAMES: dict[int, str] = {}


def _raise_if_called(*args: Any, **kwargs: Any) -> Any:
    # Runs with the globals of the function it stands in for: reach this module through builtins only.
    __import__("gan_lessons.exercises._core", fromlist=["_blocked_call"])._blocked_call()


def _blocked_call() -> None:
    raise _BlockedReference(" or ".join(_BLOCKED_NAMES.values()) or "the reference implementation")


def _blocker(dotted: str) -> Callable:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise _BlockedReference(dotted)

    return blocked


def _clone(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple):
        return tuple(_clone(o) for o in obj)
    if isinstance(obj, list):
        return [_clone(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    return obj


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, threshold=6)
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."
