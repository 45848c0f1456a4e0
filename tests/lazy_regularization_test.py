"""Lazy R1/R2 as StyleGAN2 runs it (reg.lazy='own_step', the default): every k-th D
update is followed by an update of its own on k times the penalty, and D's Adam takes
lr * c and betas ** c, c = k / (k + 1). reg.lazy='fused' keeps the penalty in the main
update with the optimizer as configured (objectives_test)."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from ganjax import run_config
from ganjax.objectives import regularizers as regs
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.objectives import step as step_lib
from ganjax.optimizers import lazy_ratio, make_optimizer
from ganjax.parallel import preprocess


def _adam(lr=2e-4, b1=0.5, b2=0.999):
  return ml_collections.ConfigDict(dict(learning_rate=lr, b1=b1, b2=b2))


def _apply(tx, grads, params, times=3):
  state = tx.init(params)
  for _ in range(times):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params


def test_the_optimizer_correction_is_stylegan2s_mb_ratio():
  assert lazy_ratio(1) == 1.0 and lazy_ratio(16) == 16 / 17 and lazy_ratio(4) == 0.8
  params, grads = {'w': jnp.arange(4.0)}, {'w': jnp.array([0.3, -1.0, 2.0, 1e-3])}
  c = 16 / 17
  got = _apply(make_optimizer(_adam(), lazy_interval=16), grads, params)
  want = _apply(optax.adam(2e-4 * c, b1=0.5 ** c, b2=0.999 ** c), grads, params)
  np.testing.assert_array_equal(got['w'], want['w'])
  plain = _apply(make_optimizer(_adam(), lazy_interval=1), grads, params)
  np.testing.assert_array_equal(plain['w'], _apply(optax.adam(2e-4, 0.5, 0.999), grads,
                                                   params)['w'])
  assert not np.array_equal(got['w'], plain['w'])


def _lazy_experiment(config, lazy):
  config.reg.update(r1=2.0, r1_every=3, lazy=lazy)
  config.model.discriminator.dropout = 0.0
  exp = Experiment(config, devices=jax.devices()[:1])
  real = preprocess(jnp.asarray(exp.load_dataset().images[:16]))
  return exp, exp.init_state(), real


def test_own_step_is_the_main_update_then_k_times_r1_in_an_update_of_its_own(small_config):
  exp, state, real = _lazy_experiment(small_config, 'own_step')
  key = jax.random.PRNGKey(3)
  got, (_, _, _, terms) = jax.jit(exp.step_fns().d_step)(state, real, None, key, 0)
  # By hand: the main update without R1 (the same corrected optimizer), then one Adam
  # step on the gradient of 3 * R1 at the updated params, with R1's own key streams.
  cfg = exp.step_config()
  main_cfg = cfg.__class__(**{**cfg.__dict__, 'reg': regs.RegConfig(r1_every=3)})
  ctx = step_lib.Context(main_cfg, exp.generator, exp.discriminator, exp.g_tx, exp.d_tx,
                         lambda x: x)
  after_main, _ = jax.jit(lambda s: step_lib.d_update(ctx, s, real, None, key, 0))(state)
  keys = step_lib.streams(key, 'd')

  def lazy_r1(d_params):
    d_fn = lambda x: exp.discriminator.apply(
        {'params': d_params, 'batch_stats': after_main.d_batch_stats}, x, None, train=True,
        mutable=['batch_stats'], rngs={'dropout': keys['r1_drop']})[0]
    return 3 * regs.r1_penalty(d_fn, real, gamma=2.0)

  r1, grads = jax.jit(jax.value_and_grad(lazy_r1))(after_main.d_params)
  updates, _ = exp.d_tx.update(grads, after_main.d_opt_state, after_main.d_params)
  want = optax.apply_updates(after_main.d_params, updates)
  for a, b in zip(jax.tree.leaves(got.d_params), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(terms['r1'], r1, rtol=1e-5)
  # D's statistics (spectral norm's u, BN) are the main update's, not the lazy pass's.
  for a, b in zip(jax.tree.leaves(got.d_batch_stats), jax.tree.leaves(after_main.d_batch_stats)):
    np.testing.assert_array_equal(a, b)
  # Adam counted two updates.
  counts = [x for x in jax.tree.leaves(got.d_opt_state) if x.dtype == jnp.int32]
  assert counts and all(int(c) == 2 for c in counts)


def test_own_step_skips_the_penalty_between_its_updates(small_config):
  exp, state, real = _lazy_experiment(small_config, 'own_step')
  key = jax.random.PRNGKey(3)
  got, (_, _, _, terms) = jax.jit(exp.step_fns().d_step)(state, real, None, key, 1)
  assert float(terms['r1']) == 0.0
  counts = [x for x in jax.tree.leaves(got.d_opt_state) if x.dtype == jnp.int32]
  assert all(int(c) == 1 for c in counts)


def test_fused_and_own_step_differ_only_where_the_penalty_runs(small_config):
  fused_exp, state, real = _lazy_experiment(small_config, 'fused')
  own_exp, _, _ = _lazy_experiment(small_config, 'own_step')
  key = jax.random.PRNGKey(3)
  # Not due (n = 1): the same main update; only the optimizer's correction differs.
  a, _ = jax.jit(fused_exp.step_fns().d_step)(state, real, None, key, 1)
  b, _ = jax.jit(own_exp.step_fns().d_step)(state, real, None, key, 1)
  assert not np.array_equal(jax.tree.leaves(a.d_params)[0], jax.tree.leaves(b.d_params)[0])
  # Fused keeps D's optimizer as configured: Adam's plain lr.
  d = small_config.optimizer.d
  grads = {'w': jnp.ones(2)}
  np.testing.assert_array_equal(
      _apply(fused_exp.d_tx, grads, {'w': jnp.zeros(2)})['w'],
      _apply(optax.adam(d.learning_rate, d.b1, d.b2), grads, {'w': jnp.zeros(2)})['w'])


def _old_workdir(config, path):
  """A config.json as runs before reg.lazy saved it."""
  import json  # pylint: disable=g-import-not-at-top
  flat = json.loads(config.to_json_best_effort())
  del flat['reg']['lazy']
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, 'config.json'), 'w') as f:
    json.dump(flat, f)


def test_a_workdir_from_before_own_step_resumes_as_it_trained(small_config, tmp_path):
  small_config.reg.update(r1=1.0, r1_every=4)
  _old_workdir(small_config, str(tmp_path / 'lazy'))
  with pytest.raises(GanjaxError, match="reg.lazy: 'fused' -> 'own_step'"):
    run_config.save_or_check(small_config, str(tmp_path / 'lazy'), write=False)
  small_config.reg.lazy = 'fused'
  run_config.save_or_check(small_config, str(tmp_path / 'lazy'), write=False)
  # Without a lazy penalty the choice changes nothing: old workdirs resume as they are.
  small_config.reg.update(r1_every=1, lazy='own_step')
  _old_workdir(small_config, str(tmp_path / 'eager'))
  run_config.save_or_check(small_config, str(tmp_path / 'eager'), write=False)


def test_a_typo_in_reg_lazy_is_refused(small_config):
  small_config.reg.lazy = 'fuse'
  with pytest.raises(GanjaxError, match='reg.lazy'):
    run_config.validate(small_config)
