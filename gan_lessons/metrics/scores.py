"""Sample-based scores of image generators: FID (and FID_infinity), KID, Inception Score, Parzen windows.

Book: chapter "Evaluating GANs" (book/08_fid.ipynb). Feature statistics are kept in float64 and accumulated batch
by batch; the Frechet distance goes through a symmetric eigendecomposition instead of scipy.linalg.sqrtm (which
pytorch-fid uses; kept here as the reference algorithm, frechet_distance_sqrtm).
"""
from __future__ import annotations

import numpy as _np
import scipy.linalg as _sla
import torch
from ..checks import check_int

__all__ = [
    "FeatureStats", "feature_statistics", "frechet_distance", "frechet_distance_sqrtm", "fid_from_features",
    "fid_infinity", "polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance", "inception_score",
    "parzen_log_likelihood", "parzen_select_sigma", "classifier_features", "classifier_logits",
    "inception_features_available", "inception_features",
]


class FeatureStats:
    """Streaming mean and unbiased covariance of features, in float64.

    ``stats.update(batch)`` folds in a batch [b, d]; batches are merged with the pairwise formulas of
    Chan, Golub & LeVeque (1979): for two parts A, B with counts n_A, n_B, means m_A, m_B and scatter
    matrices C_A = sum (x - m_A)(x - m_A)^T, C_B, and delta = m_B - m_A,

        n = n_A + n_B,   m = m_A + delta n_B / n,   C = C_A + C_B + delta delta^T n_A n_B / n,

    so ``mean`` = (1/n) sum x and ``cov`` = C / (n - 1) equal the one-shot values up to rounding, whatever the
    batch sizes, and only a d x d matrix is kept in memory.
    """

    def __init__(self) -> None:
        self.n = 0
        self._mean: _np.ndarray | None = None
        self._scatter: _np.ndarray | None = None

    def update(self, features) -> "FeatureStats":
        """Fold in a batch of features [b, d] (tensor or array, finite); returns self."""
        x = _as_matrix(features, "features")
        if self._mean is not None and x.shape[1] != self._mean.shape[0]:
            raise ValueError(f"this batch has {x.shape[1]} features per sample, earlier batches had "
                             f"{self._mean.shape[0]}: use the same feature extractor for every batch")
        b, mean_b = x.shape[0], x.mean(axis=0)
        centred = x - mean_b
        scatter_b = centred.T @ centred  # [d, d]
        if self._mean is None:
            self.n, self._mean, self._scatter = b, mean_b, scatter_b
            return self
        n = self.n + b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (b / n)
        self._scatter = self._scatter + scatter_b + _np.outer(delta, delta) * (self.n * b / n)
        self.n = n
        return self

    @property
    def dim(self) -> int:
        if self._mean is None:
            raise ValueError("no features yet: call update(features) first")
        return int(self._mean.shape[0])

    @property
    def mean(self) -> _np.ndarray:
        """mu = (1/n) sum_i x_i, float64 [d]."""
        if self._mean is None:
            raise ValueError("no features yet: call update(features) first")
        return self._mean.copy()

    @property
    def cov(self) -> _np.ndarray:
        """Sigma = 1/(n-1) sum_i (x_i - mu)(x_i - mu)^T, float64 [d, d]; needs n >= 2."""
        if self.n < 2:
            raise ValueError(f"the covariance needs at least 2 samples, got {self.n}: pass more features")
        return self._scatter / (self.n - 1)


