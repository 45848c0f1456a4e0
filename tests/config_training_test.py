"""A few steps of every config on tiny fixtures: finite losses, params move, and the
stop-gradient invariants hold with BatchNorm (a G step leaves D's params and statistics)."""

import jax
import numpy as np
import pytest

from conftest import MNIST_DIR, write_cifar_bins, write_image_folder
from gan_models_test import ALL_CONFIGS, config
from ganjax.input_pipeline import Dataset
from ganjax.parallel import preprocess
from ganjax.experiment import Experiment


def _equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def tiny(name, tmp_path):
  """The config on fixture data: batch 8, folders at 32x32."""
  c = config(name)
  c.batch_size = 8
  if c.data.name in ('mnist', 'fashion_mnist'):
    c.data.dir, c.data.split = MNIST_DIR, 'test'
  elif c.data.name == 'cifar10':
    c.data.dir = write_cifar_bins(str(tmp_path / 'cifar'))
  else:
    c.data.dir = write_image_folder(str(tmp_path / 'folder'))
    c.data.image_size = 32
  return c


def real_batch(exp, dataset):
  idx = np.arange(exp.real_batch)
  if isinstance(dataset, Dataset):
    images, labels = dataset.images[idx], dataset.labels[idx]
  else:
    images, labels = dataset.load(idx), dataset.labels_at(idx)
  return preprocess(images), (labels if exp.num_classes else None)


# fashion_mnist_{dcgan,cgan,resnet} are the mnist ones on other files (fashion_mnist and
# fashion_mnist_cond are not: their RaGAN loss reads a second real batch in G's update),
# cifar10_wgan_gp and cifar10_lsgan cifar10_dcgan with objectives the objectives tests
# take (a gradient penalty on this conv D there): same code, not rerun here.
# The residual configs' code runs at tiny widths in architectures_test (their full widths
# take minutes a step here).
SAME_CODE = ('fashion_mnist_dcgan', 'fashion_mnist_cgan', 'cifar10_wgan_gp', 'cifar10_lsgan',
             'cifar10_sngan', 'cifar10_sngan_cond', 'cifar10_biggan', 'folder_sngan64',
             'folder_biggan128', 'fashion_mnist_resnet')


# Code the fast tier covers elsewhere (the residual nets in architectures_test, the folder
# configs' nets in their mnist and cifar10 twins): full suite only.
SLOW = ('mnist_resnet', 'folder_cgan', 'folder_dcgan')


@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
    for n in ALL_CONFIGS if n not in SAME_CODE])
def test_steps_move_only_their_network(name, tmp_path):
  exp = Experiment(tiny(name, tmp_path), devices=jax.devices()[:1])
  dataset = exp.load_dataset()
  fns = exp.step_fns()
  state = exp.init_state()
  real, labels = real_batch(exp, dataset)
  after_d, (d_loss, *_) = jax.jit(fns.d_step)(state, real, labels, jax.random.PRNGKey(0))
  assert np.isfinite(d_loss)
  assert _equal(after_d.g_params, state.g_params)
  assert _equal(after_d.g_batch_stats, state.g_batch_stats)
  assert _equal(after_d.g_opt_state, state.g_opt_state)
  assert not _equal(after_d.d_params, state.d_params)
  if jax.tree.leaves(state.d_batch_stats):
    assert not _equal(after_d.d_batch_stats, state.d_batch_stats)
  g_real = (real, labels) if exp.step_config().g_needs_reals else ()
  after_g, (g_loss, _) = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1), *g_real)
  assert np.isfinite(g_loss)
  assert _equal(after_g.d_params, after_d.d_params)
  assert _equal(after_g.d_batch_stats, after_d.d_batch_stats)
  assert _equal(after_g.d_opt_state, after_d.d_opt_state)
  assert not _equal(after_g.g_params, after_d.g_params)
  if jax.tree.leaves(state.g_batch_stats):
    assert not _equal(after_g.g_batch_stats, after_d.g_batch_stats)
  k = exp.batches_per_step
  step = jax.jit(fns.train_step)
  images = real[None].repeat(k, 0)
  labels = None if labels is None else labels[None].repeat(k, 0)
  for _ in range(2):
    state, metrics = step(state, images, labels)
  assert all(np.isfinite(v) for v in jax.device_get(metrics).values())
  assert int(state.step) == 2
