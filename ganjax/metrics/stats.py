"""FID, KID and improved precision/recall on feature vectors, in float64 numpy (no scipy)."""

import numpy as np


def _float64_2d(features, name):
  """Features as a float64 [N,D] array, with N >= 2 (covariances and MMD need two rows)."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f'{name} must be [N,D] with N >= 2, got shape {x.shape}')
  return x


def feature_stats(features):
  """Mean [D] and unbiased covariance [D,D] of features [N,D] (np.cov's rowvar=False)."""
  x = _float64_2d(features, 'features')
  return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_factor(sigma):
  """An L [D,D] with L L^T = sigma for a PSD sigma [D,D]: Cholesky, or (for a singular
  sigma) eigh's V sqrt(W), rounding's tiny negative eigenvalues clipped to 0."""
  try:
    return np.linalg.cholesky(sigma)
  except np.linalg.LinAlgError:
    w, v = np.linalg.eigh(sigma)
    return v * np.sqrt(np.clip(w, 0.0, None))


def frechet_distance(mu1, sigma1, mu2, sigma2):
  """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)) for means [D] and covariances [D,D]."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  # With S1 = L L^T, S1 S2 has the eigenvalues of the symmetric PSD L^T S2 L, so eigvalsh
  # gives tr sqrtm(S1 S2) without scipy's sqrtm, which goes complex or inf on the
  # singular covariances of N < D samples (and takes ~10x longer at D = 2048).
  factor = _psd_factor(sigma1)
  m = factor.T @ sigma2 @ factor
  tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid(features_a, features_b):
  """Fréchet distance between the Gaussians fitted to features [Na,D] and [Nb,D]."""
  return frechet_distance(*feature_stats(features_a), *feature_stats(features_b))


def _poly_kernel(x, y):
  """KID's cubic kernel (x.y / D + 1)^3 of [M,D] and [M,D] -> [M,M]."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x, y):
  """Unbiased MMD^2 estimate of two equal-size samples [M,D] (Binkowski et al. 2018)."""
  m = x.shape[0]
  kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
  within = (kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))
  return within / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m)


def kid(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
  """KID: mean and std of MMD^2 over random subsets of [Na,D] and [Nb,D] -> (mean, std).

  subset_size is clipped to min(Na, Nb). The draws are torch-fidelity's (one RandomState,
  a subset of a then one of b per round), so the same seed gives its numbers.
  """
  a, b = _float64_2d(features_a, 'features_a'), _float64_2d(features_b, 'features_b')
  m = min(subset_size, len(a), len(b))
  rng = np.random.RandomState(seed)
  mmds = np.empty(num_subsets)
  for i in range(num_subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    mmds[i] = _mmd2_unbiased(x, y)
  return float(mmds.mean()), float(mmds.std())


def _sq_dists(x, y, y_sq):
  """Squared Euclidean distances [B,M] of rows x [B,D] to rows y [M,D] (y_sq: |y|^2 [M])."""
  d = (x * x).sum(axis=1)[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
  return np.maximum(d, 0.0)


def _knn_radii(x, k, batch_size):
  """Squared distance of each row of x [N,D] to its k-th nearest other row -> [N]."""
  x_sq = (x * x).sum(axis=1)
  radii = np.empty(len(x))
  for s in range(0, len(x), batch_size):
    d = _sq_dists(x[s:s + batch_size], x, x_sq)
    radii[s:s + batch_size] = np.partition(d, k, axis=1)[:, k]  # index 0 is the row itself
  return radii


def nearest_distances(x, y, batch_size=1000):
  """Euclidean distance of each row of x [N,D] to its nearest row of y [M,D] -> [N]."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  y_sq = (y * y).sum(axis=1)
  out = np.empty(len(x))
  for s in range(0, len(x), batch_size):
    out[s:s + batch_size] = np.sqrt(_sq_dists(x[s:s + batch_size], y, y_sq).min(axis=1))
  return out


def _coverage(points, centers, radii, batch_size):
  """Fraction of points [N,D] within radii[j] (squared) of some centers[j] [M,D]."""
  c_sq = (centers * centers).sum(axis=1)
  inside = 0
  for s in range(0, len(points), batch_size):
    d = _sq_dists(points[s:s + batch_size], centers, c_sq)
    inside += int(np.any(d <= radii[None, :], axis=1).sum())
  return inside / len(points)


def precision_recall(real, fake, k=3, batch_size=1000):
  """Improved precision and recall (Kynkäänniemi et al. 2019) of fake [Nf,D] vs real [Nr,D].

  precision: the fraction of fake samples within the k-NN radius of some real sample;
  recall: the same with the roles swapped. Distances go batch_size rows at a time, so
  10k x 10k samples of 2048-d need a few hundred MB.
  """
  real, fake = _float64_2d(real, 'real'), _float64_2d(fake, 'fake')
  if not 1 <= k < min(len(real), len(fake)):
    raise ValueError(f'k={k} needs 1 <= k < the number of samples ({len(real)}, {len(fake)})')
  precision = _coverage(fake, real, _knn_radii(real, k, batch_size), batch_size)
  recall = _coverage(real, fake, _knn_radii(fake, k, batch_size), batch_size)
  return precision, recall
