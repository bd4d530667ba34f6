"""Checks for chapter "Evaluating GANs": the Frechet distance and the unbiased MMD^2 of KID, from scratch."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import metrics
from ._core import Case, CheckResult, check_function

__all__ = ["check_frechet_distance", "check_mmd2_unbiased"]


def check_frechet_distance(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(mu1, sigma1, mu2, sigma2) -> float`` against
    ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) on numpy float64 inputs."""
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((6, 12)), rng.standard_normal((6, 12))
    s1, s2 = a @ a.T / 12, b @ b.T / 12
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    cases = [
        Case("1D Gaussians N(0, 2^2) and N(3, 5^2) (answer (0-3)^2 + (2-5)^2 = 18)",
             (np.zeros(1), np.array([[4.0]]), np.array([3.0]), np.array([[25.0]]))),
        Case("equal covariances (the answer is the squared distance of the means)", (mu1, s1, mu2, s1)),
        Case("diagonal covariances diag(1, 4, 9) and diag(4, 1, 9), equal means",
             (np.zeros(3), np.diag([1.0, 4.0, 9.0]), np.zeros(3), np.diag([4.0, 1.0, 9.0]))),
        Case("two random 6 x 6 covariances and means", (mu1, s1, mu2, s2)),
        Case("the same Gaussian twice (answer 0)", (mu1, s2, mu1, s2)),
    ]
    return check_function(student_fn, _reference_frechet, cases, name="Frechet distance",
                          blocked=["gan_lessons.metrics.frechet_distance",
                                   "gan_lessons.metrics.frechet_distance_sqrtm"], atol=1e-6, rtol=1e-6)


def check_mmd2_unbiased(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(x, y) -> float``, the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, on numpy arrays."""
    rng = np.random.default_rng(9)
    cases = [
        Case("1D sets x = [[1], [2]], y = [[0], [3]]", (np.array([[1.0], [2.0]]), np.array([[0.0], [3.0]]))),
        Case("two sets of different sizes (5 and 8 samples in 3D)",
             (rng.standard_normal((5, 3)), rng.standard_normal((8, 3)) + 0.5)),
        Case("identical sets (the unbiased estimate is NEGATIVE here: the diagonal is left out)",
             (np.eye(4), np.eye(4))),
    ]
    return check_function(student_fn, _reference_mmd2, cases,
                          name="unbiased MMD^2 (KID)", blocked=["gan_lessons.metrics.mmd2_unbiased",
                                                                "gan_lessons.metrics.kernel_inception_distance"],
                          atol=1e-8, rtol=1e-6)


def _reference_frechet(mu1, sigma1, mu2, sigma2) -> float:
    return metrics.frechet_distance(mu1, sigma1, mu2, sigma2)  # looked up at call time, so it can be blocked


def _reference_mmd2(x, y) -> float:
    return metrics.mmd2_unbiased(x, y)


def _wrong_no_mean_term(mu1, sigma1, mu2, sigma2):
    """forgets the mean term ||mu1 - mu2||^2"""
    lam = np.linalg.eigvals(sigma1 @ sigma2).real  # eigenvalues of S1 S2 (real, >= 0 up to rounding)
    return float(np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(lam, 0, None)).sum())


def _wrong_trace_of_product(mu1, sigma1, mu2, sigma2):
    """uses Tr(sqrt(S1) sqrt(S2)) elementwise instead of Tr((S1 S2)^(1/2))"""
    cross = np.trace(np.sqrt(np.abs(sigma1)) * np.sqrt(np.abs(sigma2)))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * cross)


def _wrong_biased_mmd(x, y):
    """keeps the diagonal k(x_i, x_i) (the biased V-statistic)"""
    kxx, kyy, kxy = (metrics.polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
    return float(kxx.mean() + kyy.mean() - 2 * kxy.mean())


WRONG_IMPLEMENTATIONS = {
    "check_frechet_distance": [_wrong_no_mean_term, _wrong_trace_of_product],
    "check_mmd2_unbiased": [_wrong_biased_mmd],
}
