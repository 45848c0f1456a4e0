"""The train step with modern objectives: losses, regularizers, spectral norm and
augmentation keep the stop-gradient invariants and the documented semantics (lazy R1,
clipping, ADA's p, relativistic batches). Their parallel equivalences, resume bit-identity
and vectorized seeds are tested with the rest of those (parallel_test, train_test,
sweep_test: conftest.with_objectives)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_adam_close, train_chunk, write_cifar_bins
from ganjax import run_config
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.parallel import preprocess

ALL_OPS = 'color,translation,cutout'


def _equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _run(config, devices, steps=3):
  """`steps` steps in one chunk from the seed's init: (host state, host metrics)."""
  return train_chunk(config, devices, steps, unroll=None)


def _modern(c, loss='hinge'):
  """hinge + SN in D + R1 + DiffAugment (every op) on a config."""
  c.loss.name = loss
  c.model.discriminator.spectral_norm = True
  c.reg.r1 = 1.0
  c.augment.policy = ALL_OPS
  return c


def _tiny_radford(tmp_path):
  """cifar10_dcgan shrunk: BatchNorm in G and D, so every kind of statistic is present."""
  from configs import cifar10_dcgan  # pylint: disable=g-import-not-at-top
  c = cifar10_dcgan.get_config()
  c.batch_size = 8
  c.model.latent_dim = 8
  c.model.generator.base_features = c.model.discriminator.base_features = 4
  c.data.dir = write_cifar_bins(str(tmp_path / 'cifar'), per_file=8)
  return c


def test_g_step_writes_nothing_of_d_with_every_regularizer_on(tmp_path):
  c = _tiny_radford(tmp_path)
  c.model.generator.spectral_norm = c.model.discriminator.spectral_norm = True
  c.reg.update(gp=10.0, r1=1.0, r2=1.0, lecam=0.1, lecam_start=0)
  c.augment.update(policy=ALL_OPS, adaptive=True, p=0.5)
  exp = Experiment(c, devices=jax.devices()[:1])
  fns, state = exp.step_fns(), exp.init_state()
  assert any('SpectralNorm' in k for k in state.d_batch_stats)
  assert any('BatchNorm' in k for k in state.d_batch_stats)
  real = preprocess(jnp.asarray(exp.load_dataset().images[:8]))
  after_d, (_, _, _, terms) = jax.jit(fns.d_step)(state, real, None, jax.random.PRNGKey(0))
  assert set(terms) == {'gp', 'r1', 'r2', 'lecam'}
  assert _equal((after_d.g_params, after_d.g_batch_stats, after_d.g_opt_state),
                (state.g_params, state.g_batch_stats, state.g_opt_state))
  assert not _equal(after_d.d_batch_stats, state.d_batch_stats)   # BN and u moved
  after_g, _ = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1))
  assert _equal((after_g.d_params, after_g.d_batch_stats, after_g.d_opt_state,
                 after_g.lecam_ema, after_g.ada),
                (after_d.d_params, after_d.d_batch_stats, after_d.d_opt_state,
                 after_d.lecam_ema, after_d.ada))
  assert not _equal(after_g.g_params, after_d.g_params)
  assert not _equal(after_g.g_batch_stats, after_d.g_batch_stats)   # G's BN and u


def test_adaptive_p_at_zero_is_the_plain_step(small_config):
  plain, _ = _run(small_config, jax.devices()[:1], steps=1)
  small_config.augment.update(policy=ALL_OPS, adaptive=True, p=0.0)
  augmented, metrics = _run(small_config, jax.devices()[:1], steps=1)
  # Equal up to float rounding: the two programs fuse differently (the augmentations'
  # p = 0 selects stay in the graph), and Adam can turn a rounding difference in a
  # near-zero gradient into a step of up to lr.
  assert_adam_close((plain.g_params, plain.d_params),
                    (augmented.g_params, augmented.d_params), steps=1)
  assert metrics['augment_p'][0] == 0.0 and 'ada_rt' in metrics


@pytest.mark.parametrize('loss', ['bce', 'hinge', 'wasserstein', 'least_squares',
                                  'relativistic'])
