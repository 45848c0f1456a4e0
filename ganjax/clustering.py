"""Balanced k-means pseudo-labels: a discrete mode for an unconditional GAN to condition on
(Self-Conditioned GAN, Liu et al. 2020; Logo-GAN, Sage et al. 2018), found without labels."""

import numpy as np


def _sq_distances(x, x_sq, centers):
  """Squared distances [N, K] between rows x [N, D] (x_sq: their squared norms [N]) and
  centers [K, D]."""
  d = x_sq[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None]
  return np.maximum(d, 0.0)


def _kmeans_pp(x, x_sq, k, rng):
  """k-means++ seeding: centers [k, D] drawn with probability ~ squared distance."""
  picks = [rng.integers(len(x))]
  nearest = _sq_distances(x, x_sq, x[picks[0]][None])[:, 0]
  for _ in range(k - 1):
    total = nearest.sum(dtype=np.float64)
    picks.append(rng.choice(len(x), p=nearest / total) if total > 0 else rng.integers(len(x)))
    nearest = np.minimum(nearest, _sq_distances(x, x_sq, x[picks[-1]][None])[:, 0])
  return x[np.asarray(picks)]


def balanced_assign(dist):
  """Labels [N] for distances [N, K] with cluster sizes N // K or N // K + 1: in rounds,
  every unplaced point asks its nearest cluster with room, and each cluster keeps the
  closest askers that fit."""
  n, k = dist.shape
  capacity = n // k + (np.arange(k) < n % k)
  labels = np.full(n, -1, np.int64)
  while (labels < 0).any():
    todo = np.flatnonzero(labels < 0)
    masked = np.where(capacity[None] > 0, dist[todo], np.inf)
    choice = masked.argmin(1)
    order = np.lexsort((masked[np.arange(len(todo)), choice], choice))
    chosen = choice[order]
    first = np.searchsorted(chosen, chosen)  # index of each cluster's first asker
    keep = (np.arange(len(order)) - first) < capacity[chosen]
    labels[todo[order[keep]]] = chosen[keep]
    capacity -= np.bincount(chosen[keep], minlength=k)
  return labels


def balanced_kmeans(x, k, seed=0, iters=30, balanced_iters=5):
  """Cluster ids int32 [N] of rows x [N, D]: k-means++ and Lloyd, then Lloyd steps with
  balanced assignment, so the clusters' sizes differ by at most one (uniform priors)."""
  x = np.asarray(x, np.float32)
  if not 1 <= k <= len(x):
    raise ValueError(f'cannot make {k} clusters of {len(x)} points')
  rng = np.random.default_rng([seed, 0xC1A5])
  x_sq = (x * x).sum(1)
  centers = _kmeans_pp(x, x_sq, k, rng)
  for it in range(iters + balanced_iters):
    dist = _sq_distances(x, x_sq, centers)
    labels = dist.argmin(1) if it < iters else balanced_assign(dist)
    onehot = (labels[:, None] == np.arange(k)[None]).astype(np.float32)
    counts = onehot.sum(0)[:, None]
    centers = np.where(counts > 0, onehot.T @ x / np.maximum(counts, 1), centers)
  return balanced_assign(_sq_distances(x, x_sq, centers)).astype(np.int32)
