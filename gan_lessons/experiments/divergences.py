"""Divergences: max likelihood = forward KL, KL's asymmetry, JSD from a trained D, and why JSD saturates (W1 does not)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import data, fixed_game, runtime, theory
from ..checks import check_int
from ..runtime import seed_everything, sized

NAME = "divergences"

BIMODAL = data.mixture_1d([-2.0, 2.0], 0.5)  # the target of the KL fits: two well separated modes
SEPARATIONS = (0.0, 0.5, 1.0, 2.0, 4.0)  # p_data = N(0, 1) against p_g = N(theta, 1)
FIT_GRID = theory.grid(-12.0, 12.0, 4001)  # integration grid of the KL fits


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Discriminator updates per separation (explore, refine, as in the optimal-D chapter) and the sample
    sizes of the maximum-likelihood fits."""

    explore_steps: int = sized(1_000, 10_000, steps=True, minimum=fixed_game.K, multiple=fixed_game.K)
    refine_steps: int = sized(250, 2_500, steps=True, minimum=fixed_game.K, multiple=fixed_game.K)
    batch_size: int = sized(512, 2_048)
    refine_batch_size: int = sized(4_096, 16_384)
    mle_sizes: tuple = sized((100, 1_000, 10_000, 100_000), (100, 1_000, 10_000, 1_000_000))


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


# -- JSD from a trained discriminator ------------------------------------------------------------------------

def shifted_pair(theta: float) -> tuple[data.GaussianMixture, data.GaussianMixture]:
    """(p_data, p_g) = (N(0, 1), N(theta, 1)): the pair a discriminator is trained on at separation theta."""
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta):
        raise ValueError(f"theta must be a finite number, got {theta!r}")
    return data.gaussian_1d(0.0, 1.0), data.gaussian_1d(float(theta), 1.0)


def jsd_estimate(theta: float, D) -> dict[str, float]:
    """V(G, D) that the trained D of :func:`shifted_pair` (theta) reaches, its JSD estimate and the true JSD.

    V(G, D) = integral of p_data log D + p_g log(1 - D) (on a grid, with the exact densities) is at most
    max_D V = -log 4 + 2 JSD, so (V + log 4) / 2 estimates the JSD from below.
    """
    p_data, p_g = shifted_pair(theta)
    x = theory.grid(-8.0, theta + 8.0, 4001)
    value = theory.value_of_discriminator(fixed_game.discriminator_logits(D, x), p_data, p_g, x)
    jsd = theory.js_divergence(p_data, p_g, theory.grid(-12.0, theta + 12.0))
    return {"theta": theta, "value": value, "max_value": -math.log(4) + 2 * jsd,
            "jsd_estimate": (value + math.log(4)) / 2, "jsd": jsd}


# -- KL: maximum likelihood, and the two directions ---------------------------------------------------------

def fit_gaussian(target: data.GaussianMixture, direction: str, start: tuple[float, float] = (0.5, 1.0)
                 ) -> tuple[float, float]:
    """(mu, sigma) of the Gaussian q minimising KL(target || q) (``"forward"``) or KL(q || target) (``"reverse"``).

    scipy's Nelder-Mead over (mu, log sigma) from ``start``; each KL is integrated on FIT_GRID.
    """
    from scipy.optimize import minimize

    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' (KL(p || q)) or 'reverse' (KL(q || p)), got {direction!r}")

    def loss(params: np.ndarray) -> float:
        q = data.gaussian_1d(float(params[0]), float(np.exp(params[1])))
        pair = (target, q) if direction == "forward" else (q, target)
        return theory.kl_divergence(*pair, FIT_GRID)

    res = minimize(loss, x0=[start[0], math.log(start[1])], method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000})
    return float(res.x[0]), float(np.exp(res.x[1]))


def maximum_likelihood_fit(samples: np.ndarray) -> tuple[float, float]:
    """(mu, sigma) maximising the average log-likelihood of a Gaussian on ``samples`` (scipy, numerically)."""
    from scipy.optimize import minimize

    x = np.asarray(samples, dtype=np.float64)

    def nll(params: np.ndarray) -> float:
        mu, log_s = params
        return float(np.mean(0.5 * ((x - mu) / np.exp(log_s)) ** 2 + log_s) + 0.5 * math.log(2 * math.pi))

    res = minimize(nll, x0=[0.5, 0.0], method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12,
                                                                      "maxiter": 2000})
    return float(res.x[0]), float(np.exp(res.x[1]))


