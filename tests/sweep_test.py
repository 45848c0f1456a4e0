"""Sweeps: parsing, the results table, skip/resume after a kill, vectorized == sequential."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import MNIST_DIR, REPO, assert_adam_close, finish, start, with_objectives
from ganjax import run_config, sweep, train, vectorized
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment

SMALL = ['--config=configs/mnist_mlp.py', f'--config.data.dir={MNIST_DIR}',
         '--config.data.split=test', '--config.batch_size=16', '--config.model.latent_dim=8',
         '--config.model.generator.hidden=(32,64)',
         '--config.model.discriminator.hidden=(64,32)', '--config.steps_per_dispatch=4',
         '--config.log_every=4', '--config.sample_every=1000']


def test_parse_seeds_and_grid(small_config):
  assert sweep.parse_seeds('0-3', 9) == [0, 1, 2, 3]
  assert sweep.parse_seeds('5,1,1-2', 9) == [1, 2, 5]
  assert sweep.parse_seeds('', 9) == [9]
  with pytest.raises(GanjaxError, match='range like 0-7'):
    sweep.parse_seeds('a-b', 0)
  grid = sweep.parse_grid(small_config, ['loss.generator=minimax,non_saturating',
                                         'd_steps=1,2', 'loss.real_label=1.0'])
  assert grid == {'loss.generator': ['minimax', 'non_saturating'], 'd_steps': [1, 2],
                  'loss.real_label': [1.0]}
  assert len(sweep.grid_points(grid)) == 4
  with pytest.raises(GanjaxError, match="no field 'num_stepz'"):
    sweep.parse_grid(small_config, ['num_stepz=1,2'])
  with pytest.raises(GanjaxError, match='expected a int'):
    sweep.parse_grid(small_config, ['d_steps=one'])
  point = sweep.apply(small_config, {'d_steps': 2, 'loss.generator': 'minimax'}, 7)
  assert (point.d_steps, point.loss.generator, point.seed) == (2, 'minimax', 7)
  assert small_config.d_steps == 1   # the base config is untouched


def test_results_aggregate_mean_std_n(tmp_path):
  """A hand-made sweep directory: the table's numbers are checked by hand."""
  points = [({'d_steps': d}, s) for d in (1, 2) for s in (0, 1, 2)]
  values = {(1, 0): 1.0, (1, 1): 2.0, (1, 2): 4.0, (2, 0): 10.0, (2, 1): 20.0}
  for (overrides, seed) in points:
    key = (overrides['d_steps'], seed)
    if key not in values:
      continue   # (2, 2) never started: not a row
    workdir = sweep.point_workdir(str(tmp_path), overrides, seed)
    os.makedirs(workdir)
    with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
      f.write(json.dumps({'step': 5, 'd_loss': 0.0, 'eval/domain_fid': 99.0}) + '\n')
      f.write(json.dumps({'step': 10, 'd_loss': values[key], 'eval/domain_fid': values[key]})
              + '\n{"step": 11, "d_lo')   # a line cut by a kill
    with open(os.path.join(workdir, 'best.json'), 'w') as f:
      json.dump({'metric': 'domain_fid', 'value': values[key] / 2, 'step': 5}, f)
  rows = sweep.collect(str(tmp_path), points)
  assert len(rows) == 5 and rows[0]['workdir'] == os.path.join('d_steps=1', 'seed_0')
  groups = {g['point']: g for g in sweep.write_results(str(tmp_path), rows)}
  g1 = groups['d_steps=1']
  assert g1['n'] == 3 and g1['seeds'] == [0, 1, 2]
  np.testing.assert_allclose(g1['d_loss'], (7 / 3, np.std([1, 2, 4], ddof=1)))
  np.testing.assert_allclose(g1['final_domain_fid'][0], 7 / 3)
  np.testing.assert_allclose(g1['best_value'][0], 7 / 6)
  assert groups['d_steps=2']['n'] == 2
  np.testing.assert_allclose(groups['d_steps=2']['d_loss'], (15, np.std([10, 20], ddof=1)))
  with open(tmp_path / 'results.csv') as f:
    assert len(list(csv.DictReader(f))) == 5
  table = (tmp_path / 'results.md').read_text()
  line = [l for l in table.splitlines() if l.startswith('| d_steps=1 |')][0]
  assert line.startswith('| d_steps=1 | 3 | 10 ± 0 | 2.333 ± 1.5 |') and 'd_steps=2/seed_1' in table


def _params(workdir):
  """(g_params, d_params) as numpy, and the step, of a point's newest checkpoint."""
  ckpt = Checkpointer(workdir, read_only=True)
  exp = Experiment(run_config.load(workdir))
  state, step = ckpt.restore(exp.abstract_state(), set_aside=False)
  ckpt.close()
  return jax.tree.map(np.asarray, (state.g_params, state.d_params)), step


