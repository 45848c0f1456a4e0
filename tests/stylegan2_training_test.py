"""StyleGAN2-ADA in the train step (configs/cifar10_stylegan2.py shrunk): the logistic
loss with lazy R1 in its own update, G's noise and w_avg, path length regularization in
G's own update; each update writes only its own network (w_avg moves in G updates only),
path lengths equal finite differences, 8 devices equal 1 under jit, a resumed run is
bit-identical, and experiments.summary prints the official counts. (The networks
against the official code: stylegan2_test.py.)"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_adam_close, train_chunk, write_cifar_bins
from ganjax import train
from ganjax.experiment import Experiment
from ganjax.objectives import step as step_lib
from ganjax.errors import GanjaxError
from ganjax.parallel import check_batch, preprocess


def tiny_stylegan2(tmp_path, conditional=True):
  """cifar10_stylegan2 at channels 2..16, w 16, batch 8, on tiny CIFAR binaries."""
  from configs import cifar10_stylegan2  # pylint: disable=g-import-not-at-top
  c = cifar10_stylegan2.get_config(conditional)
  c.batch_size, c.num_steps, c.steps_per_dispatch = 8, 6, 2
  c.log_every = c.sample_every = c.checkpoint_every = 2
  c.report = False
  c.model.latent_dim = 16
  c.model.generator.update(w_dim=16, channel_base=64, channel_max=16)
  c.model.discriminator.update(channel_base=64, channel_max=16, mbstd_group_size=4,
                               mapping_layers=2)
  c.reg.r1_every = 2
  c.ema_kimg = 0.1
  c.data.dir = write_cifar_bins(str(tmp_path / 'cifar'), per_file=8)
  return c


def _same(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


@pytest.mark.slow
def test_each_update_writes_only_its_own_network(tmp_path):
  exp = Experiment(tiny_stylegan2(tmp_path), devices=jax.devices()[:1])
  state, fns = exp.init_state(), exp.step_fns()
  dataset = exp.load_dataset()
  real = preprocess(jnp.asarray(dataset.images[:8]))
  labels = jnp.asarray(dataset.labels[:8], jnp.int32)
  after_d, (_, _, _, terms) = jax.jit(fns.d_step)(state, real, labels, jax.random.PRNGKey(0))
  assert float(terms['r1']) > 0   # n = 0: the lazy R1 update ran
  assert _same((after_d.g_params, after_d.g_batch_stats), (state.g_params, state.g_batch_stats))
  assert not _same(after_d.d_params, state.d_params)
  after_g, _ = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1), real, labels)
  assert _same(after_g.d_params, after_d.d_params)
  assert not _same(after_g.g_params, after_d.g_params)
  assert not _same(after_g.g_batch_stats, after_d.g_batch_stats)   # w_avg tracked


def with_path_length(c):
  """c with path length regularization every 2 G updates and style mixing on."""
  c.reg.update(pl_weight=2.0, pl_every=2)
  c.model.generator.style_mixing_prob = 0.9
  return c


@pytest.mark.slow
def test_path_length_update_writes_only_g_and_moves_pl_mean(tmp_path):
  exp = Experiment(with_path_length(tiny_stylegan2(tmp_path)), devices=jax.devices()[:1])
  state = exp.init_state()
  ctx = step_lib.Context(exp.step_config(), exp.generator, exp.discriminator, exp.g_tx,
                         exp.d_tx, lambda x: x)
  after, terms = jax.jit(functools.partial(step_lib.g_reg_update, ctx))(
      state, jax.random.PRNGKey(0))
  assert float(terms['pl']) > 0 and float(after.pl_mean) > 0   # step 0: due
  assert _same((after.d_params, after.d_opt_state), (state.d_params, state.d_opt_state))
  assert not _same(after.g_params, state.g_params)
  skipped, terms = jax.jit(functools.partial(step_lib.g_reg_update, ctx))(
      after.replace(step=after.step + 1), jax.random.PRNGKey(0))
  assert float(terms['pl']) == 0 and _same(skipped.g_params, after.g_params)


@pytest.mark.slow
def test_path_length_is_the_noise_weighted_gradient_norm_over_ws(tmp_path):
  """|J_w^T y| = sqrt(mean over ws of |d sum(G(w) y) / dw|^2), y the update's image noise
  / sqrt(HW); that gradient agrees with finite differences along random directions."""
  exp = Experiment(tiny_stylegan2(tmp_path, conditional=False), devices=jax.devices()[:1])
  state = exp.init_state()
  ctx = step_lib.Context(exp.step_config(), exp.generator, exp.discriminator, exp.g_tx,
                         exp.d_tx, lambda x: x)
  keys = step_lib.streams(jax.random.PRNGKey(3), 'g')
  z = jax.random.normal(jax.random.PRNGKey(4), (2, 16))
  lengths, _ = step_lib.path_lengths(ctx, state, state.g_params, z, None, keys)

  @jax.jit
  def dot(dws):   # sum(G(ws + dws) * y), y as path_lengths draws it
    img, _ = step_lib.run_g(ctx, state, state.g_params, z, None, keys,
                            perturbations={'ws': dws})
    y = jax.random.normal(keys['pl_noise'], img.shape) / np.sqrt(img.shape[1] * img.shape[2])
    return jnp.sum(img * y)
  zero = jnp.zeros(exp.generator.ws_shape(2))
  grads = np.asarray(jax.grad(dot)(zero), np.float64)
  np.testing.assert_allclose(lengths, np.sqrt(np.mean(np.sum(grads**2, axis=2), axis=1)),
                             rtol=1e-5)
  eps = 0.05
  for seed in range(3):
    v = jax.random.normal(jax.random.PRNGKey(seed), zero.shape)
    v = v / jnp.linalg.norm(v)
    fd = (float(dot(eps * v)) - float(dot(-eps * v))) / (2 * eps)
    np.testing.assert_allclose(fd, np.sum(grads * np.asarray(v)), rtol=2e-2, atol=1e-3)


def _train(config, devices, steps=2):
  return train_chunk(config, devices, steps, unroll=True)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['jit', 'pmap'])
def test_eight_devices_equal_one_device(tmp_path, mode):
  """G's noise, style mixing, path length noise and ADA's draws are made for the global
  batch from the update's keys (under pmap each device keeps its rows). Minibatch-stddev
  groups a device's own samples under pmap, as the official code per GPU: off there."""
  c = with_path_length(tiny_stylegan2(tmp_path))
  c.augment.p = 0.5   # ADA's 'bgc' (the config's) at work from the start
  if mode == 'pmap':
    c.model.discriminator.mbstd_num_channels = 0
    c.batch_size = 16   # the path length batch, 8, splits over 8 devices
  one, m1 = _train(c, jax.devices()[:1])
  c.parallel = mode
  eight, m8 = _train(c, jax.devices())
  assert_adam_close((one.g_params, one.d_params), (eight.g_params, eight.d_params),
                    lr=c.optimizer.d.learning_rate, steps=2)
  np.testing.assert_allclose(one.pl_mean, eight.pl_mean, rtol=1e-4)
  for name in ('d_loss', 'g_loss', 'r1', 'pl'):
    np.testing.assert_allclose(m1[name], m8[name], rtol=1e-4, atol=2e-5)


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
  c = with_path_length(tiny_stylegan2(tmp_path, conditional=False))
  full = train.train_and_evaluate(c, str(tmp_path / 'full'))
  c.num_steps = 4
  train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  c.num_steps = 6
  resumed = train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  assert _same(jax.device_get(full), jax.device_get(resumed))
  assert (tmp_path / 'full' / 'samples').is_dir()   # sampling draws const noise


