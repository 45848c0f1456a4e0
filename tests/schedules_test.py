"""Hyper-parameters on a schedule over images seen (ganjax/schedules.py): R3GAN's cosine,
applied where each field acts (Adam's lr and betas, R1's γ), logged, resumed exactly."""

import jax
import ml_collections
import numpy as np
import pytest

from ganjax import schedules, train
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.report import data as report_data


def r3gan_cosine(cur_nimg, base_value, total_nimg, final_value):
  """R3GAN training_loop.cosine_decay_with_warmup without warm-up or hold, by hand."""
  decay = 0.5 * (1 + np.cos(np.pi * cur_nimg / float(total_nimg)))
  value = base_value + (1 - decay) * (final_value - base_value)
  return float(np.where(cur_nimg > total_nimg, final_value, value))


def test_the_cosine_is_r3gans():
  s = schedules.Schedule('reg.r1', start=0.05, end=0.005, images=2e7)
  for images in (0, 1e6, 7.5e6, 2e7, 3e7):
    np.testing.assert_allclose(float(s.at_images(images)),
                               r3gan_cosine(images, 0.05, 2e7, 0.005), rtol=1e-6)


def _scheduled(c, kimg=0.064):
  """small_config (batch 16) with R1 on and three fields on schedules over kimg."""
  c.reg.r1 = 1.0
  c.schedule = ml_collections.ConfigDict(dict(
      reg=dict(r1=dict(end=0.0, kimg=kimg)),
      optimizer=dict(g=dict(learning_rate=dict(end=0.0, kimg=kimg)),
                     d=dict(b2=dict(end=0.9, kimg=kimg)))))
  return c


def test_scheduled_values_are_logged_and_act(small_config, tmp_path):
  c = _scheduled(small_config)   # 64 images: 4 steps of 16
  c.log_every = 1
  train.train_and_evaluate(c, str(tmp_path))
  rows = report_data.read_metrics(str(tmp_path / 'metrics.jsonl'))['rows']
  by_step = {r['step']: r for r in rows}
  for step in range(1, 9):   # row `step` logs the step that started at step - 1
    want = r3gan_cosine(16 * (step - 1), 1.0, 64, 0.0)
    np.testing.assert_allclose(by_step[step]['schedule/reg.r1'], want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(by_step[step]['schedule/optimizer.g.learning_rate'],
                               want * c.optimizer.g.learning_rate, rtol=1e-5, atol=1e-12)
  assert by_step[1]['r1'] > 0 and by_step[5]['r1'] == 0.0 == by_step[8]['r1']
  # G's lr reached 0 at 64 images: G no longer moves; D (b2 scheduled, lr not) does.
  exp = Experiment(c)
  from ganjax.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  ckpt = Checkpointer(str(tmp_path))
  states = {s: ckpt.restore(exp.abstract_state(), step=s)[0] for s in (4, 8)}
  ckpt.close()
  same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                               jax.tree.leaves(b)))
  assert same(states[4].g_params, states[8].g_params)
  assert not same(states[4].d_params, states[8].d_params)


def test_a_resumed_scheduled_run_is_bit_identical(small_config, tmp_path):
  c = _scheduled(small_config, kimg=0.2)
  full = train.train_and_evaluate(c, str(tmp_path / 'full'))
  c.num_steps = 4
  train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  c.num_steps = 8
  resumed = train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  for a, b in zip(jax.tree.leaves(jax.device_get(full)), jax.tree.leaves(jax.device_get(resumed))):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('schedule, message', [
    (dict(loss=dict(real_label=dict(end=1.0, kimg=1))), 'loss.real_label cannot follow'),
    (dict(reg=dict(r1=dict(end=0.1))), 'give end, kimg > 0'),
    (dict(reg=dict(r1=0.1)), 'a schedule is dict'),
    (dict(augment=dict(p=dict(end=0.5, kimg=1))), 'ADA'),
    (dict(optimizer=dict(g=dict(learning_rate=dict(end=0.0, kimg=1)))), 'warmup_steps'),
])
def test_schedule_mistakes_are_one_line_errors(small_config, schedule, message):
  small_config.augment.update(policy='color', adaptive=True)
  small_config.optimizer.g.warmup_steps = 10
  small_config.schedule = ml_collections.ConfigDict(schedule)
  with pytest.raises(GanjaxError, match=message):
    Experiment(small_config)


def test_the_ema_half_life_is_stylegan2s(small_config):
  """beta = 0.5 ** (batch / min(1000 ema_kimg, images seen x ema_rampup)), by hand."""
  from ganjax.objectives import step as step_lib  # pylint: disable=g-import-not-at-top
  small_config.ema_kimg, small_config.ema_rampup = 0.1, 0.5   # batch 16
  cfg = Experiment(small_config).step_config()
  for step in (0, 1, 4, 100):
    half_life = min(100.0, 16 * step * 0.5)
    want = 0.5 ** (16 / max(half_life, 1e-8))
    np.testing.assert_allclose(float(step_lib.ema_decay(cfg, step)), want, rtol=1e-6)


def test_a_ramped_ema_starts_at_g_and_then_lags(small_config, tmp_path):
  small_config.schedule = ml_collections.ConfigDict(dict(ema_kimg=dict(end=1.0, kimg=1.0)))
  small_config.num_steps = small_config.checkpoint_every = 1
  one = jax.device_get(train.train_and_evaluate(small_config, str(tmp_path / 'one')))
  for a, b in zip(jax.tree.leaves(one.g_ema_params), jax.tree.leaves(one.g_params)):
    np.testing.assert_array_equal(a, b)   # half-life 0 at step 0: the EMA is G
  small_config.num_steps = 3
  three = jax.device_get(train.train_and_evaluate(small_config, str(tmp_path / 'three')))
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(three.g_ema_params),
                                                      jax.tree.leaves(three.g_params)))


def test_ema_decay_and_ema_kimg_together_are_refused(small_config):
  small_config.ema_decay, small_config.ema_kimg = 0.999, 10.0
  with pytest.raises(GanjaxError, match='keep one'):
    Experiment(small_config)
