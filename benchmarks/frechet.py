"""Benchmark: our Frechet distance (symmetric eigendecomposition) against the scipy.linalg.sqrtm reference.

    python benchmarks/frechet.py [--dim 2048] [--repeats 1] [--seed 0]

Both run in the same process on the same pair of random covariances built like real feature statistics
(Sigma = A A^T / n from n = 2 d Gaussian samples, with different scales per feature). Prints one JSON object:
times in seconds, ``speedup`` = time(sqrtm) / time(ours) and ``rel_diff`` = |ours - ref| / |ref|.
Target (issue 8): speedup >= 5 with rel_diff <= 1e-6 at d = 2048. Timings depend on the machine and its load,
so the JSON records the load average and the thread count as well.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_lessons import metrics  # noqa: E402


def random_statistics(dim: int, seed: int) -> tuple[np.ndarray, ...]:
    """(mu1, Sigma1, mu2, Sigma2): sample means and covariances of 2 * dim correlated Gaussian samples each."""
    rng = np.random.default_rng(seed)
    out = []
    for shift in (0.0, 0.1):
        scales = np.exp(rng.normal(0.0, 0.5, size=dim))  # features on different scales, like CNN activations
        mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)  # correlations between features
        x = (rng.standard_normal((2 * dim, dim)) @ mix) * scales + shift  # [n, d]
        out += list(metrics.feature_statistics(x))
    return tuple(out)


def best_time(fn, repeats: int) -> tuple[float, float]:
    """(fastest wall time over ``repeats`` calls, the value returned)."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension d (2048 = Inception pool3)")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per method (the fastest counts)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.dim < 2 or args.repeats < 1:
        parser.error("--dim must be >= 2 and --repeats >= 1")
    stats = random_statistics(args.dim, args.seed)
    t_ours, ours = best_time(lambda: metrics.frechet_distance(*stats), args.repeats)
    t_ref, ref = best_time(lambda: metrics.frechet_distance_sqrtm(*stats), args.repeats)
    result = {
        "dim": args.dim, "repeats": args.repeats, "seed": args.seed,
        "ours_s": round(t_ours, 4), "sqrtm_s": round(t_ref, 4), "speedup": round(t_ref / t_ours, 3),
        "ours": ours, "sqrtm": ref, "rel_diff": abs(ours - ref) / abs(ref),
        "target": {"speedup": 5.0, "rel_diff": 1e-6},
        "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