@pytest.mark.parametrize('conditional, g, d', [(True, '20,215,315', '23,089,664'),
                                               (False, '19,947,539', '20,720,641')])
def test_summary_prints_the_official_counts(conditional, g, d):
  from configs import cifar10_stylegan2  # pylint: disable=g-import-not-at-top
  text = Experiment(cifar10_stylegan2.get_config(conditional)).summary()
  assert f'trainable: {g} ' in text and f'trainable: {d} ' in text


@pytest.mark.parametrize('classes, g, d', [(0, '22,243,608', '23,407,361'),
                                           (5, '22,508,824', '25,773,824')])
def test_folder_spec_summary_prints_the_official_counts(classes, g, d):
  """configs/folder_stylegan2.py: the official --cfg=auto networks at 64x64."""
  from configs import folder_stylegan2  # pylint: disable=g-import-not-at-top
  c = folder_stylegan2.get_config()
  c.data.num_classes = classes
  text = Experiment(c).summary()
  assert f'trainable: {g} ' in text and f'trainable: {d} ' in text


def test_a_path_length_batch_that_does_not_split_is_a_one_line_error():
  with pytest.raises(GanjaxError, match=r'path length batch .* multiple of 16'):
    check_batch(8, 8, 8, pl_batch=4)
  check_batch(16, 16, 8, pl_batch=8)
