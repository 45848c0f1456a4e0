"""The training clock (train_seconds / eval_seconds in metrics.jsonl) and time_budget."""

import functools
import glob
import json
import logging
import os
import time

import jax
import numpy as np
import pytest

from ganjax import hooks, run_config, sweep, train, vectorized
from ganjax.report import data as report_data
from ganjax.errors import GanjaxError

EVAL_SECONDS, SETUP_SECONDS, TICK = 1.5, 0.5, 1e-3


class _VirtualTime:
  """`time` for ganjax.train: moves TICK a reading and by the evaluator's sleeps only, so
  the times logged are exact and do not depend on the machine's load."""

  def __init__(self):
    self.now = 0.0

  def perf_counter(self):
    self.now += TICK
    return self.now

  def sleep(self, seconds):
    self.now += seconds


def _rows(workdir):
  """metrics.jsonl's rows; a line cut mid-write yields the row that continues it."""
  return report_data.read_metrics(os.path.join(workdir, 'metrics.jsonl'))['rows']


def _steps(workdir):
  return sorted(int(os.path.basename(p)) for p in glob.glob(f'{workdir}/checkpoints/[0-9]*'))


def _assert_identical(a, b):
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)),
                  strict=True):
    np.testing.assert_array_equal(x, y)


class _SlowEvaluator:
  """hooks.Evaluator's interface: sleeps on `clock` (set-up and each call), writes one
  eval row."""

  def __init__(self, clock, exp, dataset, workdir, is_main):
    del exp, dataset, workdir, is_main
    self.clock = clock
    clock.sleep(SETUP_SECONDS)

  def __call__(self, run_state, step, writer):
    del run_state
    self.clock.sleep(EVAL_SECONDS)
    writer.write(step, {'eval/domain_fid': 100.0 / step})

  def close(self):
    pass


def test_times_are_logged_and_continue_after_resume(small_config, tmp_path):
  workdir = str(tmp_path)
  small_config.report = False
  train.train_and_evaluate(small_config, workdir)
  rows = _rows(workdir)
  assert [r['step'] for r in rows] == [4, 8]
  assert 0 < rows[0]['train_seconds'] < rows[1]['train_seconds']
  assert [r['eval_seconds'] for r in rows] == [0.0, 0.0]   # eval is off
  # As if the run before had trained for 1000 s, then a process logged step 12 after the
  # checkpoint at 8 and was killed mid-write: the resume continues from step 8's row.
  rows[1].update(train_seconds=1000.0, eval_seconds=50.0)
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in rows))
    f.write(json.dumps({'step': 12, 'd_loss': 1.0, 'train_seconds': 5000.0}) + '\n')
    f.write('{"step": 12, "d_lo')
  small_config.num_steps = 16
  t = time.perf_counter()
  train.train_and_evaluate(small_config, workdir)
  wall = time.perf_counter() - t
  new = _rows(workdir)[3:]
  assert [r['step'] for r in new] == [12, 16]
  assert 1000 < new[0]['train_seconds'] < new[1]['train_seconds'] < 1000 + wall
  assert [r['eval_seconds'] for r in new] == [50.0, 50.0]


def test_eval_time_is_not_training_time(small_config, tmp_path, monkeypatch):
  clock = _VirtualTime()
  monkeypatch.setattr(train, 'time', clock)
  monkeypatch.setattr(hooks, 'Evaluator', functools.partial(_SlowEvaluator, clock))
  small_config.eval_every, small_config.report = 4, False
  train.train_and_evaluate(small_config, str(tmp_path))
  rows = _rows(str(tmp_path))
  train_rows = [r for r in rows if 'd_loss' in r]
  eval_rows = [r for r in rows if 'eval/domain_fid' in r]
  assert [r['step'] for r in train_rows] == [r['step'] for r in eval_rows] == [4, 8]
  assert all({'train_seconds', 'eval_seconds'} <= set(r) for r in rows)
  # Virtual time moves only by ticks and sleeps: every gap below is exact up to a few
  # hundred ticks, far from the sleeps themselves.
  slack = 200 * TICK
  assert abs(train_rows[0]['eval_seconds'] - SETUP_SECONDS) < slack   # the set-up
  for tr, ev in zip(train_rows, eval_rows):   # across one evaluation
    assert abs(ev['eval_seconds'] - tr['eval_seconds'] - EVAL_SECONDS) < slack
    assert 0 <= ev['train_seconds'] - tr['train_seconds'] < slack
  # Training from step 4 to 8 spans the first evaluation's sleep, yet counts none of it.
  assert 0 < train_rows[1]['train_seconds'] - train_rows[0]['train_seconds'] < slack
  assert abs(eval_rows[1]['eval_seconds'] - SETUP_SECONDS - 2 * EVAL_SECONDS) < slack