@pytest.mark.slow
def test_sweep_killed_mid_point_resumes_to_the_uninterrupted_result(tmp_path):
  """SIGTERM during the second point; the rerun skips point 1 and resumes point 2."""
  args = [sys.executable, '-m', 'experiments.sweep', *SMALL, '--seeds=0-1',
          '--config.num_steps=96', '--config.checkpoint_every=8']
  whole, cut = str(tmp_path / 'whole'), str(tmp_path / 'cut')
  # The uninterrupted sweep runs alongside (it only has to finish before the comparison).
  uncut = start(args + [f'--workdir={whole}'], cwd=REPO)
  proc = start(args + [f'--workdir={cut}'], cwd=REPO)
  second = os.path.join(cut, 'base', 'seed_1', 'checkpoints')
  deadline = time.time() + 240
  while not (os.path.isdir(second) and [d for d in os.listdir(second) if d.isdigit()]):
    assert time.time() < deadline and proc.poll() is None, 'the sweep ended too early'
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  err = finish(proc, timeout=240)
  assert proc.returncode == 128 + signal.SIGTERM and 'sweep stopped' in err, err[-2000:]
  _, cut_step = _params(os.path.join(cut, 'base', 'seed_1'))
  assert 8 <= cut_step < 96
  out = subprocess.run(args + [f'--workdir={cut}'], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  err = finish(uncut, timeout=600)
  assert uncut.returncode == 0, err[-2000:]
  for seed in range(2):
    a, _ = _params(os.path.join(whole, 'base', f'seed_{seed}'))
    b, step = _params(os.path.join(cut, 'base', f'seed_{seed}'))
    assert step == 96
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)
  with open(os.path.join(cut, 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  assert [r['seed'] for r in rows] == ['0', '1'] and all(r['step'] == '96' for r in rows)
  # the sweep's end writes its report and each run's (report_test checks their content)
  for page in ('report', 'base/seed_0/report', 'base/seed_1/report'):
    assert os.path.isfile(os.path.join(cut, page, 'index.html')), page


@pytest.mark.slow
def test_vectorized_seeds_equal_each_seed_alone(small_config, tmp_path):
  """With the modern objectives on: lazy R1's cond and ADA's p under vmap."""
  with_objectives(small_config)
  configs = [sweep.apply(small_config, {}, s) for s in (0, 1)]
  root = str(tmp_path)
  vectorized.train_seeds(configs, [os.path.join(root, 'vec', str(s)) for s in (0, 1)])
  for s, config in zip((0, 1), configs):
    alone = train.train_and_evaluate(config, os.path.join(root, 'alone', str(s)))
    together, step = _params(os.path.join(root, 'vec', str(s)))
    assert step == config.num_steps
    # vmap batches the matmuls, so reductions may round differently (CI saw 1 element
    # in 2048 off by 4e-5 relative); a wrong seed, p or R1 cond moves every element.
    assert_adam_close((alone.g_params, alone.d_params), together, steps=config.num_steps)
    rows = [json.loads(l) for l in open(os.path.join(root, 'vec', str(s), 'metrics.jsonl'))]
    assert [r['step'] for r in rows] == [4, 8]
    assert os.listdir(os.path.join(root, 'vec', str(s), 'samples'))
    assert os.path.isfile(os.path.join(root, 'vec', str(s), 'report', 'index.html'))
  # Different seeds really differ.
  a, _ = _params(os.path.join(root, 'vec', '0'))
  b, _ = _params(os.path.join(root, 'vec', '1'))
  assert not np.allclose(jax.tree.leaves(a)[0], jax.tree.leaves(b)[0])


def test_vectorize_refuses_mixed_points(small_config, tmp_path):
  other = sweep.apply(small_config, {'d_steps': 2}, 1)
  with pytest.raises(GanjaxError, match='one grid point'):
    vectorized.train_seeds([small_config, other], [str(tmp_path / 'a'), str(tmp_path / 'b')])
  small_config.parallel = 'pmap'
  with pytest.raises(GanjaxError, match=r'needs --config.parallel=jit: .*pmean'):
    vectorized.train_seeds([small_config], [str(tmp_path / 'c')])


def test_non_finite_loss_in_one_seed_stops_the_group(small_config, tmp_path):
  """Seed 1 diverges at step 5: the group stops with one line naming the seed and the
  step, and neither seed saves past the last good checkpoint."""
  small_config.num_steps, small_config.report = 4, False
  configs = [sweep.apply(small_config, {}, s) for s in (0, 1)]
  workdirs = [str(tmp_path / str(s)) for s in (0, 1)]
  vectorized.train_seeds(configs, workdirs)
  # As if seed 1 had diverged by itself: its D weights, huge, overflow its logits.
  exp = Experiment(configs[1])
  ckpt = Checkpointer(workdirs[1])
  full, _ = ckpt.restore(exp.abstract_state())
  ckpt.close()
  shutil.rmtree(os.path.join(workdirs[1], 'checkpoints', '4'))
  ckpt = Checkpointer(workdirs[1])
  ckpt.save(4, full.replace(d_params=jax.tree.map(lambda x: x * 1e30, full.d_params)))
  ckpt.close()
  for config in configs:
    config.num_steps = 12
  with pytest.raises(GanjaxError, match=r'^non-finite loss of seed 1 at step 5 \(.*\); '
                     r'stopped without saving it. The last good checkpoint is step 4 in '
                     rf'{re.escape(workdirs[1])}/checkpoints: ') as e:
    vectorized.train_seeds(configs, workdirs)
  assert '\n' not in str(e.value)
  for workdir in workdirs:
    assert sorted(int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints'))
                  if d.isdigit()) == [4]
