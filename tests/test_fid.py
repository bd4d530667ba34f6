"""FID, KID, Inception Score and Parzen log-likelihood (gan_lessons.metrics, section "FID, KID, IS, Parzen")."""
import math

import numpy as np
import pytest
import torch

from gan_lessons import metrics


def _random_spd(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, n or 2 * d)) * np.exp(rng.normal(0, 0.5, size=(d, 1)))
    return a @ a.T / a.shape[1]


# --- feature statistics ---------------------------------------------------------------------------------
def test_feature_statistics_hand_computed():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 2.0]])
    mu, sigma = metrics.feature_statistics(x)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    # centred rows: [-2,-1], [0,1], [2,0] -> scatter [[8, 2], [2, 2]], / (n - 1) = 2
    np.testing.assert_allclose(sigma, [[4.0, 1.0], [1.0, 1.0]])
    assert mu.dtype == np.float64 and sigma.dtype == np.float64


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64, 1000])
def test_feature_statistics_do_not_depend_on_batch_size(batch_size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((301, 5)) * 3 + 100.0  # a large mean: naive sum-of-squares would lose digits
    mu, sigma = metrics.feature_statistics(torch.tensor(x, dtype=torch.float64), batch_size=batch_size)
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-10)


def test_feature_statistics_from_an_iterable_of_batches():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 4))
    mu, sigma = metrics.feature_statistics(x[i:i + 13] for i in range(0, 100, 13))
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)


def test_fid_does_not_depend_on_batch_size():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(500, 6, generator=g), torch.randn(400, 6, generator=g) * 1.3 + 0.2
    values = [metrics.fid_from_features(real, fake, batch_size=b) for b in (None, 1, 33, 128)]
    np.testing.assert_allclose(values, values[0], rtol=1e-9)


def test_feature_stats_errors():
    stats = metrics.FeatureStats()
    with pytest.raises(ValueError, match="no features yet"):
        stats.mean
    stats.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.cov
    with pytest.raises(ValueError, match="same feature extractor"):
        stats.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        stats.update(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="2D array"):
        metrics.feature_statistics(np.ones(5))
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        stats.update([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="batch_size"):
        metrics.feature_statistics(np.ones((4, 2)), batch_size=0)
    with pytest.raises(ValueError, match="no features given"):
        metrics.feature_statistics(iter([]))


# --- Frechet distance -----------------------------------------------------------------------------------
def test_frechet_equal_covariances_is_squared_mean_distance():
    rng = np.random.default_rng(2)
    sigma = _random_spd(rng, 10)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    expected = float(((mu1 - mu2) ** 2).sum())
    assert metrics.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_frechet_diagonal_closed_form():
    # diagonal covariances: d^2 = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # by hand: |mu1 - mu2|^2 = 1 + 0 + 4 = 5; (1-2)^2 + (2-1)^2 + 0 = 2  -> 7
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(7.0, rel=1e-12)


def test_frechet_one_dimension_hand_computed():
    # N(0, 2^2) vs N(3, 5^2): (0 - 3)^2 + (2 - 5)^2 = 18
    assert metrics.frechet_distance([0.0], [[4.0]], [3.0], [[25.0]]) == pytest.approx(18.0, rel=1e-12)


def test_frechet_singular_covariance_closed_form():
    # zeros on the diagonal: Cholesky fails for both, so the eigendecomposition path is taken
    a, b = np.array([0.0, 4.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0])
    expected = ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # = 1 + 4 + 0 + 0 = 5
    assert metrics.frechet_distance(np.zeros(4), np.diag(a), np.zeros(4), np.diag(b)) == pytest.approx(5.0)
    assert expected == 5.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("d", [2, 16, 128])
def test_frechet_agrees_with_sqrtm_reference(seed, d):
    rng = np.random.default_rng(seed)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    ours = metrics.frechet_distance(mu1, s1, mu2, s2)
    ref = metrics.frechet_distance_sqrtm(mu1, s1, mu2, s2)
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_frechet_rank_deficient_covariance_from_few_samples():
    # fewer samples than features (n < d): Sigma1 is singular; result matches the eigh-only formula
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((20, 40)), rng.standard_normal((200, 40)) + 0.5
    mu1, s1 = metrics.feature_statistics(x)
    mu2, s2 = metrics.feature_statistics(y)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
    # the ~20 zero eigenvalues come out as +-1e-15 and their square roots as ~3e-8: agreement to ~1e-8
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-5)


