"""Latent-space maths (lerp, slerp, paths, class means, arithmetic) and the latent CLI."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import MNIST_DIR, REPO
from ganjax import inference, latent, sampling
from ganjax.errors import GanjaxError


def _pair(seed=0, d=16, scale_b=1.0):
  rng = np.random.default_rng(seed)
  a, b = rng.normal(size=(2, d)).astype(np.float32)
  return a, b * np.float32(scale_b)


T = np.linspace(0.0, 1.0, 9, dtype=np.float32)


def test_lerp_midpoint_and_exact_ends():
  a, b = _pair()
  out = np.asarray(latent.lerp(a, b, T))
  assert out.shape == (9, 16)
  np.testing.assert_array_equal(out[0], a)
  np.testing.assert_array_equal(out[-1], b)
  np.testing.assert_allclose(np.asarray(latent.lerp(a, b, 0.5)), (a + b) / 2, rtol=1e-6)


def test_slerp_ends_are_the_anchors_exactly():
  a, b = _pair(1)
  out = np.asarray(latent.slerp(a, b, T))
  np.testing.assert_array_equal(out[0], a)
  np.testing.assert_array_equal(out[-1], b)


def test_slerp_keeps_equal_norms_and_stays_between_unequal_ones():
  a, b = _pair(2)
  b = b * np.linalg.norm(a) / np.linalg.norm(b)
  norms = np.linalg.norm(np.asarray(latent.slerp(a, b, T)), axis=-1)
  np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-5)
  # slerp, unlike lerp, does not cut through the ball: lerp's midpoint norm is smaller.
  assert np.linalg.norm(np.asarray(latent.lerp(a, b, 0.5))) < 0.9 * norms[4]
  a, b = _pair(3, scale_b=4.0)
  norms = np.linalg.norm(np.asarray(latent.slerp(a, b, T)), axis=-1)
  lo, hi = sorted([np.linalg.norm(a), np.linalg.norm(b)])
  assert np.all(norms >= lo * (1 - 1e-5)) and np.all(norms <= hi * (1 + 1e-5))
  assert np.all(np.diff(norms) > 0)  # the norm moves monotonically from |a| to |b|


def test_slerp_of_parallel_vectors_is_lerp():
  a, _ = _pair(4)
  for b in (2.5 * a, a, -a, a + np.float32(1e-6)):
    np.testing.assert_allclose(np.asarray(latent.slerp(a, b, T)),
                               np.asarray(latent.lerp(a, b, T)), rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(latent.slerp(a, b, T))))


def test_slerp_broadcasts_one_t_per_pair():
  rng = np.random.default_rng(5)
  a, b = rng.normal(size=(2, 4, 6)).astype(np.float32)
  t = np.array([0.0, 0.3, 0.7, 1.0], np.float32)
  rows = np.asarray(latent.slerp(a, b, t))
  assert rows.shape == (4, 6)
  for i in range(4):
    np.testing.assert_allclose(rows[i], np.asarray(latent.slerp(a[i], b[i], t[i])), rtol=1e-6)
  np.testing.assert_array_equal(rows[0], a[0])
  np.testing.assert_array_equal(rows[3], b[3])


@pytest.mark.parametrize('method', latent.METHODS)
@pytest.mark.parametrize('k, steps', [(2, 2), (3, 5), (4, 8)])
def test_path_length_and_anchor_hits(method, k, steps):
  anchors = np.random.default_rng(k).normal(size=(k, 5)).astype(np.float32)
  points = np.asarray(latent.path(anchors, steps, method))
  assert points.shape == ((k - 1) * (steps - 1) + 1, 5)
  np.testing.assert_array_equal(points[::steps - 1], anchors)


def test_path_rejects_one_anchor_and_one_step():
  with pytest.raises(GanjaxError, match='at least 2 anchor'):
    latent.path(np.zeros((1, 3)), 4)
  with pytest.raises(GanjaxError, match='steps must be >= 2'):
    latent.path(np.zeros((2, 3)), 1)
  with pytest.raises(GanjaxError, match='unknown interpolation method'):
    latent.path(np.zeros((2, 3)), 3, 'cubic')


def test_class_means_by_hand():
  z = np.array([[1, 0], [3, 0], [0, 2], [0, 4], [5, 5]], np.float32)
  predicted = np.array([0, 0, 2, 2, 1])
  means = latent.class_means(z, predicted, 4, min_count=2, required=[0, 2])
  np.testing.assert_allclose(means[[0, 2]], [[2, 0], [0, 3]])
  assert np.isnan(means[1]).all() and np.isnan(means[3]).all()  # below min_count / absent
  np.testing.assert_allclose(latent.class_means(z, predicted, 3)[1], [5, 5])
  with pytest.raises(GanjaxError, match=r"class 'b': 1 confidently classified samples, 2 "):
    latent.class_means(z, predicted, 3, min_count=2, class_names=['a', 'b', 'c'])


def test_arithmetic_parses_names_indices_and_hyphens():
  names = ['t-shirt', 'shirt', 'bag', 'ankle-boot']
  means = np.arange(8, dtype=np.float64).reshape(4, 2) ** 2
  result, terms = latent.arithmetic(means, 't-shirt-shirt + ankle-boot', names)
  assert terms == [(1, 0), (-1, 1), (1, 3)]
  np.testing.assert_allclose(result, means[0] - means[1] + means[3])
  result, terms = latent.arithmetic(means, '2-0+1')
  assert terms == [(1, 2), (-1, 0), (1, 1)]
  np.testing.assert_allclose(result, means[2] - means[0] + means[1])
  assert latent.format_terms(terms, names) == 'bag - t-shirt + shirt'


@pytest.mark.parametrize('expr, match', [
    ('bag-dog', "unknown class 'dog'"),
    ('bag-7', "unknown class '7'"),
    ('-bag+shirt', 'first term must be positive'),
    ('bag--shirt', 'cannot read'),
    ('', 'empty'),
])
def test_arithmetic_errors(expr, match):
  with pytest.raises(GanjaxError, match=match):
    latent.arithmetic(np.zeros((4, 2)), expr, ['t-shirt', 'shirt', 'bag', 'ankle-boot'])


def test_arithmetic_needs_a_mean_for_each_term():
  means = np.array([[1.0, 1.0], [np.nan, np.nan]])
  with pytest.raises(GanjaxError, match='no mean latent for class'):
    latent.arithmetic(means, '0-1')


# --- the CLI on tiny trained runs --------------------------------------------------------


@pytest.fixture(scope='module')
def _runs():
  return {}


def _train_gan(config, workdir):
  from ganjax import train  # pylint: disable=g-import-not-at-top
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture
def gan(_runs, small_config, tmp_path_factory):
  """An unconditional tiny MLP GAN (trained once per module)."""
  if 'gan' not in _runs:
    _runs['gan'] = _train_gan(small_config, str(tmp_path_factory.mktemp('gan')))
  return _runs['gan']


@pytest.fixture
def cgan(_runs, small_config, tmp_path_factory):
  """The same, conditional on the digit."""
  if 'cgan' not in _runs:
    small_config.model.conditional = True
    small_config.model.generator.embed_dim = small_config.model.discriminator.embed_dim = 8
    _runs['cgan'] = _train_gan(small_config, str(tmp_path_factory.mktemp('cgan')))
  return _runs['cgan']


@pytest.fixture
def classifier(_runs, tmp_path_factory):
  """A barely trained configs/mnist_classifier.py."""
  if 'classifier' not in _runs:
    from configs import mnist_classifier  # pylint: disable=g-import-not-at-top
    from ganjax import supervised  # pylint: disable=g-import-not-at-top
    c = mnist_classifier.get_config()
    c.num_steps, c.batch_size, c.log_every, c.checkpoint_every = 30, 32, 30, 30
    c.model.channels, c.model.features = (8, 16, 16), 32
    c.data.dir, c.data.split = MNIST_DIR, 'test'
    workdir = str(tmp_path_factory.mktemp('classifier'))
    supervised.train_and_evaluate(c, workdir)
    _runs['classifier'] = workdir
  return _runs['classifier']


def run_latent(*args, check=True):
  proc = subprocess.run([sys.executable, '-m', 'experiments.latent', *args], cwd=REPO,
                        capture_output=True, text=True, env=dict(os.environ), timeout=300)
  if check and proc.returncode:
    raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return proc


def _error_line(proc):
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('ganjax: error: ')
  return last


def _outputs(stem):
  meta = json.load(open(f'{stem}.json'))
  arrays = dict(np.load(f'{stem}.npz', allow_pickle=False))
  return meta, arrays, np.asarray(Image.open(f'{stem}.png'))


def test_interpolate_both_methods_between_seeds(gan, tmp_path):
  stem = str(tmp_path / 'walk')
  out = run_latent(f'--workdir={gan}', '--mode=interpolate', '--seeds=3,7,11', '--steps=5',
                   '--method=both', f'--out={stem}.png')
  assert 'a 4x5 grid' in out.stdout
  meta, arrays, png = _outputs(stem)
  assert meta['grid_shape'] == [4, 5] and meta['step'] == 8
  assert [r['method'] for r in meta['rows']] == ['linear', 'spherical'] * 2
  assert [(r['from'], r['to']) for r in meta['rows']] == (
      [({'seed': 3}, {'seed': 7})] * 2 + [({'seed': 7}, {'seed': 11})] * 2)
  assert [c['t'] for c in meta['columns']] == [0.0, 0.25, 0.5, 0.75, 1.0]
  images, z = arrays['images'], arrays['latents']
  assert images.shape == (20, 28, 28, 1) and images.dtype == np.uint8 and z.shape == (20, 8)
  assert png.shape[0] > 4 * 28 and png.shape[1] > 5 * 28

  gen = inference.Generator(gan)
  anchors = np.stack([np.asarray(sampling.fixed_latents(s, 1, 8))[0] for s in (3, 7, 11)])
  direct = gen.images(anchors)
  z, images = z.reshape(4, 5, 8), images.reshape(4, 5, 28, 28, 1)
  for row, (i, j) in enumerate([(0, 1), (0, 1), (1, 2), (1, 2)]):
    np.testing.assert_array_equal(z[row, 0], anchors[i])
    np.testing.assert_array_equal(z[row, -1], anchors[j])
    # Batch size may move a float ulp through G, so allow one grey level.
    assert np.abs(images[row, 0].astype(int) - direct[i]).max() <= 1
    assert np.abs(images[row, -1].astype(int) - direct[j]).max() <= 1
  np.testing.assert_allclose(z[0, 2], (anchors[0] + anchors[1]) / 2, rtol=1e-5, atol=1e-6)
  assert np.linalg.norm(z[1, 2]) > np.linalg.norm(z[0, 2])  # slerp keeps off the chord


def test_interpolate_classes_blends_the_label_embedding(cgan, tmp_path):
  stem = str(tmp_path / 'morph')
  run_latent(f'--workdir={cgan}', '--mode=interpolate', '--classes=3,8', '--indices=0,4',
             '--steps=4', '--method=linear', f'--out={stem}')
  meta, arrays, _ = _outputs(stem)
  assert meta['kind'] == 'classes' and 'nn.Embed' in meta['blend']
  assert meta['grid_shape'] == [2, 4]
  assert [(r['z'], r['from_class'], r['to_class']) for r in meta['rows']] == [
      ({'seed': 0, 'index': 0}, '3', '8'), ({'seed': 0, 'index': 4}, '3', '8')]
  images, z = arrays['images'].reshape(2, 4, 28, 28, 1), arrays['latents'].reshape(2, 4, 8)
  table = np.asarray(sampling.fixed_latents(0, 5, 8))
  np.testing.assert_array_equal(z[:, 0], table[[0, 4]])
  assert (z == z[:, :1]).all()  # z stays fixed along each row
  gen = inference.Generator(cgan)
  for col, label in ((0, 3), (-1, 8)):
    direct = gen.images(table[[0, 4]], np.full(2, label, np.int32))
    assert np.abs(images[:, col].astype(int) - direct).max() <= 1


def test_interpolate_conditional_needs_a_fixed_label(cgan, tmp_path):
  proc = run_latent(f'--workdir={cgan}', '--mode=interpolate', '--seeds=1,2',
                    f'--out={tmp_path}/x', check=False)
  assert '--label' in _error_line(proc)
  run_latent(f'--workdir={cgan}', '--mode=interpolate', '--seeds=1,2', '--label=5',
             '--steps=3', f'--out={tmp_path}/y')
  meta, arrays, _ = _outputs(f'{tmp_path}/y')
  assert meta['label'] == '5' and arrays['images'].shape == (3, 28, 28, 1)


def _pool_predictions(gan, classifier, pool):
  """What the CLI sees: the classifier's classes of G's images of seed 0's latents."""
  z = np.asarray(sampling.fixed_latents(0, pool, 8))
  logits, _ = inference.Classifier(classifier)(inference.Generator(gan).images(z))
  return z, logits.argmax(-1)


