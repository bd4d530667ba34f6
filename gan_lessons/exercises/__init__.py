"""Automatic checks for the book's coding exercises.

Each ``check_*`` function runs a student's function on fixed inputs and edge cases, compares it with the
reference implementation, and prints ``passed`` or a specific hint (which input, what was expected, what
came back). It never raises an assertion traceback at the student, and it cannot be passed by returning a
constant (the cases differ) or by calling the reference (the reference is blocked during the check).
"""
from ._core import CheckResult, Case, check_function
from .minimax import check_modified_generator_loss, check_value_function
from .fid import check_frechet_distance, check_mmd2_unbiased

__all__ = ["CheckResult", "Case", "check_function", "check_modified_generator_loss", "check_value_function"]
__all__ += ["check_frechet_distance", "check_mmd2_unbiased"]