def test_frechet_with_rank_deficient_features_is_exact_and_batch_independent():
    # features that span only 20 of 40 dimensions, plus 5 "dead" ones that are 0 for every image: both
    # covariances are singular. The square root of rounding-level eigenvalues (~1e-13) must not leak into the
    # result: before the fix this gave 3e-7 relative differences between batch sizes and 2e-6 from the truth.
    g = torch.Generator().manual_seed(7)
    a = torch.randn(20, 40, generator=g, dtype=torch.float64) * 5
    real = torch.cat([torch.randn(4000, 20, generator=g, dtype=torch.float64) @ a, torch.zeros(4000, 5)], 1)
    fake = torch.cat([torch.randn(1000, 20, generator=g, dtype=torch.float64) @ a, torch.zeros(1000, 5)], 1)
    values = [metrics.fid_from_features(fake, real, batch_size=b) for b in (None, 500, 7)]
    np.testing.assert_allclose(values, values[0], rtol=1e-10)
    q, _ = torch.linalg.qr(a.T)  # [40, 20]: orthonormal basis of the span; FID is the same in these coordinates
    exact = metrics.frechet_distance_sqrtm(*metrics.feature_statistics(fake[:, :40] @ q),
                                           *metrics.feature_statistics(real[:, :40] @ q))
    assert values[0] == pytest.approx(exact, rel=1e-9)


def test_frechet_of_point_masses():
    # zero covariances: only the mean term is left (3 * 1^2), and N(0, 0) vs N(1, I): 3 + Tr(I) = 6
    zeros = np.zeros((3, 3))
    assert metrics.frechet_distance(np.zeros(3), zeros, np.ones(3), zeros) == pytest.approx(3.0)
    assert metrics.frechet_distance(np.zeros(3), zeros, np.ones(3), np.eye(3)) == pytest.approx(6.0)


def test_frechet_accepts_tensors_and_is_symmetric():
    rng = np.random.default_rng(4)
    s1, s2 = _random_spd(rng, 5), _random_spd(rng, 5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    a = metrics.frechet_distance(torch.tensor(mu1), torch.tensor(s1), torch.tensor(mu2), torch.tensor(s2))
    b = metrics.frechet_distance(mu2, s2, mu1, s1)
    assert a == pytest.approx(b, rel=1e-10)


def test_frechet_errors():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="dimensions do not match"):
        metrics.frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="a matrix"):
        metrics.frechet_distance(mu, np.zeros(3), mu, s)
    with pytest.raises(ValueError, match="not symmetric"):
        metrics.frechet_distance(mu, np.triu(np.ones((3, 3))), mu, s)
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.frechet_distance(np.array([0, np.inf, 0]), s, mu, s)
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.fid_from_features(np.ones((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="same feature extractor|must match|dimensions do not match"):
        metrics.fid_from_features(np.random.rand(5, 3), np.random.rand(5, 4))


# --- FID_infinity ---------------------------------------------------------------------------------------
def test_fid_infinity_recovers_line():
    ns = [100, 200, 400, 800]
    fids = [2.0 + 50.0 / n for n in ns]
    intercept, slope = metrics.fid_infinity(ns, fids)
    assert intercept == pytest.approx(2.0) and slope == pytest.approx(50.0)


def test_fid_infinity_errors():
    with pytest.raises(ValueError, match="one FID per sample size"):
        metrics.fid_infinity([100, 200], [1.0])
    with pytest.raises(ValueError, match="2 different sample sizes"):
        metrics.fid_infinity([100, 100], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        metrics.fid_infinity([0, 100], [1.0, 2.0])


# --- KID ------------------------------------------------------------------------------------------------
def test_polynomial_kernel_hand_computed():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0], [0.0, 0.0]])
    # x.y / d + 1 = (3 - 2)/2 + 1 = 1.5 -> 3.375;  0/2 + 1 = 1 -> 1
    np.testing.assert_allclose(metrics.polynomial_kernel(x, y), [[3.375, 1.0]])


def test_mmd2_unbiased_hand_computed():
    # 1D features, degree 1, coef0 0: k(x, y) = x y
    x, y = np.array([[1.0], [2.0]]), np.array([[0.0], [3.0]])
    # xx off-diagonal: 2 * (1*2) / 2 = 2;  yy: 2 * 0 / 2 = 0;  xy mean: (0 + 3 + 0 + 6) / 4 = 2.25
    assert metrics.mmd2_unbiased(x, y, degree=1, coef0=0.0) == pytest.approx(2 + 0 - 4.5)