@pytest.mark.slow
def test_arithmetic_end_to_end(gan, classifier, tmp_path):
  z, predicted = _pool_predictions(gan, classifier, 300)
  # A barely trained G fills only a few classes: build the expression from those.
  seen = np.argsort(-np.bincount(predicted, minlength=10))
  a, b = seen[0], seen[1] if (predicted == seen[1]).any() else seen[0]
  expr = f'{a}-{b}+{a}'
  stem = str(tmp_path / 'sum')
  out = run_latent(f'--workdir={gan}', '--mode=arithmetic', f'--classifier={classifier}',
                   f'--expr={expr}', '--pool=300', '--min_confidence=0', f'--out={stem}')
  line = out.stdout.strip().splitlines()[-1]
  assert re.match(rf'{a} - {b} \+ {a} -> classifier says \d \(p=[01]\.\d\d\); neighbours: '
                  r'\d x\d', line), line
  meta, arrays, png = _outputs(stem)
  assert [(t['sign'], t['class']) for t in meta['terms']] == [('+', str(a)), ('-', str(b)),
                                                              ('+', str(a))]
  assert meta['counts'] == {str(k): int(n) for k, n in
                            enumerate(np.bincount(predicted, minlength=10))}
  assert len(meta['neighbours']) == 8
  images, latents = arrays['images'], arrays['latents']
  assert images.shape == (3 + 1 + 8, 28, 28, 1) and latents.shape == (12, 8)
  mean = lambda k: z[predicted == k].mean(0)
  np.testing.assert_allclose(latents[3], mean(a) - mean(b) + mean(a), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(latents[0], mean(a), rtol=1e-4, atol=1e-5)
  spread = np.linalg.norm(latents[4:] - latents[3], axis=-1)
  assert np.all(spread > 0) and np.all(spread < 0.25 * 8)  # sigma 0.25 in 8 dims
  verdict = inference.Classifier(classifier)(images[3:4])[0].argmax(-1)[0]
  assert meta['result']['index'] == verdict
  assert f'classifier says {verdict}' in line
  assert png.shape[0] > 2 * 28 and png.shape[1] > 8 * 28

  missing = [k for k in range(10) if not (predicted == k).any()]
  if missing:
    proc = run_latent(f'--workdir={gan}', '--mode=arithmetic', f'--classifier={classifier}',
                      f'--expr={a}-{missing[0]}', '--pool=300', '--min_confidence=0',
                      f'--out={tmp_path}/none', check=False)
    assert f"class '{missing[0]}': 0 confidently classified samples" in _error_line(proc)


def test_arithmetic_without_classifier_says_how_to_train_one(tmp_path):
  proc = run_latent(f'--workdir={tmp_path}', '--mode=arithmetic', '--expr=7-1+4',
                    f'--out={tmp_path}/x', check=False)
  assert 'configs/mnist_classifier.py' in _error_line(proc)
