"""FID statistics files and cached features: what `experiments.fid --save_stats` writes,
what a dataset's reference statistics are cached as, and resumable feature extraction.

A statistics file is an .npz (read with allow_pickle=False) holding mu [D] and sigma
[D,D] (float64), n (the feature count), space (the feature space's name) and kid_features
[m,D] float32: a seeded subset of up to KID_FEATURES features, so KID can be computed
against a statistics file too.
"""

import dataclasses
import hashlib
import os
import zipfile
from typing import Optional

import numpy as np

from ganjax.errors import GanjaxError
from ganjax.metrics import stats

KID_FEATURES = 5000
_KEYS = ('mu', 'sigma', 'n', 'space', 'kid_features')


@dataclasses.dataclass
class Stats:
  """A feature set's Gaussian (mu [D], sigma [D,D]), its size n, and KID's subset [m,D]."""
  mu: np.ndarray
  sigma: np.ndarray
  n: int
  space: str
  kid_features: Optional[np.ndarray] = None


def stats_of(features, space, seed=0):
  """Stats of features [N,D] in `space`; KID keeps a seeded subset of up to KID_FEATURES."""
  mu, sigma = stats.feature_stats(features)
  keep = np.random.default_rng([seed, 0x1D]).permutation(len(features))[:KID_FEATURES]
  return Stats(mu, sigma, len(features), space, np.asarray(features, np.float32)[np.sort(keep)])


def fid(a, b):
  """FID between two Stats."""
  return stats.frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def save(path, s):
  """Writes Stats s to path (.npz) through a temporary file, so a crash leaves no half file."""
  tmp = f'{path}.tmp.npz'
  np.savez(tmp, mu=s.mu, sigma=s.sigma, n=np.int64(s.n), space=np.str_(s.space),
           kid_features=np.zeros((0, len(s.mu)), np.float32) if s.kid_features is None
           else s.kid_features)
  os.replace(tmp, path)


def is_stats_file(path):
  """Whether path is an .npz holding mu and sigma (a statistics file, not images)."""
  try:
    with np.load(path, allow_pickle=False) as z:
      return 'mu' in z.files and 'sigma' in z.files
  except (OSError, ValueError, EOFError, zipfile.BadZipFile):
    return False


def load(path):
  """Stats from a file save() wrote; GanjaxError naming what is wrong with it."""
  try:
    with np.load(path, allow_pickle=False) as z:
      missing = [k for k in _KEYS if k not in z.files]
      if missing:
        raise GanjaxError(f'{path} is not a ganjax FID statistics file (no {missing[0]!r}); '
                          'write one with `python -m experiments.fid SOURCE --save_stats=F`')
      s = Stats(z['mu'].astype(np.float64), z['sigma'].astype(np.float64), int(z['n']),
                str(z['space']), z['kid_features'].astype(np.float32))
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise GanjaxError(f'cannot read statistics file {path} ({type(e).__name__}: {e}); '
                      'write it again with --save_stats') from None
  d = s.mu.shape[0] if s.mu.ndim == 1 else -1
  if d < 1 or s.sigma.shape != (d, d) or s.kid_features.shape[1:] != (d,) or s.n < 2:
    raise GanjaxError(f'{path}: inconsistent statistics (mu {s.mu.shape}, sigma '
                      f'{s.sigma.shape}, n {s.n}); write it again with --save_stats')
  if not len(s.kid_features):
    s.kid_features = None
  return s


def images_digest(images):
  """A short content hash of uint8 images [N,H,W,C] (shape included)."""
  h = hashlib.sha256(repr(images.shape).encode())
  h.update(np.ascontiguousarray(images).data)
  return h.hexdigest()[:16]


def cache_stem(cache_dir, images, space):
  """cache_dir/<content hash of images>-<hash of the space's name>: where the features of
  these images in that space are cached (+ '.npy'; statistics: + '.stats.npz')."""
  tag = hashlib.sha256(space.encode()).hexdigest()[:8]
  return os.path.join(cache_dir, f'{images_digest(images)}-{tag}')


def usable_cache_dir(cache_dir):
  """cache_dir if it exists or can be made and is writable, else '' (a read-only data
  folder, e.g. a shared copy, just goes uncached)."""
  if not cache_dir:
    return ''
  try:
    os.makedirs(cache_dir, exist_ok=True)
  except OSError:
    return ''
  return cache_dir if os.access(cache_dir, os.W_OK) else ''


def cached_features(embed, images, path, chunk=1000, progress=None):
  """embed(uint8 [n,H,W,C]) -> [n,D] of every image, chunk images at a time into the .npy
  at path; an interrupted run resumes at the first chunk not yet written (the count of
  finished rows lives in path + '.done'). Returns the features [N,D] float32."""
  done_path = path + '.done'
  if os.path.exists(path) and not os.path.exists(done_path):
    return np.load(path, allow_pickle=False)
  done, out = 0, None
  if os.path.exists(path):
    with open(done_path) as f:
      done = int(f.read().strip() or 0)
    out = np.lib.format.open_memmap(path, mode='r+')
    if out.shape[0] != len(images):
      raise GanjaxError(f'{path} holds {out.shape[0]} rows, expected {len(images)}; delete it')
  for start in range(done, len(images), chunk):
    features = np.asarray(embed(images[start:start + chunk]), np.float32)
    if out is None:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      out = np.lib.format.open_memmap(path, mode='w+', dtype=np.float32,
                                      shape=(len(images), features.shape[1]))
    out[start:start + len(features)] = features
    out.flush()
    with open(done_path + '.tmp', 'w') as f:
      f.write(str(start + len(features)))
    os.replace(done_path + '.tmp', done_path)
    if progress:
      progress(start + len(features), len(images))
  del out
  if os.path.exists(done_path):
    os.remove(done_path)
  return np.load(path, allow_pickle=False)
