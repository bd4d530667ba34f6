"""GAN theory checked by code: the optimal discriminator in sympy, and KL, JSD and W1 in numbers.

Book: chapters "The optimal discriminator" and "Divergences: KL and JSD".

* Symbolic (sympy): :func:`optimal_discriminator_derivation` maximises ``a log D + b log(1 - D)`` over D,
  :func:`verify_optimal_discriminator` checks a candidate formula for D* (and fails for a wrong one), and
  :func:`verify_virtual_training_criterion` shows ``C(G) = -log 4 + 2 JSD`` pointwise and on a discrete example,
  :func:`verify_generator_losses_at_optimum` what each generator loss becomes against D* (and that D = 1/2
  leaves the generator nothing to gain: the Nash equilibrium).
* Numeric penalties of the two generator losses against D*: :func:`generator_penalty` (1D densities),
  :func:`generator_penalty_discrete`, and their integrand :func:`generator_penalty_terms`.
* Numeric, 1D densities on a grid (scipy's Simpson rule): :func:`kl_divergence`, :func:`js_divergence`,
  :func:`wasserstein1`; from samples: :func:`js_divergence_samples`, :func:`wasserstein1_samples`,
  :func:`js_divergence_histogram_2d` (2-D samples);
  discrete distributions: :func:`kl_divergence_discrete`, :func:`js_divergence_discrete`,
  :func:`js_distance_discrete` (its square root, a metric).
* Closed forms used to test them: :func:`kl_gaussians`, :func:`wasserstein1_gaussians`.

Every divergence is in nats (natural logarithms), so 0 <= JSD <= log 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np
import sympy as sp
from .checks import check_int

__all__ = [
    "OptimalDiscriminatorDerivation",
    "optimal_discriminator_derivation",
    "verify_optimal_discriminator",
    "verify_virtual_training_criterion",
    "verify_generator_losses_at_optimum",
    "generator_penalty_terms",
    "generator_penalty",
    "generator_penalty_discrete",
    "discrete_value_at_optimum",
    "optimal_discriminator",
    "optimal_discriminator_values",
    "kl_divergence",
    "js_divergence",
    "wasserstein1",
    "kl_divergence_discrete",
    "js_divergence_discrete",
    "js_distance_discrete",
    "js_divergence_samples",
    "js_divergence_histogram_2d",
    "wasserstein1_samples",
    "kl_gaussians",
    "wasserstein1_gaussians",
    "value_of_discriminator",
    "grid",
]

Density = Callable[[np.ndarray], np.ndarray]  # x [n] -> p(x) [n]; a 1D GaussianMixture works too
DensityLike = Union[Density, object]

# -- symbolic: the optimal discriminator -----------------------------------------------------------------------


@dataclass(frozen=True)
class OptimalDiscriminatorDerivation:
    """The steps of Goodfellow et al. (2014), Proposition 1, as sympy expressions in a, b > 0 and D in (0, 1)."""

    objective: sp.Expr  # f(D) = a log D + b log(1 - D): the integrand of V(G, D) at one point x
    first_derivative: sp.Expr  # f'(D)
    solution: sp.Expr  # the unique root of f'(D) = 0: D* = a / (a + b)
    second_derivative_at_solution: sp.Expr  # f''(D*) = -(a + b)^3 / (a b) < 0: a maximum
    value_at_solution: sp.Expr  # f(D*) = a log(a / (a + b)) + b log(b / (a + b))


def optimal_discriminator_derivation() -> OptimalDiscriminatorDerivation:
    """Maximise f(D) = a log D + b log(1 - D) over D in (0, 1), with a = p_data(x) > 0 and b = p_g(x) > 0.

    f'(D) = a / D - b / (1 - D) = 0  gives  D* = a / (a + b);  f''(D*) = -(a + b)^3 / (a b) < 0.
    """
    a, b, D = _symbols()
    f = a * sp.log(D) + b * sp.log(1 - D)
    df = sp.diff(f, D)
    roots = sp.solve(sp.Eq(df, 0), D)
    if len(roots) != 1:  # pragma: no cover - sympy changed behaviour
        raise RuntimeError(f"expected one stationary point of {f}, sympy found {roots}")
    d_star = sp.simplify(roots[0])
    second = sp.factor(sp.simplify(sp.diff(f, D, 2).subs(D, d_star)))
    value = sp.expand_log(a * sp.log(d_star) + b * sp.log(sp.factor(1 - d_star)), force=True)
    return OptimalDiscriminatorDerivation(f, df, d_star, second, value)


def verify_optimal_discriminator(candidate: sp.Expr | Callable[[sp.Symbol, sp.Symbol], sp.Expr]) -> bool:
    """True iff ``candidate`` (an expression in the symbols a, b, or a function (a, b) -> expression) is the
    maximiser of a log D + b log(1 - D) for every a, b > 0: it lies in (0, 1), f'(candidate) simplifies to 0 and
    f''(candidate) is negative. A wrong formula (e.g. b / (a + b)) returns False.
    """
    a, b, D = _symbols()
    expr = candidate(a, b) if callable(candidate) else candidate
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"candidate must be a sympy expression in a, b (or a function of them), got {expr!r}")
    expr = expr.subs({s: {"a": a, "b": b}[s.name] for s in expr.free_symbols if s.name in ("a", "b")})
    unknown = expr.free_symbols - {a, b}
    if unknown:
        raise ValueError(f"candidate may only use the symbols a and b (the two densities), it uses {unknown}: "
                         "write it with a, b = sympy.symbols('a b', positive=True)")
    f = a * sp.log(D) + b * sp.log(1 - D)
    stationary = sp.simplify(sp.diff(f, D).subs(D, expr)) == 0
    concave = sp.simplify(sp.diff(f, D, 2).subs(D, expr)).is_negative  # True / False / None (unknown)
    inside = sp.simplify(expr).is_positive and sp.simplify(1 - expr).is_positive
    return bool(stationary and concave is True and inside is True)


def verify_virtual_training_criterion() -> dict[str, object]:
    """Check, in exact arithmetic, that max_D V(G, D) = C(G) = -log 4 + 2 JSD(p_data || p_g).

    Pointwise (a = p_data(x), b = p_g(x), m = (a + b)/2):
        f(D*) = -(a + b) log 2 + a log(a / m) + b log(b / m),
    and the a + b integrate to 2, which gives -log 4 + KL(p_data || m) + KL(p_g || m) = -log 4 + 2 JSD.
    Returns the pointwise difference (simplifies to 0), D* at a = b (1/2), C at a = b (-log 4 per unit mass),
    and the same identity on an exact discrete example (:func:`discrete_value_at_optimum`).
    """
    a, b, _ = _symbols()
    value = optimal_discriminator_derivation().value_at_solution
    m = (a + b) / 2
    jsd_form = -(a + b) * sp.log(2) + a * sp.log(a / m) + b * sp.log(b / m)
    pointwise = sp.simplify(sp.expand_log(value - jsd_form, force=True))
    d_star = optimal_discriminator_derivation().solution
    p = (sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6))
    q = (sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 2))
    c_exact, jsd_exact = discrete_value_at_optimum(p, q)
    return {
        "pointwise_difference": pointwise,  # 0
        "d_star_at_equal_densities": sp.simplify(d_star.subs(b, a)),  # 1/2
        "value_at_equal_densities": sp.simplify(sp.expand_log(value.subs(b, a), force=True) / (2 * a)),  # -log 2
        "discrete_difference": sp.simplify(sp.expand_log(c_exact - (-sp.log(4) + 2 * jsd_exact), force=True)),
        "discrete_C": sp.nsimplify(c_exact),
        "discrete_jsd": jsd_exact,
    }


def verify_generator_losses_at_optimum() -> dict[str, sp.Expr]:
    """Check, in exact arithmetic, what each generator loss becomes when D is the optimal D* = a / (a + b).

    Pointwise (a = p_data(x), b = p_g(x), m = (a + b)/2):
        saturating       b log(1 - D*) = b log(b / m) - b log 2
        non-saturating  -b log D*      = b log(b / a) - b log(b / m) + b log 2,
    so, integrated (b integrates to 1), E_{p_g} log(1 - D*) = KL(p_g || m) - log 2 and
    E_{p_g}[-log D*] = KL(p_g || p_data) - KL(p_g || m) + log 2. Also: with D = 1/2 the integrand of V(G, D) is
    -(a + b) log 2, which integrates to -log 4 whatever p_g is, so the generator cannot gain by moving; and
    D* = 1/2 is D's best response to p_g = p_data: (p_g = p_data, D = 1/2) is a Nash equilibrium.
    Returns the two pointwise differences (both simplify to 0), the per-unit penalty of each loss at a = b
    (-log 2 and log 2) and V's integrand at D = 1/2.
    """
    a, b, D = _symbols()
    d_star = optimal_discriminator_derivation().solution
    m = (a + b) / 2
    saturating = b * sp.log(1 - d_star)
    non_saturating = -b * sp.log(d_star)

    def zero(expr: sp.Expr) -> sp.Expr:
        return sp.simplify(sp.expand_log(expr, force=True))

    return {
        "saturating_difference": zero(saturating - (b * sp.log(b / m) - b * sp.log(2))),  # 0
        "non_saturating_difference": zero(non_saturating - (b * sp.log(b / a) - b * sp.log(b / m) + b * sp.log(2))),
        "saturating_at_equal_densities": zero(saturating.subs(a, b) / b),  # -log 2
        "non_saturating_at_equal_densities": zero(non_saturating.subs(a, b) / b),  # log 2
        "value_with_d_one_half": sp.factor(zero((a * sp.log(D) + b * sp.log(1 - D)).subs(D, sp.Rational(1, 2)))),
    }


def discrete_value_at_optimum(p: Sequence, q: Sequence) -> tuple[sp.Expr, sp.Expr]:
    """Exact (C(G), JSD) for discrete distributions p, q (sympy Rationals or ints/fractions that sum to 1).

    C(G) = sum_i p_i log D*_i + q_i log(1 - D*_i) with D*_i = p_i / (p_i + q_i);
    JSD = 1/2 sum_i p_i log(p_i / m_i) + 1/2 sum_i q_i log(q_i / m_i), m = (p + q)/2; 0 log 0 = 0.
    """
    try:
        p, q = [sp.nsimplify(v) for v in p], [sp.nsimplify(v) for v in q]
        finite = all(v.is_real and v.is_finite for v in p + q)
    except (TypeError, ValueError, AttributeError, sp.SympifyError):
        finite = False
    if not finite:
        raise TypeError(f"p and q must be sequences of finite numbers (e.g. sympy Rationals), got {p!r} and {q!r}")
    if len(p) != len(q) or not p:
        raise ValueError(f"p and q must be non-empty and of equal length, got {len(p)} and {len(q)}")
    if any(v < 0 for v in p + q) or sp.simplify(sum(p) - 1) != 0 or sp.simplify(sum(q) - 1) != 0:
        raise ValueError("p and q must be probability vectors: non-negative entries that sum to exactly 1")
    c, jsd = sp.Integer(0), sp.Integer(0)
    for pi, qi in zip(p, q):
        if pi + qi == 0:
            continue
        d = pi / (pi + qi)
        mi = (pi + qi) / 2
        c += (pi * sp.log(d) if pi else 0) + (qi * sp.log(1 - d) if qi else 0)
        jsd += ((pi * sp.log(pi / mi) if pi else 0) + (qi * sp.log(qi / mi) if qi else 0)) / 2
    return sp.expand_log(c, force=True), sp.expand_log(jsd, force=True)


def _symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol]:
    return sp.Symbol("a", positive=True), sp.Symbol("b", positive=True), sp.Symbol("D", positive=True)


# -- numeric: the optimal discriminator and V(G, D) on a grid ---------------------------------------------------

def optimal_discriminator(p_data: DensityLike, p_g: DensityLike, x: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) at the points x [n] (1/2 where both densities are 0)."""
    x = _as_points(x)
    return optimal_discriminator_values(_density(p_data, "p_data")(x), _density(p_g, "p_g")(x))