def test_one_g_step_raises_ds_score_of_the_fakes(small_config, loss):
  small_config.loss.name = loss
  small_config.model.discriminator.dropout = 0.0
  exp = Experiment(small_config, devices=jax.devices()[:1])
  fns, state = exp.step_fns(), exp.init_state()
  real = preprocess(jnp.asarray(exp.load_dataset().images[:16]))
  key = jax.random.PRNGKey(5)
  z = jax.random.normal(jax.random.split(jax.random.split(key)[0])[0], (16, 8))

  def score(s):
    fake = exp.generator.apply({'params': s.g_params}, z, train=True)
    return float(jnp.mean(exp.discriminator.apply({'params': s.d_params}, fake, train=False)))

  after, _ = jax.jit(fns.g_step)(state, key, real)
  assert score(after) > score(state)


def test_fused_lazy_r1_is_k_times_the_penalty_every_k_d_updates(small_config):
  """reg.lazy='fused' (ganjax before StyleGAN2's own Dreg step): k times the penalty
  in the loss of every k-th D update; own_step is in lazy_regularization_test."""
  small_config.reg.update(r1=2.0, lazy='fused')
  _, eager = _run(small_config, jax.devices()[:1], steps=1)
  small_config.reg.r1_every = 3
  lazy_state, lazy = _run(small_config, jax.devices()[:1], steps=4)
  np.testing.assert_allclose(lazy['r1'][0], 3 * eager['r1'][0], rtol=1e-5)
  assert lazy['r1'][1] == lazy['r1'][2] == 0.0 and lazy['r1'][3] > 0
  # The penalty's value is γ/2 E||∇D(x)||², recomputed by hand for step 0's batch.
  exp = Experiment(small_config, devices=jax.devices()[:1])
  state = exp.init_state()
  dataset = exp.load_dataset()
  real = preprocess(jnp.asarray(dataset.images[exp.sampler(dataset.num_examples).indices(0, 1)[0, 0]]))
  key = jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0)
  d_fn = lambda x: exp.discriminator.apply({'params': state.d_params}, x, train=True,
                                           rngs={'dropout': jax.random.fold_in(key, 0xA4)})
  grads = jax.grad(lambda x: jnp.sum(d_fn(x)))(real)
  np.testing.assert_allclose(eager['r1'][0], float(jnp.mean(jnp.sum(grads ** 2, (1, 2, 3)))),
                             rtol=1e-4)
  assert int(lazy_state.step) == 4


def test_weight_clipping_and_rmsprop(small_config):
  small_config.loss.update(name='wasserstein', clip=0.01)
  small_config.optimizer.d.name = small_config.optimizer.g.name = 'rmsprop'
  small_config.optimizer.d.learning_rate = 5e-5
  state, metrics = _run(small_config, jax.devices()[:1], steps=2)
  leaves = jax.tree.leaves(state.d_params)
  assert max(float(np.abs(x).max()) for x in leaves) <= 0.01
  assert np.allclose(metrics['d_loss'], metrics['d_fake'] - metrics['d_real'], atol=1e-5)


def test_relativistic_reads_a_real_batch_for_g_and_separate_batches_take_every_reg(
    small_config):
  small_config.loss.name = 'relativistic'
  small_config.d_steps = 2
  exp = Experiment(small_config)
  assert exp.batches_per_step == 3
  assert exp.sampler(100).indices(0, 2).shape == (2, 3, 16)
  state, metrics = _run(small_config, jax.devices()[:1], steps=2)
  assert np.isfinite(metrics['g_loss']).all() and int(state.d_opt_state[0].count) == 4
  small_config.loss.name = 'hinge'
  small_config.d_batch = 'separate'
  small_config.reg.update(gp=1.0, r1=1.0, r2=1.0, lecam=0.1, lecam_start=0)
  state, metrics = _run(small_config, jax.devices()[:1], steps=2)
  assert all(np.all(metrics[k] > 0) for k in ('gp', 'r1', 'r2'))
  assert int(state.d_opt_state[0].count) == 8   # 2 steps x 2 D steps x (real + fake)


def test_simultaneous_and_conditional_steps_take_the_regularizers(small_config):
  small_config.updates = 'simultaneous'
  small_config.reg.update(gp=10.0, r1=1.0, lecam=0.1, lecam_start=0)
  small_config.augment.policy = 'translation'
  state, metrics = _run(small_config, jax.devices()[:1], steps=2)
  assert int(state.d_opt_state[0].count) == int(state.g_opt_state[0].count) == 2
  assert all(np.all(np.isfinite(metrics[k])) for k in ('gp', 'r1', 'lecam', 'd_loss'))
  from configs import mnist_mlp_cgan  # pylint: disable=g-import-not-at-top
  c = mnist_mlp_cgan.get_config()
  c.update(batch_size=16, data=small_config.data)
  c.model.latent_dim = 8
  _modern(c).reg.gp = 10.0
  c.d_steps = 2
  state, metrics = _run(c, jax.devices()[:1], steps=2)
  assert np.all(metrics['gp'] > 0) and int(state.step) == 2