def test_kid_is_unbiased_near_zero_for_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    same, same_std = metrics.kernel_inception_distance(a, b, subset_size=100, n_subsets=50)
    diff, _ = metrics.kernel_inception_distance(a, b + 0.5, subset_size=100, n_subsets=50)
    assert abs(same) < 3 * same_std + 1e-3
    assert diff > 10 * max(abs(same), same_std)


def test_kid_errors():
    with pytest.raises(ValueError, match="subset_size"):
        metrics.kernel_inception_distance(np.ones((5, 2)), np.ones((5, 2)), subset_size=1)
    with pytest.raises(ValueError, match="must match"):
        metrics.kernel_inception_distance(np.ones((5, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.mmd2_unbiased(np.ones((1, 2)), np.ones((5, 2)))


# --- Inception Score ------------------------------------------------------------------------------------
def test_inception_score_extremes_and_hand_computed():
    confident = np.eye(10) * 100.0  # ten images, each sure of a different class -> IS = 10
    assert metrics.inception_score(confident)[0] == pytest.approx(10.0, rel=1e-6)
    same = np.zeros((6, 10))  # every image uniform over classes -> IS = 1
    assert metrics.inception_score(same)[0] == pytest.approx(1.0)
    one_class = np.tile([100.0] + [0.0] * 9, (5, 1))  # all sure of class 0 -> IS = 1
    assert metrics.inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)
    # two images over 2 classes: p(y|x) = [1, 0] and [1/2, 1/2]; p(y) = [3/4, 1/4]
    # KL1 = log(4/3); KL2 = 1/2 log(2/3) + 1/2 log 2  -> IS = exp((KL1 + KL2) / 2)
    logits = np.array([[200.0, 0.0], [0.0, 0.0]])
    kl = math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)
    assert metrics.inception_score(logits)[0] == pytest.approx(math.exp(kl / 2))


def test_inception_score_splits_and_errors():
    logits = np.tile(np.eye(4) * 50.0, (3, 1))  # 12 images, 3 splits of 4 perfect ones -> 4 +- 0
    mean, std = metrics.inception_score(logits, splits=3)
    assert mean == pytest.approx(4.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="splits"):
        metrics.inception_score(logits, splits=13)


# --- Parzen window --------------------------------------------------------------------------------------
def test_parzen_single_centre_is_gaussian_log_density():
    centre, x, sigma = np.zeros((1, 2)), np.array([[1.0, 1.0]]), 0.5
    # log N(x; 0, 0.25 I_2) = -|x|^2 / (2 * 0.25) - 2 log 0.5 - log(2 pi) = -4 + 2 log 2 - log(2 pi)
    expected = -4.0 + 2 * math.log(2) - math.log(2 * math.pi)
    np.testing.assert_allclose(metrics.parzen_log_likelihood(centre, x, sigma), [expected])


def test_parzen_two_centres_and_batching():
    centres = np.array([[0.0], [2.0]])
    x = np.array([[1.0], [0.0], [5.0]])
    sigma = 1.0
    dens = [0.5 * (np.exp(-0.5 * (v - 0) ** 2) + np.exp(-0.5 * (v - 2) ** 2)) / np.sqrt(2 * np.pi) for v in x[:, 0]]
    np.testing.assert_allclose(metrics.parzen_log_likelihood(centres, x, sigma, batch_size=2), np.log(dens))


def test_parzen_select_sigma_picks_validation_maximum():
    rng = np.random.default_rng(6)
    centres, val = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    best, scores = metrics.parzen_select_sigma(centres, val, [0.01, 0.3, 10.0])
    assert best == 0.3 and scores[0.3] == max(scores.values())


def test_parzen_errors():
    with pytest.raises(ValueError, match="sigma must be a positive"):
        metrics.parzen_log_likelihood(np.zeros((2, 2)), np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="must match"):
        metrics.parzen_log_likelihood(np.zeros((2, 2)), np.zeros((1, 3)), 1.0)
    with pytest.raises(ValueError, match="at least one candidate"):
        metrics.parzen_select_sigma(np.zeros((2, 2)), np.zeros((1, 2)), [])


# --- feature extractors ---------------------------------------------------------------------------------
def test_inception_features_are_optional():
    if metrics.inception_features_available():
        pytest.skip("Inception weights are cached here; the offline path is what this test checks")
    with pytest.raises(RuntimeError, match="classifier_features"):
        metrics.inception_features(torch.zeros(2, 1, 28, 28))