def optimal_discriminator_values(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D* = p_data / (p_data + p_g) from density VALUES (arrays of one shape); 1/2 where both are 0."""
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {p.shape} and {q.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))) or np.any(p < 0) or np.any(q < 0):
        raise ValueError("densities must be finite and non-negative")
    total = p + q
    return np.divide(p, total, out=np.full_like(total, 0.5), where=total > 0)


def value_of_discriminator(logit: np.ndarray, p_data: DensityLike, p_g: DensityLike, x: np.ndarray) -> float:
    """V(G, D) = integral of p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx, with D = sigmoid(logit) on grid x.

    Computed from logits: log D = -softplus(-logit), log(1 - D) = -softplus(logit). At D = D* it equals
    -log 4 + 2 JSD(p_data || p_g); any other D gives less.
    """
    x = _as_points(x)
    logit = np.asarray(logit, dtype=np.float64)
    if logit.shape != x.shape:
        raise ValueError(f"logit must have one value per grid point, shape {x.shape}, got {logit.shape}")
    p, q = _density(p_data, "p_data")(x), _density(p_g, "p_g")(x)
    integrand = -p * np.logaddexp(0.0, -logit) - q * np.logaddexp(0.0, logit)
    return _integrate(integrand, x)


_LOSSES = ("saturating", "non-saturating")


def generator_penalty_terms(p_data: np.ndarray, p_g: np.ndarray, loss: str) -> np.ndarray:
    """The integrand of :func:`generator_penalty` from density (or probability) VALUES of one shape:

    saturating      p_g (log(1 - D*) + log 2) = p_g log(2 p_g / (p_data + p_g))   (at most p_g log 2)
    non-saturating  p_g (-log D* - log 2)     = p_g log((p_data + p_g) / (2 p_data)) (inf where p_data = 0 < p_g)
    Both are 0 where p_g = 0 and, once summed or integrated, 0 when p_g = p_data.
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    a, b = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.any(a < 0) or np.any(b < 0):
        raise ValueError("densities must be finite and non-negative")
    out = np.zeros_like(b)
    mask = b > 0
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(a[mask]), np.log(b[mask])
    log_m = np.logaddexp(log_a, log_b) - math.log(2.0)  # log of the mixture (p_data + p_g)/2
    out[mask] = b[mask] * ((log_b - log_m) if loss == "saturating" else (log_m - log_a))
    return out


def generator_penalty(p_data: DensityLike, p_g: DensityLike, x: np.ndarray, loss: str) -> float:
    """How much a generator loss, evaluated against the optimal D*, exceeds its value at p_g = p_data (nats).

    saturating:      E_{p_g} log(1 - D*) + log 2  = KL(p_g || m),                 m = (p_data + p_g)/2
    non-saturating:  E_{p_g}[-log D*] - log 2     = KL(p_g || p_data) - KL(p_g || m)
    Integrated over the grid x (which must cover where p_g lives); inf for the non-saturating loss when p_g puts
    mass where p_data is 0. See :func:`verify_generator_losses_at_optimum` for the identities.
    """
    x = _as_points(x)
    terms = generator_penalty_terms(_density(p_data, "p_data")(x), _density(p_g, "p_g")(x), loss)
    return math.inf if np.isinf(terms).any() else _integrate(terms, x)


def generator_penalty_discrete(p_data: Sequence[float], p_g: Sequence[float], loss: str) -> float:
    """:func:`generator_penalty` for two probability vectors (a sum instead of an integral)."""
    p, q = _probabilities(p_data, "p_data"), _probabilities(p_g, "p_g")
    _same_length(p, q)
    return float(generator_penalty_terms(p, q, loss).sum())


# -- numeric: divergences between 1D densities -------------------------------------------------------------------

def grid(lo: float, hi: float, n: int = 20001) -> np.ndarray:
    """n equally spaced points on [lo, hi] (n odd, for Simpson's rule): the default integration grid."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    check_int("n", n, minimum=3)
    return np.linspace(lo, hi, n)


def kl_divergence(p: DensityLike, q: DensityLike, x: np.ndarray) -> float:
    """KL(p || q) = integral of p(x) log(p(x) / q(x)) dx over the grid x (nats; inf where q = 0 < p).

    p, q: callables x -> density, or 1D ``data.GaussianMixture`` objects. The grid must cover where p lives.
    """
    x = _as_points(x)
    pv, qv = _density(p, "p")(x), _density(q, "q")(x)
    if np.any((qv == 0) & (pv > 0)):
        return math.inf
    return _integrate(_xlogy_ratio(pv, qv), x)


def js_divergence(p: DensityLike, q: DensityLike, x: np.ndarray) -> float:
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2, over the grid x; 0 <= JSD <= log 2."""
    x = _as_points(x)
    pv, qv = _density(p, "p")(x), _density(q, "q")(x)
    return _integrate(_js_terms(pv, qv), x)


def wasserstein1(p: DensityLike, q: DensityLike, x: np.ndarray) -> float:
    """W1(p, q) = integral of |F_p(x) - F_q(x)| dx, F the CDFs (1D only), integrated on the grid x."""
    from scipy.integrate import cumulative_simpson

    x = _as_points(x)
    pv, qv = _density(p, "p")(x), _density(q, "q")(x)
    fp = cumulative_simpson(pv, x=x, initial=0.0)
    fq = cumulative_simpson(qv, x=x, initial=0.0)
    return _integrate(np.abs(fp - fq), x)


# -- numeric: discrete distributions and samples ----------------------------------------------------------------

def kl_divergence_discrete(p: Sequence[float], q: Sequence[float]) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i) for probability vectors (0 log 0 = 0; inf if q_i = 0 < p_i)."""
    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    _same_length(p, q)
    if np.any((q == 0) & (p > 0)):
        return math.inf
    return float(_xlogy_ratio(p, q).sum())


def js_divergence_discrete(p: Sequence[float], q: Sequence[float]) -> float:
    """JSD(p || q) = 1/2 sum p_i log(p_i / m_i) + 1/2 sum q_i log(q_i / m_i), m = (p + q)/2, in nats."""
    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    _same_length(p, q)
    return float(_js_terms(p, q).sum())


def js_distance_discrete(p: Sequence[float], q: Sequence[float]) -> float:
    """The Jensen-Shannon distance sqrt(JSD(p || q)), a metric (it obeys the triangle inequality; the JSD does not).

    A rounding error can make JSD(p, p) a tiny negative number; it counts as 0.
    """
    return math.sqrt(max(js_divergence_discrete(p, q), 0.0))


def js_divergence_samples(x: Sequence[float], y: Sequence[float], bins: int = 50) -> float:
    """JSD between the histograms of 1D samples x and y on ``bins`` common bins (a plug-in estimate)."""
    x, y = _samples(x, "x"), _samples(y, "y")
    check_int("bins", bins, minimum=1)
    edges = np.histogram_bin_edges(np.concatenate([x, y]), bins=bins)
    hx, _ = np.histogram(x, edges)
    hy, _ = np.histogram(y, edges)
    return js_divergence_discrete(hx / hx.sum(), hy / hy.sum())


def js_divergence_histogram_2d(p_samples, q_samples, lim: float, bins: int = 30) -> float:
    """Plug-in JSD(p || q) in nats between two 2-D samples, on a bins x bins histogram of [-lim, lim]^2:

    JSD = 1/2 sum_c p_c log(p_c / m_c) + 1/2 sum_c q_c log(q_c / m_c),  m = (p + q) / 2,

    with p_c, q_c the fractions of each sample in cell c (:func:`js_divergence_discrete`). Points outside
    the square count in the border cell nearest to them. 0 <= JSD <= log 2; biased upwards for small samples.
    """
    if not (isinstance(lim, (int, float)) and math.isfinite(lim) and lim > 0):
        raise ValueError(f"lim must be a positive number, got {lim!r}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    hists = []
    for name, pts in (("p_samples", p_samples), ("q_samples", q_samples)):
        pts = np.asarray(pts.detach().cpu() if hasattr(pts, "detach") else pts, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0 or not np.isfinite(pts).all():
            raise ValueError(f"{name} must be finite points [n, 2] with n >= 1, got shape {pts.shape}")
        cells = np.clip(((pts + lim) / (2 * lim) * bins).astype(np.int64), 0, bins - 1)  # [n, 2]
        counts = np.bincount(cells[:, 0] * bins + cells[:, 1], minlength=bins * bins)
        hists.append(counts / counts.sum())
    return js_divergence_discrete(hists[0], hists[1])


def wasserstein1_samples(x: Sequence[float], y: Sequence[float]) -> float:
    """W1 between the empirical distributions of 1D samples x and y (for equal sizes: mean |x_(i) - y_(i)|)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(_samples(x, "x"), _samples(y, "y")))


