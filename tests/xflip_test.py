"""data.xflip (the official --mirror): each real mirrored left-right with probability 1/2,
from the update's own stream, the same rows under pmap as in the global program."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

from ganjax.objectives import step

X = jnp.asarray(np.random.default_rng(0).normal(size=(64, 4, 5, 2)), jnp.float32)


def _cfg(**kw):
  return step.StepConfig(latent_dim=2, global_batch=64, xflip=True, **kw)


def test_each_real_is_itself_or_its_mirror_about_half_each():
  out = np.asarray(step.mirrored(_cfg(), X, jax.random.PRNGKey(0)))
  same = np.all(out == np.asarray(X), axis=(1, 2, 3))
  flipped = np.all(out == np.asarray(X)[:, :, ::-1], axis=(1, 2, 3))
  assert np.all(same | flipped)
  assert 20 <= flipped.sum() <= 44
  other = np.asarray(step.mirrored(_cfg(), X, jax.random.PRNGKey(1)))
  assert not np.array_equal(out, other)


def test_off_is_the_identity():
  cfg = step.StepConfig(latent_dim=2, global_batch=64)
  assert step.mirrored(cfg, X, jax.random.PRNGKey(0)) is X


def test_pmap_rows_equal_the_global_draw():
  devices = jax.devices()[:8]
  n = len(devices)
  key = jax.random.PRNGKey(3)
  want = step.mirrored(_cfg(), X, key)
  mesh = Mesh(np.array(devices), ('data',))
  per_device = jax.shard_map(lambda x: step.mirrored(_cfg(axis_name='data'), x, key),
                             mesh=mesh, in_specs=P('data'), out_specs=P('data'))
  np.testing.assert_array_equal(jax.jit(per_device)(X), want)
  assert X.shape[0] % n == 0