def feature_statistics(features, batch_size: int | None = None) -> tuple[_np.ndarray, _np.ndarray]:
    """(mu [d], Sigma [d, d]) in float64: mean and unbiased covariance of features [n, d], n >= 2.

    ``features`` is a tensor/array [n, d] or an iterable of such batches (e.g. a generator that extracts
    features batch by batch, so that large n fits in memory). ``batch_size`` splits a single array into
    batches (the result does not depend on it, up to rounding).
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    stats = FeatureStats()
    if isinstance(features, (torch.Tensor, _np.ndarray)):
        x = _as_matrix(features, "features")
        step = batch_size or x.shape[0]
        for start in range(0, x.shape[0], step):
            stats.update(x[start:start + step])
    else:
        for batch in features:
            stats.update(batch)
    if stats.n == 0:
        raise ValueError("no features given: pass an array [n, d] or a non-empty iterable of batches")
    return stats.mean, stats.cov


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, Sigma1) and N(mu2, Sigma2) (Dowson & Landau 1982; FID, Heusel et al. 2017):

        d^2 = ||mu1 - mu2||^2 + Tr(Sigma1) + Tr(Sigma2) - 2 Tr((Sigma1 Sigma2)^(1/2)).

    Tr((Sigma1 Sigma2)^(1/2)) = sum_i sqrt(lambda_i), where lambda_i are the eigenvalues of Sigma1 Sigma2. With
    any factor Sigma1 = L L^T they are the eigenvalues of the SYMMETRIC PSD matrix L^T Sigma2 L, found with a
    symmetric eigensolver (eigvalsh). L is the Cholesky factor when Sigma1 (or, swapping roles, Sigma2) is
    positive definite, else V diag(sqrt(max(w, 0))) from Sigma1 = V diag(w) V^T, which also covers singular
    covariances (fewer samples than features); there, eigenvalues w below d * eps * max(w) count as 0, since the
    square root would blow their rounding error up. Features with zero variance in both sets are left out of the
    trace term (they add 0 to it), and eigenvalues below 0 from rounding are set to 0. The result is clipped at
    0. Inputs: mu [d], Sigma [d, d] symmetric PSD (tensors or arrays); computed in float64.
    """
    mu1, sigma1, mu2, sigma2 = _check_gaussians(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    live = (_np.diag(sigma1) > 0) | (_np.diag(sigma2) > 0)  # features constant in both sets add 0 to the trace
    sigma1, sigma2 = sigma1[_np.ix_(live, live)], sigma2[_np.ix_(live, live)]
    factor, other = _psd_factor(sigma1, sigma2)
    inner = factor.T @ other @ factor  # [d, d], eigenvalues = those of Sigma1 Sigma2
    eig = _np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_sqrt = _np.sqrt(_np.clip(eig, 0.0, None)).sum()
    value = diff @ diff + _np.trace(sigma1) + _np.trace(sigma2) - 2.0 * tr_sqrt
    return float(max(value, 0.0))


def frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The reference algorithm of pytorch-fid: the same formula with (Sigma1 Sigma2)^(1/2) = scipy.linalg.sqrtm.

    sqrtm works on the non-symmetric product through a complex Schur decomposition; if the result is not
    finite, eps I is added to both covariances (as pytorch-fid does), and a small imaginary part is dropped.
    Slower than :func:`frechet_distance`; kept for tests and benchmarks/frechet.py.
    """
    mu1, sigma1, mu2, sigma2 = _check_gaussians(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    covmean = _sla.sqrtm(sigma1 @ sigma2)
    if not _np.isfinite(covmean).all():
        offset = _np.eye(sigma1.shape[0]) * eps
        covmean = _sla.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if _np.iscomplexobj(covmean):
        if not _np.allclose(_np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm returned a large imaginary part {_np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff @ diff + _np.trace(sigma1) + _np.trace(sigma2) - 2.0 * _np.trace(covmean))


def fid_from_features(real_features, fake_features, batch_size: int | None = None) -> float:
    """FID between two sets of features [n, d]: frechet_distance of their (mu, Sigma) (Heusel et al. 2017).

    Which network produced the features decides what the number means: an FID on the book's MNIST classifier
    features is NOT comparable with Inception-v3 FIDs from papers.
    """
    mu1, s1 = feature_statistics(real_features, batch_size)
    mu2, s2 = feature_statistics(fake_features, batch_size)
    return frechet_distance(mu1, s1, mu2, s2)


def fid_infinity(ns, fids) -> tuple[float, float]:
    """(FID_inf, slope): the least-squares line FID_N = FID_inf + slope / N (Chong & Forsyth 2020).

    FID_N is biased upwards by about slope / N; the intercept at 1/N = 0 estimates the FID of infinitely many
    samples. ns: sample sizes (>= 2 distinct values), fids: the FID measured at each.
    """
    n = _np.asarray(ns, dtype=_np.float64).ravel()
    f = _np.asarray(fids, dtype=_np.float64).ravel()
    if n.shape != f.shape or n.size < 2:
        raise ValueError(f"give one FID per sample size and at least 2 of each, got {n.size} sizes "
                         f"and {f.size} FIDs")
    if not (_np.isfinite(n).all() and _np.isfinite(f).all()) or (n <= 0).any():
        raise ValueError("sample sizes must be positive and FIDs finite")
    if _np.unique(n).size < 2:
        raise ValueError("need at least 2 different sample sizes to fit a line in 1/N")
    slope, intercept = _np.polyfit(1.0 / n, f, 1)
    return float(intercept), float(slope)


def polynomial_kernel(x, y, degree: int = 3, coef0: float = 1.0) -> _np.ndarray:
    """k(x, y) = (x . y / d + coef0)^degree for rows of x [n, d] and y [m, d]: a [n, m] float64 matrix.

    degree=3, coef0=1 is the kernel of KID (Binkowski et al. 2018).
    """
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features and y has {y.shape[1]}: they must match")
    check_int("degree", degree, minimum=1)
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x, y, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased estimate of MMD^2 with the polynomial kernel k (Gretton et al. 2012, eq. 3):

        MMD^2_u = sum_{i != j} k(x_i, x_j) / (n(n-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1))
                  - 2 sum_{i, j} k(x_i, y_j) / (n m).

    Its expectation is exactly MMD^2, so it can come out slightly negative when the two sets match.
    x [n, d], y [m, d], n, m >= 2.
    """
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples per set, got {n} and {m}")
    kxx, kyy = polynomial_kernel(x, x, degree, coef0), polynomial_kernel(y, y, degree, coef0)
    kxy = polynomial_kernel(x, y, degree, coef0)
    return float((kxx.sum() - _np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - _np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def kernel_inception_distance(real_features, fake_features, subset_size: int = 1000, n_subsets: int = 100,
                              seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): mean and std of :func:`mmd2_unbiased` (cubic polynomial kernel) over
    ``n_subsets`` random subsets of min(subset_size, n_real, n_fake) samples from each set (no repeats
    inside a subset). Unbiased: real vs real gives about 0, at any sample size. Named after Inception-v3, but
    the value depends on whichever features you pass.
    """
    x, y = _as_matrix(real_features, "real_features"), _as_matrix(fake_features, "fake_features")
    for name, value in (("subset_size", subset_size), ("n_subsets", n_subsets)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (2 if name == "subset_size" else 1):
            raise ValueError(f"{name} must be an integer >= {2 if name == 'subset_size' else 1}, got {value!r}")
    m = min(subset_size, x.shape[0], y.shape[0])
    rng = _np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(x.shape[0], m, replace=False)],
                            y[rng.choice(y.shape[0], m, replace=False)]) for _ in range(n_subsets)]
    return float(_np.mean(values)), float(_np.std(values))


def inception_score(logits, splits: int = 1) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): IS = exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x).

    logits: [n, classes] raw classifier outputs (p(y|x) = softmax). The n samples are cut into ``splits``
    equal parts; returns (mean, std) of the score over the parts. Between 1 (every image gets the same class
    distribution) and the number of classes (confident and evenly spread). It never looks at real data.
    """
    z = _as_matrix(logits, "logits")
    if isinstance(splits, bool) or not isinstance(splits, int) or not 1 <= splits <= z.shape[0]:
        raise ValueError(f"splits must be an integer between 1 and the number of samples ({z.shape[0]}), "
                         f"got {splits!r}")
    log_p = z - _sla_logsumexp(z)  # [n, classes] log p(y|x)
    scores = []
    for part in _np.array_split(log_p, splits):
        log_py = _np.log(_np.exp(part).mean(axis=0))  # [classes] log p(y)
        kl = (_np.exp(part) * (part - log_py)).sum(axis=1)  # [n_part]
        scores.append(_np.exp(kl.mean()))
    return float(_np.mean(scores)), float(_np.std(scores))


def parzen_log_likelihood(centres, x, sigma: float, batch_size: int = 500) -> _np.ndarray:
    """log p(x_j) under a Parzen window (Gaussian KDE) on n centres mu_i (e.g. generated samples):

        log p(x) = logsumexp_i( -||x - mu_i||^2 / (2 sigma^2) ) - log n - d log sigma - (d/2) log(2 pi).

    This is the protocol of Goodfellow et al. 2014 (with sigma chosen on validation data, see
    :func:`parzen_select_sigma`). centres [n, d], x [m, d]; returns [m] float64 (nats). Theis et al. 2016 show
    why it misleads: it rewards models that copy data, not models that generate good samples.
    """
    mu, x = _as_matrix(centres, "centres"), _as_matrix(x, "x")
    if mu.shape[1] != x.shape[1]:
        raise ValueError(f"centres have {mu.shape[1]} features and x has {x.shape[1]}: they must match")
    if not (isinstance(sigma, (int, float, _np.floating)) and sigma > 0 and _np.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    check_int("batch_size", batch_size, minimum=1)
    return _parzen(mu, x, [float(sigma)], batch_size)[0]


def parzen_select_sigma(centres, validation, sigmas) -> tuple[float, dict[float, float]]:
    """(best sigma, {sigma: mean validation log-likelihood}): the bandwidth that maximises the mean
    :func:`parzen_log_likelihood` of held-out validation data (never the test data)."""
    try:
        sigmas = [float(s) for s in sigmas]
    except (TypeError, ValueError):
        raise TypeError(f"sigmas must be a list of positive numbers, e.g. numpy.logspace(-1, 0, 10), got "
                        f"{sigmas!r}") from None
    if not sigmas:
        raise ValueError("give at least one candidate sigma, e.g. numpy.logspace(-1, 0, 10)")
    if not all(s > 0 and _np.isfinite(s) for s in sigmas):
        raise ValueError(f"every sigma must be a positive number, got {sigmas}")
    mu, val = _as_matrix(centres, "centres"), _as_matrix(validation, "validation")
    if mu.shape[1] != val.shape[1]:
        raise ValueError(f"centres have {mu.shape[1]} features and validation has {val.shape[1]}: they must match")
    lls = _parzen(mu, val, sigmas, batch_size=500).mean(axis=1)  # [len(sigmas)]
    scores = {s: float(v) for s, v in zip(sigmas, lls)}
    return max(scores, key=scores.get), scores


def _parzen(mu: _np.ndarray, x: _np.ndarray, sigmas: list[float], batch_size: int) -> _np.ndarray:
    """[len(sigmas), m] Parzen log-likelihoods; the squared distances are computed once for all sigmas."""
    n, d = mu.shape
    mu_sq = (mu**2).sum(axis=1)  # [n]
    out = _np.empty((len(sigmas), x.shape[0]))
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        sq = _np.clip((xb**2).sum(axis=1)[:, None] + mu_sq[None] - 2.0 * xb @ mu.T, 0.0, None)  # [b, n]
        for k, sigma in enumerate(sigmas):
            const = -_np.log(n) - d * _np.log(sigma) - 0.5 * d * _np.log(2 * _np.pi)
            out[k, start:start + batch_size] = _sla_logsumexp(-sq / (2.0 * sigma**2))[:, 0] + const
    return out


def classifier_features(images, batch_size: int = 500) -> torch.Tensor:
    """Penultimate-layer features [n, k] of the book's MNIST classifier (``classifier.get_classifier()``),
    computed in batches without gradients. The offline default feature extractor of this chapter: call FIDs on
    them "FID (MNIST-classifier features)", never compare them with Inception-v3 FIDs."""
    from ..classifier import get_classifier

    _check_run_args(images, batch_size)  # before the classifier is loaded (or trained)
    return _run_batched(get_classifier().features, images, batch_size)


def classifier_logits(images, batch_size: int = 500) -> torch.Tensor:
    """Logits [n, 10] of the book's MNIST classifier, in batches without gradients (for the Inception Score)."""
    from ..classifier import get_classifier

    _check_run_args(images, batch_size)  # before the classifier is loaded (or trained)
    return _run_batched(get_classifier().forward, images, batch_size)


def inception_features_available() -> bool:
    """True when torchvision is installed AND its Inception-v3 weights are already in the torch hub cache.

    Nothing is downloaded: on a machine without the weights the book uses the MNIST-classifier features.
    """
    import importlib.util
    import os

    if importlib.util.find_spec("torchvision") is None:
        return False
    checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")
    return os.path.isdir(checkpoints) and any(f.startswith("inception_v3") for f in os.listdir(checkpoints))


def inception_features(images, batch_size: int = 100) -> torch.Tensor:
    """Inception-v3 pool3 features [n, 2048] (torchvision weights, already cached; see
    :func:`inception_features_available`). Grey [n, 1, 28, 28] images in [-1, 1] are repeated to 3 channels and
    resized to 299 x 299. Note: torchvision's weights differ slightly from the TF graph used by papers (the
    pytorch-fid port), so even these FIDs are only roughly comparable with published ones."""
    _check_run_args(images, batch_size)
    if not inception_features_available():
        raise RuntimeError("Inception-v3 weights are not available here (torchvision missing or weights not "
                           "cached); use classifier_features, the book's offline default")
    import torch.nn.functional as F
    from torchvision.models import Inception_V3_Weights, inception_v3

    net = inception_v3(weights=Inception_V3_Weights.DEFAULT, aux_logits=True).eval()
    net.fc = torch.nn.Identity()  # output the 2048-d pool3 features
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def extract(x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate((x + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
        return net((x.expand(-1, 3, -1, -1) - mean) / std)

    return _run_batched(extract, images, batch_size)


def _run_batched(fn, images, batch_size: int) -> torch.Tensor:
    _check_run_args(images, batch_size)
    with torch.no_grad():
        return torch.cat([fn(images[i:i + batch_size]).float() for i in range(0, images.shape[0], batch_size)])


def _check_run_args(images, batch_size: int) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor [n, 1, 28, 28] in [-1, 1], got {type(images).__name__}")
    if images.dim() < 2 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty tensor [n, ...], e.g. [n, 1, 28, 28] in [-1, 1], got shape "
                         f"{tuple(images.shape)}")
    if not images.is_floating_point() or not torch.isfinite(images).all():
        raise ValueError(f"images must be floating point and finite (no NaN/inf), got dtype {images.dtype}")
    low, high = images.min().item(), images.max().item()
    if low < -1.001 or high > 1.001:
        raise ValueError(f"images must have pixels in [-1, 1] (the range the feature networks expect), got values "
                         f"in [{low:.3g}, {high:.3g}]: rescale with x * 2 - 1 from [0, 1], or clamp(-1, 1)")
    check_int("batch_size", batch_size, minimum=1)


def _sla_logsumexp(z: _np.ndarray) -> _np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return top + _np.log(_np.exp(z - top).sum(axis=1, keepdims=True))


def _as_matrix(x, name: str) -> _np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    elif not isinstance(x, _np.ndarray):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array [n, d], got {type(x).__name__}")
    x = _np.asarray(x, dtype=_np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2D array [n, d] (flatten images first), got shape "
                         f"{x.shape}")
    if not _np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def _check_gaussians(mu1, sigma1, mu2, sigma2):
    out = []
    for name, value, ndim in (("mu1", mu1, 1), ("sigma1", sigma1, 2), ("mu2", mu2, 1), ("sigma2", sigma2, 2)):
        if isinstance(value, torch.Tensor):
            value = value.detach().to("cpu", torch.float64).numpy()
        try:
            value = _np.asarray(value, dtype=_np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a tensor or array of numbers, got {type(value).__name__}") from None
        if value.ndim != ndim or 0 in value.shape:
            raise ValueError(f"{name} must be {'a vector [d]' if ndim == 1 else 'a matrix [d, d]'} with d >= 1, "
                             f"got shape {value.shape}")
        if not _np.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or inf values")
        out.append(value)
    mu1, sigma1, mu2, sigma2 = out
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"dimensions do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
                         f"sigma2 {sigma2.shape}; compute both statistics with the same feature extractor")
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if not _np.allclose(s, s.T, rtol=1e-8, atol=1e-10 * max(1.0, _np.abs(s).max())):
            raise ValueError(f"{name} is not symmetric: pass a covariance matrix")
        w = _np.linalg.eigvalsh((s + s.T) / 2)
        scale = max(float(_np.abs(w).max(initial=0.0)), 1e-300)
        if w.size and w.min() < -_PSD_TOL * scale:
            raise ValueError(f"{name} is not positive semi-definite (smallest eigenvalue {w.min():.3g}, largest "
                             f"{w.max():.3g}): pass a covariance matrix, e.g. from feature_statistics")
    return mu1, sigma1, mu2, sigma2


_PSD_TOL = 1e-6  # eigenvalues above -1e-6 * max |eigenvalue| are rounding error of a PSD matrix


def _psd_factor(sigma1: _np.ndarray, sigma2: _np.ndarray) -> tuple[_np.ndarray, _np.ndarray]:
    """(L, other) with L L^T one of the covariances and ``other`` the remaining one."""
    for a, b in ((sigma1, sigma2), (sigma2, sigma1)):
        try:
            return _np.linalg.cholesky(a), b
        except _np.linalg.LinAlgError:
            continue
    w, v = _np.linalg.eigh(sigma1)  # singular: sigma1 = V diag(w) V^T, w >= 0 up to rounding
    keep = w > max(w.max(initial=0.0), 0.0) * w.size * _np.finfo(_np.float64).eps  # drop rounding-level w
    return v[:, keep] * _np.sqrt(w[keep]), sigma2
