"""Data parallelism: 8 simulated devices compute the 1-device step on the same global batch,
with the modern objectives on (hinge, SN in D and G, lazy R1, LeCam, adaptive DiffAugment)."""

import jax
import numpy as np
import pytest

from conftest import assert_adam_close, train_chunk, with_objectives
from ganjax.errors import GanjaxError
from ganjax.parallel import check_batch


def _train(config, devices, steps=3):
  """Runs `steps` steps in one chunk from the seed's init; returns host params, metrics."""
  return train_chunk(config, devices, steps, unroll=None)


def _assert_close(a, b, rtol=2e-4, atol=2e-6):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _assert_same_run(one, eight, m1, m8, metrics, lr=2e-4, steps=3):
  """Two runs of the objectives' config agree: params (up to Adam's amplified rounding),
  BN and SN statistics, LeCam's EMAs and ADA's state, the logged metrics. LeCam's EMAs
  and the raw means d_real / d_fake follow D's output bias, which a relativistic loss
  leaves with a zero gradient: Adam's rounding-noise steps there bound them (2 lr a step)."""
  assert_adam_close((one.g_params, one.d_params), (eight.g_params, eight.d_params), lr, steps)
  _assert_close((one.d_batch_stats, one.ada), (eight.d_batch_stats, eight.ada), rtol=1e-3)
  _assert_close(one.lecam_ema, eight.lecam_ema, rtol=0, atol=2 * lr * steps)
  for name in metrics:
    atol = 2 * lr * steps if name in ('d_real', 'd_fake') else 2e-5
    np.testing.assert_allclose(m1[name], m8[name], rtol=1e-4, atol=atol)


def test_eight_devices_equal_one_device_with_dropout(small_config):
  assert jax.device_count() == 8
  with_objectives(small_config)
  one, m1 = _train(small_config, jax.devices()[:1])
  eight, m8 = _train(small_config, jax.devices())
  _assert_same_run(one, eight, m1, m8, ('d_loss', 'r1', 'lecam', 'augment_p'))
  assert np.all(m1['r1'][::2] > 0) and float(one.ada['p']) > 0
  assert int(eight.step) == 3


@pytest.mark.parametrize('d_batch, loss', [
    ('combined', 'hinge'), pytest.param('separate', 'hinge', marks=pytest.mark.slow),
    pytest.param('combined', 'relativistic', marks=pytest.mark.slow)])
def test_pmap_equals_one_device_without_dropout(small_config, d_batch, loss):
  """RaGAN's centres E D(x), E D(G(z)) are global-batch means under pmap too."""
  small_config.model.discriminator.dropout = 0.0
  small_config.d_batch = d_batch
  with_objectives(small_config, loss)
  one, m1 = _train(small_config, jax.devices()[:1])
  small_config.parallel = 'pmap'
  eight, m8 = _train(small_config, jax.devices())
  _assert_same_run(one, eight, m1, m8, ('d_loss', 'g_loss', 'r1', 'd_real'))


@pytest.mark.parametrize('mode', ['jit', 'pmap'])
def test_batchnorm_model_eight_devices_equal_one_device(mode, tmp_path):
  from configs import cifar10_dcgan  # pylint: disable=g-import-not-at-top
  from conftest import write_cifar_bins  # pylint: disable=g-import-not-at-top
  c = cifar10_dcgan.get_config()  # BatchNorm in G and D, no dropout
  c.batch_size = 16
  c.model.generator.base_features = c.model.discriminator.base_features = 8
  c.data.dir = write_cifar_bins(str(tmp_path), per_file=16)
  assert c.unroll_steps   # one program per step (parallel.per_step_chunk)
  one, m1 = _train(c, jax.devices()[:1], steps=2)
  c.parallel = mode
  eight, m8 = _train(c, jax.devices(), steps=2)
  assert m1['d_loss'].shape == m8['d_loss'].shape == (2,)
  np.testing.assert_allclose(m1['d_loss'], m8['d_loss'], rtol=1e-4)
  _assert_close(one.g_params, eight.g_params)
  _assert_close(one.d_params, eight.d_params)
  _assert_close(one.g_batch_stats, eight.g_batch_stats)
  _assert_close(one.d_batch_stats, eight.d_batch_stats)


def test_batch_must_divide_across_devices():
  check_batch(16, 8, 8)
  with pytest.raises(GanjaxError, match='multiple of 8'):
    check_batch(12, 12, 8)
  with pytest.raises(GanjaxError, match='multiple of 16'):
    check_batch(24, 12, 8)  # 'separate' halves the real batch