# -- closed forms ----------------------------------------------------------------------------------------------

def kl_gaussians(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) = log(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2."""
    _positive(sigma1=sigma1, sigma2=sigma2)
    return math.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


def wasserstein1_gaussians(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    """W1(N(mu1, s1^2), N(mu2, s2^2)) in 1D = E|dm + ds Z|, Z ~ N(0, 1), dm = mu2 - mu1, ds = s2 - s1:

    the mean of a folded normal, |ds| sqrt(2/pi) exp(-dm^2 / (2 ds^2)) + dm (1 - 2 Phi(-dm / |ds|));
    |dm| when the widths are equal. (In 1D, W1 = integral over u of |F1^-1(u) - F2^-1(u)|.)
    """
    _positive(sigma1=sigma1, sigma2=sigma2)
    dm, ds = mu2 - mu1, abs(sigma2 - sigma1)
    if ds == 0:
        return abs(dm)
    phi = 0.5 * math.erfc(dm / ds / math.sqrt(2))  # Phi(-dm / ds)
    return ds * math.sqrt(2 / math.pi) * math.exp(-dm**2 / (2 * ds**2)) + dm * (1 - 2 * phi)


# -- private helpers --------------------------------------------------------------------------------------------

def _density(d: DensityLike, name: str) -> Density:
    pdf = getattr(d, "pdf", None)
    if pdf is not None and getattr(d, "dim", 1) != 1:
        raise ValueError(f"{name} must be a 1D distribution, got one in {d.dim} dimensions")
    fn = pdf if pdf is not None else d
    if not callable(fn):
        raise TypeError(f"{name} must be a density: a function x -> p(x) on numpy arrays, or a 1D "
                        f"data.GaussianMixture, got {type(d).__name__}")

    def evaluate(x: np.ndarray) -> np.ndarray:
        values = fn(x)
        values = values.numpy() if hasattr(values, "numpy") else values
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != x.shape or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{name}(x) must return one finite, non-negative density value per point "
                             f"({x.shape[0]} points)")
        return values

    return evaluate


def _as_points(x: object) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 3 or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("x must be a 1D increasing grid of at least 3 finite points, e.g. theory.grid(-10, 10)")
    return x


def _integrate(values: np.ndarray, x: np.ndarray) -> float:
    from scipy.integrate import simpson

    return float(simpson(values, x=x))


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """p log(p / q) elementwise, 0 where p = 0."""
    out = np.zeros_like(p)
    mask = p > 0
    out[mask] = p[mask] * (np.log(p[mask]) - np.log(q[mask]))
    return out


def _js_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """1/2 p log(p / m) + 1/2 q log(q / m), m = (p + q)/2, elementwise; log m from logs (no underflow)."""
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(p), np.log(q)
    log_m = np.logaddexp(log_p, log_q) - math.log(2.0)
    out = np.zeros_like(p)
    for v, log_v in ((p, log_p), (q, log_q)):
        mask = v > 0
        out[mask] += 0.5 * v[mask] * (log_v[mask] - log_m[mask])
    return out


def _probabilities(p: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be a non-empty 1D vector of non-negative probabilities, got {p!r}")
    if not math.isclose(float(arr.sum()), 1.0, rel_tol=0, abs_tol=1e-6):
        raise ValueError(f"{name} must sum to 1, sums to {arr.sum():.6g}: divide by its sum first")
    return arr


def _same_length(p: np.ndarray, q: np.ndarray) -> None:
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same number of outcomes, got {p.size} and {q.size}")


def _samples(x: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty set of finite 1D samples")
    return arr


def _positive(**values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number (a standard deviation), got {v!r}")