@pytest.mark.parametrize('field,value,message', [
    ('loss.name', 'wgan', "loss.name='wgan' is not one of"),
    ('reg.gp', -10.0, 'reg.gp must be a number >= 0'),
    ('reg.lecam', -1, 'reg.lecam must be a number >= 0'),
    ('augment.p', 1.5, 'augment.p is a probability'),
    ('augment.policy', 'color,flip', "unknown augmentation op(s) ['flip']"),
    ('reg.r1_every', 0, 'reg.r1_every must be an integer >= 1'),
    ('loss.relativistic', 'both', "loss.relativistic='both' is not one of"),
    ('optimizer.d.name', 'sgd', "optimizer.d.name='sgd' is not one of"),
])
def test_bad_objective_values_are_one_line_errors_naming_the_field(small_config, field, value,
                                                                   message):
  *parents, leaf = field.split('.')
  node = small_config
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(GanjaxError) as e:
    run_config.validate(small_config)
  assert message in str(e.value) and '\n' not in str(e.value)
  assert f'--config.{field}' in str(e.value)


@pytest.mark.parametrize('overrides,message', [
    ({'augment.adaptive': True, 'augment.policy': 'color', 'augment.p': 1.0},
     'ADA starts at 0: drop --config.augment.p'),
    ({'augment.adaptive': True, 'augment.policy': 'color', 'augment.p': 1.5},
     'augment.p is a probability'),
    ({'augment.p': -0.5, 'augment.policy': 'color'}, 'must be in [0, 1], got -0.5'),
    ({'augment.adaptive': True, 'augment.p': 0.0}, 'augment.policy, which is empty'),
    ({'fakes_for_d': 'inference', 'updates': 'simultaneous'}, 'updates=alternating'),
    ({'augment.policy': ('color',)}, 'one comma-separated string'),
    ({'loss.name': 'relativistic', 'd_batch': 'separate'}, 'd_batch=combined'),
    ({'loss.ls_a': 'zero'}, 'loss.ls_a must be a number'),
])
def test_bad_objective_combinations_are_one_line_errors(small_config, overrides, message):
  """(A config file may give any type; a plain dict stands in for it.)"""
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = small_config.to_dict()
  for name, value in overrides.items():
    group, _, leaf = name.rpartition('.')
    (config[group] if group else config)[leaf] = value
  with pytest.raises(GanjaxError) as e:
    run_config.validate(ml_collections.ConfigDict(config))
  assert message in str(e.value) and '\n' not in str(e.value)


def test_ada_starts_at_0_by_default_and_at_an_explicit_p(small_config):
  """augment.p's default (AUTO_P) is 0 with adaptive, 1 without; an explicit p holds."""
  small_config.augment.policy = ALL_OPS
  run_config.validate(small_config)
  assert Experiment(small_config).step_config().aug.p == 1.0
  small_config.augment.adaptive = True
  run_config.validate(small_config)
  exp = Experiment(small_config)
  assert float(exp.init_state().ada['p']) == 0.0 and exp.step_config().aug.p == 0.0
  small_config.augment.p = 0.2
  assert float(Experiment(small_config).init_state().ada['p']) == np.float32(0.2)


def test_workdirs_resume_across_the_p_default(small_config, tmp_path):
  """config.json with p stored explicitly (1.0 before AUTO_P, or an ADA start) resumes
  under today's default when it trained the same p, and only then."""
  import json  # pylint: disable=g-import-not-at-top
  small_config.augment.policy = ALL_OPS
  for adaptive, stored in ((False, 1.0), (True, 0.0)):
    small_config.augment.update(adaptive=adaptive, p=-1.0)
    old = json.loads(small_config.to_json_best_effort())
    old['augment']['p'] = stored
    (tmp_path / 'config.json').write_text(json.dumps(old))
    run_config.save_or_check(small_config, str(tmp_path), write=False)
  small_config.augment.p = 0.2
  with pytest.raises(GanjaxError, match="augment.p: 0.0 -> 0.2"):
    run_config.save_or_check(small_config, str(tmp_path), write=False)


