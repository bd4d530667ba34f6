"""The checking machinery shared by every chapter's exercise checks."""
from __future__ import annotations

import contextlib
import contextvars
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

__all__ = ["Case", "CheckResult", "CheckFailed", "CheckSpec", "check_function", "spec_of", "run_case", "judge",
           "PASSED", "FAILED"]


@dataclass(frozen=True)
class Case:
    """One input to try: a short description for the hint, and the arguments."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """What a check found. ``bool(result)`` is True when every case passed.

    A check prints its verdict itself (once); in Jupyter the returned object therefore shows nothing more.
    """

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:  # the verdict was printed already: do not show it a second time
        pass

    def __str__(self) -> str:
        return self.message


class CheckFailed(AssertionError):
    """Raised by a check whose student function is wrong; the message is the hint.

    An ``AssertionError``, so nbgrader (and any test runner) counts the check cell as failed. In IPython and
    Jupyter it is shown as the one line ``not yet - <hint>`` instead of a traceback (``_render_traceback_``).
    """

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result

    def _render_traceback_(self) -> list[str]:
        return [FAILED + self.result.message]


@dataclass(frozen=True)
class CheckSpec:
    """Everything a check compares: the reference, the cases, the blocked names and the tolerances.

    ``spec_of(check)`` returns it, so a grader can compute the expected values in its own process.
    """

    name: str
    reference_fn: Callable
    cases: tuple
    blocked: tuple = ()
    atol: float = 1e-5
    rtol: float = 1e-4


PASSED = "passed - "
FAILED = "not yet - "


class _BlockedReference(Exception):
    pass


class _SpecCaptured(Exception):
    def __init__(self, spec: CheckSpec):
        super().__init__(spec.name)
        self.spec = spec


_CAPTURE = contextvars.ContextVar("gan_lessons_capture_spec", default=False)


def spec_of(check: Callable) -> CheckSpec:
    """The :class:`CheckSpec` of a ``check_*`` function (without running any student code)."""
    if not (callable(check) and str(getattr(check, "__module__", "")).startswith("gan_lessons.exercises")
            and str(getattr(check, "__name__", "")).startswith("check_")):
        raise TypeError(f"spec_of expects a check function such as exercises.check_value_function, "
                        f"got {type(check).__name__}")
    token = _CAPTURE.set(True)
    try:
        check(None)
    except _SpecCaptured as captured:
        return captured.spec
    finally:
        _CAPTURE.reset(token)
    raise ValueError(f"{getattr(check, '__name__', check)} does not use exercises.check_function, so it has "
                     "no spec to read")


def check_function(student_fn: Callable, reference_fn: Callable, cases: Sequence[Case], *, name: str,
                   blocked: Sequence[str] = (), atol: float = 1e-5, rtol: float = 1e-4,
                   verbose: bool = True, raise_on_failure: bool = True) -> CheckResult:
    """Compare ``student_fn`` with ``reference_fn`` on every case (``allclose(got, expected, atol, rtol)``).

    On success it prints ``passed - <name>: passed (<n> cases).`` once and returns a true
    :class:`CheckResult`. On the first failing case it raises :class:`CheckFailed` with the hint (which
    input, what was expected, what came back), shown in Jupyter as one line ``not yet - <hint>``; with
    ``raise_on_failure=False`` it prints that line and returns a false result instead.
    blocked: dotted names ("gan_lessons.losses.modified_generator_loss") that the student must not call;
    they raise inside the check, and the hint says so.
    """
    spec = CheckSpec(name, reference_fn, tuple(cases), tuple(blocked), atol, rtol)
    if _CAPTURE.get():
        raise _SpecCaptured(spec)
    if not cases:
        raise ValueError(f"{name}: a check needs at least one case")
    if not callable(student_fn):
        result = CheckResult(name, False, f"{name}: expected a function, got {type(student_fn).__name__}. "
                                          "Pass the function itself, without calling it: check(my_fn).")
        return _report(result, verbose, raise_on_failure)
    for case in spec.cases:
        expected = reference_fn(*_clone(case.args), **_clone(case.kwargs))
        outcome = run_case(spec, student_fn, case)
        problem = judge(spec, case, expected, outcome)
        if problem:
            return _report(CheckResult(name, False, problem), verbose, raise_on_failure)
    return _report(CheckResult(name, True, f"{name}: passed ({len(spec.cases)} cases)."), verbose,
                   raise_on_failure)


def run_case(spec: CheckSpec, student_fn: Callable, case: Case) -> tuple:
    """Call ``student_fn`` on one case with the reference blocked; return ``("value", got)``,
    ``("blocked", dotted_name)`` or ``("raised", exception_type_name, message)``."""
    if not isinstance(spec, CheckSpec) or not isinstance(case, Case) or not callable(student_fn):
        raise TypeError("run_case needs the CheckSpec of a check (spec_of), the student's function and a Case")
    try:
        with _blocking(spec.blocked), _holding_blocked(spec.reference_fn):
            return ("value", student_fn(*_clone(case.args), **_clone(case.kwargs)))
    except _BlockedReference as err:
        return ("blocked", str(err))
    except Exception as err:  # noqa: BLE001 - the student's code raised: the hint says where
        return ("raised", type(err).__name__, str(err))


def judge(spec: CheckSpec, case: Case, expected: Any, outcome: tuple) -> str | None:
    """The hint for one case's outcome (see :func:`run_case`), or None when it matches ``expected``."""
    if not isinstance(spec, CheckSpec) or not isinstance(case, Case):
        raise TypeError("judge needs the CheckSpec of a check (spec_of) and one of its Cases")
    if not isinstance(outcome, tuple) or not outcome or outcome[0] not in ("value", "blocked", "raised"):
        raise ValueError(f"outcome must be what run_case returned, got {outcome!r}"[:200])
    name = spec.name
    if outcome[0] == "blocked":
        return (f"{name}: your function called {outcome[1]}, the very function this exercise asks you to "
                "write. Implement it yourself.")
    if outcome[0] == "raised":
        return f"{name}: on {case.description}, your function raised {outcome[1]}: {outcome[2]}"
    if outcome[0] != "value":
        raise ValueError(f"unknown outcome {outcome[0]!r}: expected 'value', 'blocked' or 'raised'")
    problem = _compare(expected, outcome[1], spec.atol, spec.rtol)
    return f"{name}: on {case.description}, {problem}" if problem else None


def _report(result: CheckResult, verbose: bool, raise_on_failure: bool) -> CheckResult:
    if not result.passed and raise_on_failure:
        raise CheckFailed(result)
    if verbose:
        print((PASSED if result.passed else FAILED) + result.message)
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


def _plain(obj: Any) -> Any:
    """``obj`` as data that ``torch.load(..., weights_only=True)`` reads back: tensors, numbers, strings and
    containers as they are, numpy arrays and scalars wrapped, anything else as its type name and repr."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(o) for o in obj) if type(obj) in (list, tuple) else [_plain(o) for o in obj]
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {k: _plain(v) for k, v in obj.items()}
    return {"__other__": type(obj).__name__, "repr": _short(obj)}


def _unplain(obj: Any) -> Any:
    """The inverse of :func:`_plain` (an object of another type comes back as a stand-in with its repr)."""
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        if set(obj) == {"__other__", "repr"}:
            stand_in = type(str(obj["__other__"]), (), {"__repr__": lambda self, r=str(obj["repr"]): r})
            return stand_in()
        return {k: _unplain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unplain(o) for o in obj)
    return obj
