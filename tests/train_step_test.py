"""The train step: stop-gradient invariants, a hand-written reference, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.parallel import preprocess
from ganjax.experiment import Experiment


def _real(exp, n, offset=0):
  dataset = exp.load_dataset()
  return preprocess(jnp.asarray(dataset.images[offset:offset + n]))


def _equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_d_step_moves_only_d_and_g_step_moves_only_g(small_config):
  exp = Experiment(small_config, devices=jax.devices()[:1])
  fns = exp.step_fns()
  state = exp.init_state()
  after_d, *_ = jax.jit(fns.d_step)(state, _real(exp, 16), None, jax.random.PRNGKey(0))
  assert _equal(after_d.g_params, state.g_params)
  assert _equal(after_d.g_opt_state, state.g_opt_state)
  assert not _equal(after_d.d_params, state.d_params)
  after_g, _ = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1))
  assert _equal(after_g.d_params, after_d.d_params)
  assert _equal(after_g.d_opt_state, after_d.d_opt_state)
  assert not _equal(after_g.g_params, after_d.g_params)


@pytest.mark.parametrize('kind', ['non_saturating', 'minimax'])
def test_train_step_matches_hand_written_reference(small_config, kind):
  small_config.loss.generator = kind
  exp = Experiment(small_config, devices=jax.devices()[:1])
  fns = exp.step_fns()
  state = exp.init_state()
  real = _real(exp, 16)
  got, metrics = jax.jit(fns.train_step)(state, real[None])

  # The reference: plain log-sigmoid losses, the same keys as the documented scheme.
  g, d = exp.generator, exp.discriminator
  adam = optax.adam(2e-4, b1=0.5, b2=0.999)
  key = jax.random.fold_in(state.rng, 0)
  k_fake, k_drop_d, _ = jax.random.split(jax.random.fold_in(key, 0), 3)
  z = jax.random.normal(jax.random.split(k_fake)[0], (16, 8))
  fake = g.apply({'params': state.g_params}, z, train=True)
  log_sig = jax.nn.log_sigmoid

  def d_loss(dp):
    logits = d.apply({'params': dp}, jnp.concatenate([real, fake]), train=True,
                     rngs={'dropout': k_drop_d})
    r, f = logits[:16], logits[16:]
    return -(jnp.sum(0.9 * log_sig(r) + 0.1 * log_sig(-r)) + jnp.sum(log_sig(-f))) / 32

  upd, _ = adam.update(jax.grad(d_loss)(state.d_params), adam.init(state.d_params))
  d_params = optax.apply_updates(state.d_params, upd)
  k_fake, k_drop_g = jax.random.split(jax.random.fold_in(key, 1))
  z_g = jax.random.normal(jax.random.split(k_fake)[0], (16, 8))

  def g_loss(gp):
    logits = d.apply({'params': d_params}, g.apply({'params': gp}, z_g, train=True),
                     train=True, rngs={'dropout': k_drop_g})
    return jnp.mean(log_sig(-logits)) if kind == 'minimax' else -jnp.mean(log_sig(logits))

  upd, _ = adam.update(jax.grad(g_loss)(state.g_params), adam.init(state.g_params))
  g_params = optax.apply_updates(state.g_params, upd)
  np.testing.assert_allclose(metrics['d_loss'], d_loss(state.d_params), rtol=1e-5)
  np.testing.assert_allclose(metrics['g_loss'], g_loss(state.g_params), rtol=1e-5)
  for a, b in zip(jax.tree.leaves((got.d_params, got.g_params)),
                  jax.tree.leaves((d_params, g_params))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)   # lr 2e-4: Adam steps ~2e-4
  assert int(got.step) == 1


def test_k_d_steps_and_separate_batches_count_updates(small_config):
  small_config.d_steps = 3
  small_config.d_batch = 'separate'
  exp = Experiment(small_config, devices=jax.devices()[:1])
  fns = exp.step_fns()
  state = exp.init_state()
  real = jnp.stack([_real(exp, 8, 8 * i) for i in range(3)])  # half batches
  new, _ = jax.jit(fns.train_step)(state, real)
  # Adam's step counter: 3 D steps x (real update + fake update); 1 G update.
  assert int(new.d_opt_state[0].count) == 6
  assert int(new.g_opt_state[0].count) == 1
  # The D half equals three explicit d_steps with the documented keys.
  key = jax.random.fold_in(state.rng, 0)
  manual = state
  for i in range(3):
    manual, *_ = fns.d_step(manual, real[i], None, jax.random.fold_in(key, i))
  for a, b in zip(jax.tree.leaves(new.d_params), jax.tree.leaves(manual.d_params)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_same_seed_same_params_other_seed_differs(small_config):
  def run(seed):
    small_config.seed = seed
    exp = Experiment(small_config, devices=jax.devices()[:1])
    step = jax.jit(exp.step_fns().train_step)
    state = exp.init_state()
    real = _real(exp, 16)[None]
    for _ in range(3):
      state, _ = step(state, real)
    return jax.device_get(state)
  a, b, c = run(0), run(0), run(1)
  assert _equal(a, b)
  assert not _equal(a.g_params, c.g_params)


@pytest.mark.parametrize('kind', ['non_saturating', 'minimax'])
def test_simultaneous_step_matches_hand_written_reference(small_config, kind):
  """Seed 004: both gradients at the current params from one forward pass, then both
  updates; G's gradient goes through the pre-update D with the fake call's dropout."""
  small_config.updates = 'simultaneous'
  small_config.loss.generator = kind
  exp = Experiment(small_config, devices=jax.devices()[:1])
  state = exp.init_state()
  real = _real(exp, 16)
  got, metrics = jax.jit(exp.step_fns().train_step)(state, real[None])

  g, d = exp.generator, exp.discriminator
  adam = optax.adam(2e-4, b1=0.5, b2=0.999)
  k_fake, k_drop_r, k_drop_f = jax.random.split(jax.random.fold_in(state.rng, 0), 3)
  z = jax.random.normal(jax.random.split(k_fake)[0], (16, 8))
  log_sig = jax.nn.log_sigmoid
  d_logits = lambda dp, x, k: d.apply({'params': dp}, x, train=True, rngs={'dropout': k})

  def d_loss(dp):
    r = d_logits(dp, real, k_drop_r)
    f = d_logits(dp, g.apply({'params': state.g_params}, z, train=True), k_drop_f)
    return -(jnp.sum(0.9 * log_sig(r) + 0.1 * log_sig(-r)) + jnp.sum(log_sig(-f))) / 32

  def g_loss(gp):
    f = d_logits(state.d_params, g.apply({'params': gp}, z, train=True), k_drop_f)
    return jnp.mean(log_sig(-f)) if kind == 'minimax' else -jnp.mean(log_sig(f))

  d_upd, _ = adam.update(jax.grad(d_loss)(state.d_params), adam.init(state.d_params))
  g_upd, _ = adam.update(jax.grad(g_loss)(state.g_params), adam.init(state.g_params))
  np.testing.assert_allclose(metrics['d_loss'], d_loss(state.d_params), rtol=1e-5)
  np.testing.assert_allclose(metrics['g_loss'], g_loss(state.g_params), rtol=1e-5)
  want = (optax.apply_updates(state.d_params, d_upd), optax.apply_updates(state.g_params, g_upd))
  for a, b in zip(jax.tree.leaves((got.d_params, got.g_params)), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)   # lr 2e-4: Adam steps ~2e-4
  assert int(got.d_opt_state[0].count) == int(got.g_opt_state[0].count) == 1


def test_simultaneous_refuses_k_d_steps(small_config):
  from ganjax import run_config
  from ganjax.errors import GanjaxError
  small_config.updates = 'simultaneous'
  small_config.d_steps = 2
  with pytest.raises(GanjaxError, match='updates=alternating'):
    run_config.validate(small_config)