def test_a_sweep_grid_parses_p_as_a_float(small_config):
  from ganjax import sweep  # pylint: disable=g-import-not-at-top
  small_config.augment.update(policy=ALL_OPS, adaptive=True)
  grid = sweep.parse_grid(small_config, ['augment.p=0.1,0.2'])
  assert grid == {'augment.p': [0.1, 0.2]}
  point = sweep.apply(small_config, {'augment.p': 0.1}, 0)
  run_config.validate(point)
  assert float(Experiment(point).init_state().ada['p']) == np.float32(0.1)


def test_penalties_with_batchnorm_in_d_are_warned_about(tmp_path):
  c = _tiny_radford(tmp_path)   # BN in D
  assert Experiment(c).warnings() == []
  c.reg.update(gp=10.0, r1=1.0)
  assert 'reg.gp, reg.r1 with BatchNorm in D' in Experiment(c).warnings()[0]
  c.model.discriminator.batch_norm = False   # as cifar10_wgan_gp
  assert Experiment(c).warnings() == []


def test_lazy_r1_stays_a_branch_when_seeds_are_vmapped(small_config):
  """--vectorize vmaps the step over seeds: the lazy penalty's predicate is the seeds' max
  step (unbatched), so XLA gets a real conditional, not a select computing both sides."""
  from ganjax import vectorized  # pylint: disable=g-import-not-at-top
  small_config.reg.update(r1=1.0, r1_every=4)
  exp = Experiment(small_config, devices=jax.devices()[:1])
  step = exp.step_fns(seed_axis=vectorized.SEED_AXIS).train_step
  states = jax.tree.map(lambda x: jnp.stack([x, x]), exp.init_state())
  images = jnp.zeros((2, 1, 16, 28, 28, 1))
  jaxpr = str(jax.make_jaxpr(jax.vmap(step, axis_name=vectorized.SEED_AXIS))(states, images))
  assert 'cond[' in jaxpr and 'pmax' in jaxpr


def test_a_checkpoint_from_before_the_new_state_fields_restores(small_config, tmp_path):
  """A state saved without lecam_ema / ada (as runs before them saved it) restores into
  today's state, the new empty fields left empty."""
  import flax  # pylint: disable=g-import-not-at-top

  @flax.struct.dataclass
  class OldState:
    step: jax.Array
    rng: jax.Array
    g_params: dict
    d_params: dict
    g_batch_stats: dict
    d_batch_stats: dict
    g_opt_state: tuple
    d_opt_state: tuple
    g_ema_params: dict

  exp = Experiment(small_config, devices=jax.devices()[:1])
  state = exp.init_state().replace(step=jnp.asarray(7, jnp.int32))
  old = OldState(**{k: getattr(state, k) for k in OldState.__dataclass_fields__})
  ckpt = Checkpointer(str(tmp_path))
  ckpt.save(7, old)
  ckpt.close()
  restored, step = Checkpointer(str(tmp_path)).restore(exp.abstract_state())
  assert step == 7 and int(restored.step) == 7
  assert restored.lecam_ema == {} and restored.ada == {}
  assert _equal(restored.g_params, state.g_params)
  assert not os.path.exists(tmp_path / 'corrupt_checkpoints')


def test_a_workdir_from_before_the_new_config_fields_resumes(small_config, tmp_path):
  """config.json of a run from before loss.name, reg.*, augment.*, spectral_norm, ...:
  the fields it lacks read as their defaults, so today's same config resumes it."""
  import json  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  old = json.loads(small_config.to_json_best_effort())
  for group in ('reg', 'augment'):
    del old[group]
  for name in ('name', 'relativistic', 'ls_a', 'ls_b', 'ls_c', 'clip'):
    del old['loss'][name]
  for name in ('fakes_for_d', 'sample_grid'):
    del old[name]
  del old['data']['sampling']
  for net in ('generator', 'discriminator'):
    del old['model'][net]['spectral_norm']
    del old['optimizer'][net[0]]['name']
  (tmp_path / 'config.json').write_text(json.dumps(old))
  run_config.save_or_check(small_config, str(tmp_path), write=False)
  run_config.validate(ml_collections.ConfigDict(old))
  small_config.loss.name = 'hinge'
  with pytest.raises(GanjaxError, match="loss.name: 'bce' -> 'hinge'"):
    run_config.save_or_check(small_config, str(tmp_path), write=False)
