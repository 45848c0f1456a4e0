"""fake_labels='real' (R3GAN's training loop): a conditional G's fakes take the labels of
the reals they are paired with, in D updates and in the G update (which then reads a
real batch of its own); 'sampled' draws them; an unconditional model is unaffected."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ganjax.objectives import losses, step
from ganjax.state import GANState


class TinyG(nn.Module):
  @nn.compact
  def __call__(self, z, labels, train=True):
    return jnp.tile(nn.Dense(1)(z)[:, None, None, :], (1, 2, 2, 1))


def _inputs(fake_labels, num_classes=5):
  cfg = step.StepConfig(latent_dim=3, global_batch=8, num_classes=num_classes,
                        fake_labels=fake_labels, loss=losses.LossConfig(name='bce'))
  g = TinyG()
  params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), None)['params']
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(1), g_params=params,
                   d_params={}, g_batch_stats={}, d_batch_stats={}, g_opt_state=None,
                   d_opt_state=None)
  ctx = step.Context(cfg, g, None, None, None, lambda x: x)
  real_labels = jnp.arange(8) % num_classes if num_classes else None
  x = step.d_inputs(ctx, state, jnp.zeros((8, 2, 2, 1)), real_labels,
                    step.streams(jax.random.PRNGKey(2), 'd'))
  return cfg, x, real_labels


def test_real_gives_each_fake_its_paired_reals_label_and_g_a_real_batch():
  cfg, x, real_labels = _inputs('real')
  np.testing.assert_array_equal(x.fake_labels, real_labels)
  assert step.batches_per_step(cfg) == 2


def test_sampled_draws_the_labels():
  cfg, x, real_labels = _inputs('sampled')
  assert not np.array_equal(x.fake_labels, real_labels)
  assert step.batches_per_step(cfg) == 1


def test_unconditional_models_are_unaffected():
  cfg, x, _ = _inputs('real', num_classes=0)
  assert x.fake_labels is None and step.batches_per_step(cfg) == 1
