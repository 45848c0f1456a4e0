"""DCGAN and conditional models: Keras parameter counts, shapes at every size, labels."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import model_summary
from ganjax.experiment import Experiment

ALL_CONFIGS = ['mnist_mlp', 'mnist_mlp_cgan', 'mnist_dcgan', 'fashion_mnist_dcgan',
               'mnist_cgan', 'fashion_mnist_cgan', 'cifar10_dcgan', 'cifar10_cgan',
               'folder_dcgan64', 'folder_dcgan', 'folder_cgan', 'mnist_keras_gan',
               'cifar10_wgan_gp', 'cifar10_hinge_sn', 'cifar10_lsgan', 'cifar10_sngan',
               'cifar10_sngan_cond', 'cifar10_biggan', 'folder_sngan64', 'folder_biggan128',
               'mnist_resnet', 'fashion_mnist_resnet', 'mnist', 'fashion_mnist',
               'mnist_cond', 'fashion_mnist_cond', 'mnist_cond_ac']


def config(name):
  return importlib.import_module(f'configs.{name}').get_config()


def counts(exp):
  """((trainable, non-trainable, total) of G, the same of D) from the summary rows."""
  labels = jnp.zeros((1,), jnp.int32) if exp.num_classes else None
  g = model_summary.layer_rows(exp.generator, jnp.zeros((1, exp.config.model.latent_dim)), labels,
                         train=False)
  d = model_summary.layer_rows(exp.discriminator, jnp.zeros((1, *exp.image_shape)), labels,
                         train=False)
  return model_summary.totals(g), model_summary.totals(d)


@pytest.mark.parametrize('name, g_counts, d_counts', [
    ('mnist_dcgan', (2_305_472, 25_472, 2_330_944), (212_865, 0, 212_865)),
    ('fashion_mnist_dcgan', (2_305_472, 25_472, 2_330_944), (212_865, 0, 212_865)),
    ('folder_dcgan', (34_512_035, 960, 34_512_995), (921_025, 0, 921_025)),
    ('folder_cgan', (34_566_295, 448, 34_566_743), (3_978_165, 0, 3_978_165)),
    # Seed 001's Keras-GAN: the Keras tables of its G and D (BN's moving statistics are
    # Keras' non-trainable parameters).
    ('mnist_keras_gan', (1_489_936, 3_584, 1_493_520), (533_505, 0, 533_505)),
    # SN's u vectors (one per kernel's output width) and σ are statistics, not parameters.
    ('cifar10_hinge_sn', (1_068_928, 896, 1_069_824),
     (662_528, 64 + 128 + 256 + 1 + 4, 662_981)),
])
def test_keras_parameter_counts(name, g_counts, d_counts):
  assert counts(Experiment(config(name))) == (g_counts, d_counts)


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_every_config_builds_with_the_right_shapes(name):
  exp = Experiment(config(name))
  state = jax.eval_shape(exp._init_fn())  # pylint: disable=protected-access
  n = 2
  z = jnp.zeros((n, exp.config.model.latent_dim))
  labels = jnp.zeros((n,), jnp.int32) if exp.num_classes else None
  g_vars = {'params': state.g_params, 'batch_stats': state.g_batch_stats}
  out = jax.eval_shape(lambda v: exp.generator.apply(v, z, labels, train=False), g_vars)
  assert out.shape == (n, *exp.image_shape)
  d_vars = {'params': state.d_params, 'batch_stats': state.d_batch_stats}
  logits = jax.eval_shape(lambda v, x: exp.discriminator.apply(v, x, labels, train=False),
                          d_vars, out)
  assert logits.shape == (n, 1 + (exp.num_classes if exp.acgan else 0))


@pytest.mark.parametrize('name, sizes', [
    ('folder_dcgan', (32, 64, 128, 256)), ('folder_cgan', (32, 64, 128, 256)),
    ('folder_dcgan64', (32, 64, 128, 256)), ('mnist_dcgan', (28,)), ('mnist_cgan', (28,))])
def test_output_shapes_at_each_size(name, sizes):
  for size in sizes:
    c = config(name)
    if c.data.name == 'folder':
      c.data.image_size = size
    exp = Experiment(c)
    state = jax.eval_shape(exp._init_fn())  # pylint: disable=protected-access
    labels = jnp.zeros((3,), jnp.int32) if exp.num_classes else None
    out = jax.eval_shape(lambda p, s: exp.generator.apply(
        {'params': p, 'batch_stats': s}, jnp.zeros((3, c.model.latent_dim)), labels,
        train=False), state.g_params, state.g_batch_stats)
    assert out.shape == (3, size, size, c.data.channels if c.data.name == 'folder' else 1)


@pytest.mark.parametrize('name', ['mnist_cgan', 'mnist_mlp_cgan', 'cifar10_cgan'])
def test_conditional_generator_output_depends_on_label(name):
  exp = Experiment(config(name), devices=jax.devices()[:1])
  state = exp.init_state()
  z = jnp.tile(jax.random.normal(jax.random.PRNGKey(0), (1, exp.config.model.latent_dim)),
               (2, 1))
  out = exp.generator.apply({'params': state.g_params, 'batch_stats': state.g_batch_stats},
                            z, jnp.array([3, 7]), train=False)
  assert float(jnp.abs(out[0] - out[1]).mean()) > 1e-4
  d_out = exp.discriminator.apply(
      {'params': state.d_params, 'batch_stats': state.d_batch_stats},
      jnp.tile(out[:1], (2, 1, 1, 1)), jnp.array([3, 7]), train=False)
  assert not np.allclose(d_out[0], d_out[1])