def test_time_budget_stops_like_num_steps_and_reruns_do_nothing(small_config, tmp_path,
                                                                caplog):
  caplog.set_level(logging.INFO)
  small_config.report = False
  full = train.train_and_evaluate(small_config, str(tmp_path / 'full'))
  workdir = str(tmp_path / 'budget')
  small_config.report, small_config.time_budget = True, 1e-9   # spent within the 1st chunk
  state = train.train_and_evaluate(small_config, workdir)
  assert int(state.step) == 4 and _steps(workdir) == [4]
  assert os.listdir(os.path.join(workdir, 'samples')) == ['step_4.png']
  assert os.path.exists(os.path.join(workdir, 'report', 'index.html'))
  assert 'time budget of 1e-09 min reached at step 4' in caplog.text
  before = open(os.path.join(workdir, 'metrics.jsonl')).read()
  assert [r['step'] for r in _rows(workdir)] == [4]
  small_config.report = False
  for num_steps in (8, 100):   # a rerun, and more steps without more time: nothing to do
    small_config.num_steps = num_steps
    caplog.clear()
    assert int(train.train_and_evaluate(small_config, workdir).step) == 4
    assert 'time budget of 1e-09 min already spent at step 4' in caplog.text
  assert open(os.path.join(workdir, 'metrics.jsonl')).read() == before
  assert _steps(workdir) == [4]
  small_config.num_steps, small_config.time_budget = 8, 1e6   # more time: trains on
  _assert_identical(full, train.train_and_evaluate(small_config, workdir))
  assert _steps(workdir) == [4, 8]


def test_negative_time_budget_is_refused(small_config):
  small_config.time_budget = -1.0
  with pytest.raises(GanjaxError, match=r'time_budget .* >= 0 \(0: off\), got -1.0'):
    run_config.validate(small_config)


def _seed_dirs(tmp_path, name):
  return [str(tmp_path / name / str(s)) for s in (0, 1)]


def test_vectorized_seeds_log_train_seconds_and_stop_at_the_budget(small_config, tmp_path,
                                                                   caplog):
  """Both seeds run in one program: they share its wall time and stop at the same chunk;
  each logs its train_seconds, and a rerun finds each seed's budget spent."""
  caplog.set_level(logging.INFO)
  small_config.num_steps, small_config.time_budget, small_config.report = 10_000, 0.02, False
  small_config.sample_every = small_config.checkpoint_every = 10_000
  configs = [sweep.apply(small_config, {}, s) for s in (0, 1)]
  workdirs = _seed_dirs(tmp_path, 'budget')
  vectorized.train_seeds(configs, workdirs)
  rows = [_rows(w) for w in workdirs]
  last = rows[0][-1]['step']
  assert 4 <= last < small_config.num_steps and f'reached at step {last}' in caplog.text
  assert 'its 2 seeds stop together' in caplog.text
  for seed_rows, workdir in zip(rows, workdirs):
    assert [r['step'] for r in seed_rows] == [r['step'] for r in rows[0]]
    seconds = [r['train_seconds'] for r in seed_rows]
    assert seconds == sorted(seconds) and seconds[-1] >= 0.02 * 60
    assert _steps(workdir) == [last]
  assert abs(rows[0][-1]['train_seconds'] - rows[1][-1]['train_seconds']) < 0.5
  before = [open(os.path.join(w, 'metrics.jsonl')).read() for w in workdirs]
  caplog.clear()
  vectorized.train_seeds(configs, workdirs)
  for seed, workdir, text in zip((0, 1), workdirs, before):
    assert f'seed {seed}: time budget of 0.02 min already spent at step {last}' in caplog.text
    assert open(os.path.join(workdir, 'metrics.jsonl')).read() == text


def test_vectorized_eval_time_is_no_seed_s_training_time(small_config, tmp_path, monkeypatch):
  """A seed's evaluation is its eval_seconds; for the seed trained beside it, neither: it
  waits (its train_seconds do not grow either)."""
  clock = _VirtualTime()
  monkeypatch.setattr(train, 'time', clock)
  monkeypatch.setattr(hooks, 'Evaluator', functools.partial(_SlowEvaluator, clock))
  small_config.eval_every, small_config.report = 4, False
  workdirs = _seed_dirs(tmp_path, 'eval')
  vectorized.train_seeds([sweep.apply(small_config, {}, s) for s in (0, 1)], workdirs)
  slack = 200 * TICK
  for workdir in workdirs:
    rows = _rows(workdir)
    train_rows = [r for r in rows if 'd_loss' in r]
    eval_rows = [r for r in rows if 'eval/domain_fid' in r]
    assert [r['step'] for r in train_rows] == [r['step'] for r in eval_rows] == [4, 8]
    assert abs(train_rows[0]['eval_seconds'] - SETUP_SECONDS) < slack   # its own set-up
    for tr, ev in zip(train_rows, eval_rows):
      assert abs(ev['eval_seconds'] - tr['eval_seconds'] - EVAL_SECONDS) < slack
      assert 0 <= ev['train_seconds'] - tr['train_seconds'] < slack
    # From step 4 to 8 both seeds' first evaluations ran: neither counts as training.
    assert 0 < train_rows[1]['train_seconds'] - train_rows[0]['train_seconds'] < slack
    assert abs(eval_rows[1]['eval_seconds'] - SETUP_SECONDS - 2 * EVAL_SECONDS) < slack
