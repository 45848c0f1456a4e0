"""MSGAN's mode-seeking term (reg.mode_seeking): its value by hand, the pairs of fakes it
reads (one label, two latents), its gradient in G's update, and the same run on 8 devices."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import assert_adam_close, train_chunk
from ganjax.errors import GanjaxError
from ganjax.objectives import losses, regularizers as regs, step
from ganjax.parallel import check_batch
from ganjax.state import GANState


def test_penalty_by_hand():
  fake = np.random.default_rng(0).uniform(-1, 1, (6, 3, 3, 1)).astype(np.float32)
  z = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
  lz = (np.mean([np.abs(fake[i] - fake[i + 1]).mean() for i in (0, 2, 4)])
        / np.mean([np.abs(z[i] - z[i + 1]).mean() for i in (0, 2, 4)]))
  got = regs.mode_seeking_penalty(jnp.asarray(fake), jnp.asarray(z), weight=0.5)
  np.testing.assert_allclose(got, 0.5 / (lz + 1e-5), rtol=1e-5)


class TinyG(nn.Module):
  """Images [B, 2, 2, 1] from z alone (labels ignored: both runs see the same fakes)."""
  @nn.compact
  def __call__(self, z, labels, train=True):
    return jnp.tile(jnp.tanh(nn.Dense(1)(z))[:, None, None, :], (1, 2, 2, 1))


class TinyD(nn.Module):
  @nn.compact
  def __call__(self, x, labels, train=True):
    return nn.Dense(1)(x.reshape((x.shape[0], -1)))


def _g_update(weight, lr=0.1, updates='alternating'):
  """One G update (alternating, or the simultaneous step) with SGD(lr): (G, its params
  before, the state after, the update's z and labels, G's terms)."""
  cfg = step.StepConfig(latent_dim=3, global_batch=8, num_classes=5,
                        loss=losses.LossConfig(name='bce'),
                        reg=regs.RegConfig(mode_seeking=weight))
  g, d = TinyG(), TinyD()
  g_params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), None)['params']
  d_params = d.init(jax.random.PRNGKey(1), jnp.zeros((1, 2, 2, 1)), None)['params']
  tx = optax.sgd(lr)
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(2),
                   g_params=g_params, d_params=d_params, g_batch_stats={}, d_batch_stats={},
                   g_opt_state=tx.init(g_params), d_opt_state=tx.init(d_params))
  ctx = step.Context(cfg, g, d, tx, tx, lambda x: x)
  key = jax.random.PRNGKey(3)
  z, labels = step.g_fakes(ctx, step.streams(key, 'g' if updates == 'alternating' else 'd')[
      'fakes'])
  if updates == 'alternating':
    after, (_, terms) = step.g_update(ctx, state, key)
  else:
    real = jnp.zeros((8, 2, 2, 1))
    after, _, (_, terms) = step.simultaneous_update(ctx, state, real, jnp.arange(8) % 5, key)
  return g, g_params, after, z, labels, terms


def test_pairs_share_a_label_and_not_a_latent():
  _, _, _, z, labels, _ = _g_update(1.0)
  np.testing.assert_array_equal(labels[0::2], labels[1::2])
  assert len(np.unique(labels)) > 1 and np.all(np.abs(z[0::2] - z[1::2]).sum(-1) > 0)
  _, _, _, _, unpaired, terms = _g_update(0.0)
  assert not np.array_equal(unpaired[0::2], unpaired[1::2]) and not terms


@pytest.mark.parametrize('updates', ['alternating', 'simultaneous'])
def test_g_update_adds_the_terms_gradient(updates):
  """SGD: G's update with the term minus the one without is -lr * its gradient, written
  here from MSGAN's formula; D's update is the same."""
  lr, weight = 0.1, 0.7
  g, params, on, z, _, terms = _g_update(weight, lr, updates)
  _, _, off, _, _, _ = _g_update(0.0, lr, updates)

  def by_hand(p):
    x = g.apply({'params': p}, z, None)
    lz = jnp.mean(jnp.abs(x[::2] - x[1::2])) / jnp.mean(jnp.abs(z[::2] - z[1::2]))
    return weight / (lz + 1e-5)

  want = jax.tree.map(lambda a: -lr * a, jax.grad(by_hand)(params))
  got = jax.tree.map(jnp.subtract, on.g_params, off.g_params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(terms['g_mode_seeking'], by_hand(params), rtol=1e-5)
  assert jax.tree.all(jax.tree.map(np.array_equal, on.d_params, off.d_params))


@pytest.mark.parametrize('updates', ['alternating', 'simultaneous'])
def test_eight_devices_equal_one_device(small_config, updates):
  """Pairs stay on one device: jit and pmap on 8 devices compute the 1-device run."""
  c = small_config
  c.model.conditional, c.model.discriminator.dropout = True, 0.0
  c.reg.mode_seeking, c.updates = 1.0, updates
  one, m1 = train_chunk(c, jax.devices()[:1], 3)
  assert np.all(m1['g_mode_seeking'] > 0)
  for mode in ('jit', 'pmap'):
    c.parallel = mode
    eight, m8 = train_chunk(c, jax.devices(), 3)
    assert_adam_close((one.g_params, one.d_params), (eight.g_params, eight.d_params))
    np.testing.assert_allclose(m1['g_mode_seeking'], m8['g_mode_seeking'], rtol=1e-4)


def test_odd_pairs_per_device_and_real_labels_are_refused(small_config):
  with pytest.raises(GanjaxError, match='multiple of 16'):
    check_batch(24, 24, 8, pairs=True)
  check_batch(32, 32, 8, pairs=True)
  from ganjax import run_config  # pylint: disable=g-import-not-at-top
  small_config.reg.mode_seeking, small_config.fake_labels = 1.0, 'real'
  with pytest.raises(GanjaxError, match='fake_labels=real'):
    run_config.validate(small_config)
