"""R3GAN in the train step (configs/mnist_r3gan.py shrunk): its loss (RpGAN + R1 + R2)
trains through the CLI path, each update writes only its own network, 8 devices equal 1
(jit and pmap), and a resumed run is bit-identical. (The networks against the official
code: r3gan_test.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import MNIST_DIR, assert_adam_close, train_chunk
from ganjax import train
from ganjax.experiment import Experiment
from ganjax.parallel import preprocess


def tiny_r3gan(conditional=False):
  """configs/mnist_r3gan.py at 8 channels, batch 8, on the shared digits."""
  from configs import mnist_r3gan  # pylint: disable=g-import-not-at-top
  c = mnist_r3gan.get_config()
  c.batch_size, c.num_steps, c.steps_per_dispatch = 8, 6, 2
  c.log_every = c.sample_every = c.checkpoint_every = 2
  c.report = False
  c.model.latent_dim = 8
  c.model.conditional = conditional
  c.model.generator.update(widths=(8, 8, 8), cardinality=(2, 2, 2), noise_dim=8, embed_dim=8)
  c.model.discriminator.update(widths=(8, 8, 8), cardinality=(2, 2, 2), embed_dim=8)
  c.data.dir, c.data.split = MNIST_DIR, 'test'
  return c


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_each_update_writes_only_its_own_network():
  exp = Experiment(tiny_r3gan(conditional=True), devices=jax.devices()[:1])
  state, fns = exp.init_state(), exp.step_fns()
  dataset = exp.load_dataset()
  real = preprocess(jnp.asarray(dataset.images[:8]))
  labels = jnp.asarray(dataset.labels[:8], jnp.int32)
  after_d, (_, _, _, terms) = jax.jit(fns.d_step)(state, real, labels, jax.random.PRNGKey(0))
  assert set(terms) == {'r1', 'r2'} and float(terms['r1']) > 0 and float(terms['r2']) > 0
  assert _leaves_equal(after_d.g_params, state.g_params)
  assert not _leaves_equal(after_d.d_params, state.d_params)
  after_g, _ = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1), real, labels)
  assert _leaves_equal(after_g.d_params, after_d.d_params)
  assert not _leaves_equal(after_g.g_params, after_d.g_params)


def _train(config, devices, steps=2):
  return train_chunk(config, devices, steps, unroll=False)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['jit', 'pmap'])
def test_eight_devices_equal_one_device(mode):
  c = tiny_r3gan(conditional=True)
  one, m1 = _train(c, jax.devices()[:1])
  c.parallel = mode
  eight, m8 = _train(c, jax.devices())
  assert_adam_close((one.g_params, one.d_params), (eight.g_params, eight.d_params), steps=2)
  for name in ('d_loss', 'g_loss', 'r1', 'r2'):
    np.testing.assert_allclose(m1[name], m8[name], rtol=1e-4, atol=2e-5)


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
  c = tiny_r3gan()
  full = train.train_and_evaluate(c, str(tmp_path / 'full'))
  c.num_steps = 4
  train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  c.num_steps = 6
  resumed = train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  assert _leaves_equal(jax.device_get(full), jax.device_get(resumed))


def test_a_field_the_model_lacks_is_a_one_line_error():
  from ganjax.errors import GanjaxError  # pylint: disable=g-import-not-at-top
  c = tiny_r3gan()
  c.model.generator.spectral_norm = False   # every config's default: dropped quietly
  Experiment(c, devices=jax.devices()[:1])
  c.model.discriminator.widht = 3
  with pytest.raises(GanjaxError, match=r'model\.discriminator\.widht is not an option of '
                                        r'R3GANDiscriminator; it takes \[.*widths'):
    Experiment(c, devices=jax.devices()[:1])


@pytest.mark.parametrize('preset, g, d', [('cifar10', '20,781,952', '21,280,512'),
                                          ('cifar10 uncond', '20,732,160', '20,683,776'),
                                          ('ffhq64', '22,429,824', '22,381,440')])
def test_summary_prints_the_official_counts(preset, g, d):
  """configs/cifar10_r3gan.py and folder_r3gan.py (FFHQ-64): experiments.summary's totals
  are the official modules' (learned basis included: a composite module's own params get
  a row)."""
  from configs import cifar10_r3gan, folder_r3gan  # pylint: disable=g-import-not-at-top
  config = (folder_r3gan.get_config() if preset == 'ffhq64' else
            cifar10_r3gan.get_config(conditional=preset == 'cifar10'))
  text = Experiment(config).summary()
  assert f'trainable: {g} ' in text and f'trainable: {d} ' in text
