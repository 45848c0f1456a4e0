"""FID, KID and precision/recall against closed forms and the reference implementations
(pytorch-fid's scipy sqrtm FID; torch-fidelity's FID, KID and PRC)."""

import types

import numpy as np
import pytest

from conftest import torch_fidelity_modules
from ganjax.metrics import stats


@pytest.fixture(scope='module')
def tf_metrics():
  """torch-fidelity's metric_fid/kid/prc modules (see conftest.torch_fidelity_modules)."""
  names = ('fid', 'kid', 'prc')
  with torch_fidelity_modules(*[f'metric_{n}' for n in names], stub_utils=True) as modules:
    yield types.SimpleNamespace(**dict(zip(names, modules)))


def _features(seed, n, d, shift=0.0, scale=1.0):
  """Correlated Gaussian features [n,d]: a fixed random mixing of N(shift, scale^2)."""
  mixing = np.random.default_rng(123).normal(size=(d, d)) / np.sqrt(d)
  return (np.random.default_rng(seed).normal(shift, scale, (n, d))) @ mixing


def _pytorch_fid_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
  """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm)."""
  linalg = pytest.importorskip('scipy.linalg')
  diff = mu1 - mu2
  covmean = linalg.sqrtm(sigma1.dot(sigma2))
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
  if np.iscomplexobj(covmean):
    assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
    covmean = covmean.real
  return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def test_feature_stats_are_np_mean_and_cov():
  x = _features(0, 50, 6)
  mu, sigma = stats.feature_stats(x)
  np.testing.assert_allclose(mu, x.mean(0))
  np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))


@pytest.mark.parametrize('d', [16, 64])
def test_frechet_matches_pytorch_fid(d):
  a, b = _features(0, 500, d), _features(1, 400, d, shift=0.3, scale=1.5)
  (mu1, s1), (mu2, s2) = stats.feature_stats(a), stats.feature_stats(b)
  want = _pytorch_fid_frechet(mu1, s1, mu2, s2)
  assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)
  assert stats.fid(a, b) == pytest.approx(want, rel=1e-8)


def test_frechet_matches_torch_fidelity(tf_metrics):
  # Fewer samples than dimensions too: singular covariances.
  for n, d in ((300, 32), (40, 64)):
    a, b = _features(2, n, d), _features(3, n, d, shift=0.1)
    (mu1, s1), (mu2, s2) = stats.feature_stats(a), stats.feature_stats(b)
    want = tf_metrics.fid.fid_statistics_to_metric(
        {'mu': mu1, 'sigma': s1}, {'mu': mu2, 'sigma': s2}, verbose=False)
    assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        want['frechet_inception_distance'], rel=1e-6)


def test_frechet_closed_form_for_diagonal_covariances():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
  v1, v2 = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  got = stats.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize('n', [30, 1000])   # 30 < D: a singular covariance
def test_fid_of_a_set_with_itself_is_zero(n):
  x = _features(4, n, 64)
  # sqrt turns rounding's ~1e-16 eigenvalues of a singular S^2 into ~1e-8 ones.
  assert abs(stats.fid(x, x)) < 1e-6 * np.trace(np.cov(x, rowvar=False))


def test_fid_of_shifted_gaussians_approaches_squared_shift():
  d, n = 8, 100_000
  base = np.random.default_rng(5).normal(size=(n, d))
  got = []
  for shift in (0.0, 0.25, 0.5, 1.0):
    m = np.full(d, shift)
    other = np.random.default_rng(6).normal(size=(n, d)) + m
    got.append(stats.fid(base, other))
    # The sampling noise of 2 m.(mean error) has std 2 |m| sqrt(2 / n) ~ 0.009 |m|.
    assert got[-1] == pytest.approx(m @ m, abs=0.002 + 0.04 * np.sqrt(m @ m))
  assert got == sorted(got)


def test_kid_is_unbiased_on_equal_distributions():
  a, b = _features(7, 1000, 16), _features(8, 1000, 16)
  mean, std = stats.kid(a, b, num_subsets=50, subset_size=200)
  assert abs(mean) < 3 * std
  shifted, _ = stats.kid(a, _features(9, 1000, 16, shift=0.5), num_subsets=50, subset_size=200)
  assert shifted > 10 * std


def test_kid_matches_torch_fidelity(tf_metrics):
  import torch  # pylint: disable=g-import-not-at-top
  a, b = np.abs(_features(10, 300, 32)), np.abs(_features(11, 250, 32, shift=0.2))
  got = stats.kid(a, b, num_subsets=20, subset_size=100, seed=3)
  want = tf_metrics.kid.kid_features_to_metric(
      torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20, kid_subset_size=100, rng_seed=3,
      verbose=False)
  assert got == pytest.approx((want['kernel_inception_distance_mean'],
                               want['kernel_inception_distance_std']), rel=1e-9)


def test_kid_clips_subset_size_to_the_smaller_set():
  a, b = _features(12, 40, 8), _features(13, 60, 8)
  mean, std = stats.kid(a, b, num_subsets=5, subset_size=1000)
  assert np.isfinite(mean) and np.isfinite(std) and std > 0


def test_precision_recall_identical_and_disjoint():
  x = _features(14, 300, 16)
  assert stats.precision_recall(x, x, batch_size=64) == (1.0, 1.0)
  far = _features(15, 200, 16, shift=100.0)
  assert stats.precision_recall(x, far, batch_size=64) == (0.0, 0.0)


def test_precision_recall_matches_torch_fidelity(tf_metrics):
  import torch  # pylint: disable=g-import-not-at-top
  real, fake = _features(16, 300, 16), _features(17, 250, 16, shift=0.4, scale=1.3)
  got = stats.precision_recall(real, fake, k=3, batch_size=64)
  # torch-fidelity's convention: features_1 generated, features_2 real.
  want = tf_metrics.prc.calculate_precision_recall_full(
      torch.from_numpy(fake), torch.from_numpy(real), neighborhood=3)
  assert got == pytest.approx(want, abs=1e-6)   # theirs: a float32 mean
  assert 0.1 < got[0] < 0.99 and 0.1 < got[1] < 0.99   # a partial overlap, not a trivial case