def mle_versus_kl(profile: str = "quick", seed: int = 0) -> dict[str, object]:
    """Maximum likelihood on n samples of BIMODAL against the forward-KL fit, for growing n."""
    kl_fit = fit_gaussian(BIMODAL, "forward")
    rng = seed_everything(seed)
    rows = []
    for n in budget(profile)["mle_sizes"]:
        mu, sigma = maximum_likelihood_fit(BIMODAL.sample(n, rng).squeeze(1).double().numpy())
        rows.append({"n": n, "mu": mu, "sigma": sigma, "gap": max(abs(mu - kl_fit[0]), abs(sigma - kl_fit[1]))})
    return {"kl_fit": kl_fit, "mle": rows}


# -- JSD's properties, saturation and W1 --------------------------------------------------------------------

def jsd_properties(seed: int = 0, pairs: int = 2_000, outcomes: int = 8) -> dict[str, float]:
    """Random pairs of discrete distributions: worst asymmetry, smallest and largest JSD, JSD(p, p), disjoint."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(outcomes, 0.3), size=pairs)  # [pairs, outcomes], many near-zero entries
    q = rng.dirichlet(np.full(outcomes, 0.3), size=pairs)
    pq = np.array([theory.js_divergence_discrete(a, b) for a, b in zip(p, q)])
    qp = np.array([theory.js_divergence_discrete(b, a) for a, b in zip(p, q)])
    same = max(theory.js_divergence_discrete(a, a) for a in p)
    half = np.zeros(outcomes)
    disjoint = theory.js_divergence_discrete(np.r_[half[:outcomes // 2] + 2 / outcomes, half[outcomes // 2:]],
                                             np.r_[half[:outcomes // 2], half[outcomes // 2:] + 2 / outcomes])
    return {"max_asymmetry": float(np.abs(pq - qp).max()), "min_jsd": float(pq.min()), "max_jsd": float(pq.max()),
            "max_jsd_of_equal": float(same), "jsd_disjoint": disjoint, "log2": math.log(2)}


# A JSD counter-example to the triangle inequality: JSD(p, r) = log 2 = 0.693 > JSD(p, q) + JSD(q, r) = 0.431.
COUNTER_EXAMPLE = ((1.0, 0.0), (0.5, 0.5), (0.0, 1.0))


def triangle_inequality(seed: int = 0, triples: int = 2_000, outcomes: int = 3) -> dict[str, float]:
    """Random triples (p, q, r) of discrete distributions: how often the JSD and the JS distance sqrt(JSD)
    break the triangle inequality d(p, r) <= d(p, q) + d(q, r), and the most negative gap
    d(p, q) + d(q, r) - d(p, r) of each; and both gaps on :data:`COUNTER_EXAMPLE`."""
    check_int("triples", triples, minimum=1)
    check_int("outcomes", outcomes, minimum=2)
    rng = np.random.default_rng(seed)
    p, q, r = (rng.dirichlet(np.full(outcomes, 0.5), size=triples) for _ in range(3))

    def gaps(distance, p, q, r) -> np.ndarray:
        d = lambda a, b: np.array([distance(x, y) for x, y in zip(a, b)])
        return d(p, q) + d(q, r) - d(p, r)

    out: dict[str, float] = {"triples": triples}
    example = [np.array([v]) for v in COUNTER_EXAMPLE]
    for name, distance in (("jsd", theory.js_divergence_discrete), ("js_distance", theory.js_distance_discrete)):
        g = gaps(distance, p, q, r)
        out[f"{name}_violations"] = int((g < -1e-12).sum())
        out[f"{name}_worst_gap"] = float(g.min())
        out[f"{name}_counter_example_gap"] = float(gaps(distance, *example)[0])
    return out


def shifted_family(thetas: np.ndarray, width: float) -> dict[str, np.ndarray]:
    """JSD (integrated), W1 (closed form |theta|) and KL (closed form theta^2 / (2 width^2)) between
    N(0, width^2) and N(theta, width^2), for each shift theta."""
    jsd = [theory.js_divergence(data.gaussian_1d(0.0, width), data.gaussian_1d(float(t), width),
                                theory.grid(min(0.0, t) - 10 * width - 1, max(0.0, t) + 10 * width + 1, 8001))
           for t in map(float, thetas)]
    w1 = [theory.wasserstein1_gaussians(0.0, width, float(t), width) for t in thetas]
    kl = [theory.kl_gaussians(0.0, width, float(t), width) for t in thetas]
    return {"theta": np.asarray(thetas, dtype=float), "jsd": np.array(jsd), "w1": np.array(w1), "kl": np.array(kl)}


def parallel_lines(theta: float) -> dict[str, float]:
    """Arjovsky et al. (2017), Example 1: P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1] — two parallel segments.

    W1 = |theta|, JSD = log 2 if theta != 0 (disjoint supports) else 0, KL = inf if theta != 0 else 0.
    """
    if not math.isfinite(theta):
        raise ValueError(f"theta must be a finite number, got {theta!r}")
    apart = theta != 0
    return {"w1": abs(theta), "jsd": math.log(2) if apart else 0.0, "kl": math.inf if apart else 0.0}


def run(profile: str = "quick", seed: int = 0) -> dict:
    b = budget(profile)
    rows = [jsd_estimate(t, fixed_game.train_discriminator(*shifted_pair(t), f"divergences-shift-{t:g}", b,
                                                           seed=seed)[0]) for t in SEPARATIONS]
    fwd, rev = fit_gaussian(BIMODAL, "forward"), fit_gaussian(BIMODAL, "reverse")
    mle = mle_versus_kl(profile, seed)
    narrow = shifted_family(np.array([2.0, 2.01]), 0.05)
    return {
        "jsd_abs_error": round(max(abs(r["jsd_estimate"] - r["jsd"]) for r in rows), 6),
        "jsd_by_separation": [{k: round(v, 6) for k, v in r.items()} for r in rows],
        "forward_kl_fit": [round(v, 4) for v in fwd],
        "reverse_kl_fit": [round(v, 4) for v in rev],
        "mixture_mean_std": [0.0, round(math.sqrt(4.0 + 0.25), 4)],
        "mle_fits": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in mle["mle"]],
        "jsd_properties": {k: round(v, 8) for k, v in jsd_properties(seed).items()},
        "triangle_inequality": {k: round(v, 8) for k, v in triangle_inequality(seed).items()},
        "narrow_jsd_slope_at_2": round(float(np.diff(narrow["jsd"])[0] / 0.01), 6),
        "narrow_w1_slope_at_2": round(float(np.diff(narrow["w1"])[0] / 0.01), 6),
    }


def draw_divergence_explorer(fig, separation: float, width: float) -> None:
    """Widget figure: p = N(0, 1) and q = N(separation, width^2), and KL both ways, JSD and W1 between them."""
    p, q = data.gaussian_1d(0.0, 1.0), data.gaussian_1d(separation, width)
    x = theory.grid(-6.0, 12.0, 2001)
    ax_d, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    ax_d.plot(x, p.pdf(x), color="#1f77b4", label="p = N(0, 1)")
    ax_d.plot(x, q.pdf(x), color="#d62728", label=f"q = N({separation:g}, {width:g}²)")
    ax_d.set(xlabel="x", ylabel="density", ylim=(0, 1.1 * max(p.pdf(x).max(), q.pdf(x).max())))
    ax_d.legend(fontsize=8)
    values = {"KL(p||q)": theory.kl_gaussians(0.0, 1.0, separation, width),
              "KL(q||p)": theory.kl_gaussians(separation, width, 0.0, 1.0),
              "JSD": theory.js_divergence(p, q, x), "W1": theory.wasserstein1_gaussians(0.0, 1.0, separation, width)}
    bars = ax_b.bar(list(values), [min(v, 10.0) for v in values.values()], color=["#9467bd", "#8c564b",
                                                                                "#2ca02c", "#ff7f0e"])
    for bar, v in zip(bars, values.values()):
        ax_b.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, min(v, 10.0)), ha="center", va="bottom",
                      fontsize=8)
    ax_b.axhline(math.log(2), color="#2ca02c", ls=":", lw=1)
    ax_b.set(ylim=(0, 10.5), ylabel="nats (W1: distance)", title="log 2 dotted; bars capped at 10")
    fig.tight_layout()
