"""The training loop: resume is bit-identical, bad checkpoints fall back, NaNs stop cleanly.

The run these tests resume against has the state's every optional part in use: spectral
norm's u vectors, LeCam's EMAs and the adaptive augmentation's p (conftest.with_objectives).
"""

import glob
import json
import os

import jax
import numpy as np
import pytest

from conftest import make_small_config, with_objectives, write_cifar_bins
from ganjax import train
from ganjax.errors import GanjaxError


def _host(state):
  return jax.device_get(state)


def _assert_identical(a, b):
  la, lb = jax.tree.leaves(_host(a)), jax.tree.leaves(_host(b))
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(x, y)


def _steps(workdir):
  return sorted(int(os.path.basename(p)) for p in glob.glob(f'{workdir}/checkpoints/[0-9]*'))


@pytest.fixture
def config():
  """The config of the uninterrupted run, fresh for each test."""
  return with_objectives(make_small_config(), loss='bce')


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """One 8-step run (and its workdir) for the module's tests to compare against."""
  workdir = str(tmp_path_factory.mktemp('full'))
  config = with_objectives(make_small_config(), loss='bce')
  return train.train_and_evaluate(config, workdir), workdir


def test_run_writes_checkpoints_samples_metrics(uninterrupted):
  state, workdir = uninterrupted
  assert int(state.step) == 8
  assert _steps(workdir) == [4, 8]
  assert sorted(os.listdir(f'{workdir}/samples')) == ['step_4.png', 'step_8.png']
  rows = [json.loads(l) for l in open(f'{workdir}/metrics.jsonl')]
  assert [r['step'] for r in rows] == [4, 8]
  assert all(np.isfinite(r['d_loss']) and 0 < r['d_real_prob'] < 1 for r in rows)
  assert 0 < rows[0]['augment_p'] < rows[1]['augment_p'] and rows[1]['lecam'] > 0
  assert float(state.ada['p']) > 0 and float(state.lecam_ema['real']) != 0
  assert any('SpectralNorm' in k for k in state.d_batch_stats)
  assert glob.glob(f'{workdir}/tensorboard/events.out.tfevents.*')
  assert json.load(open(f'{workdir}/config.json'))['batch_size'] == 16


def test_resume_is_bit_identical(config, uninterrupted, tmp_path):
  full, _ = uninterrupted
  config.num_steps = 6  # stops off the checkpoint grid: chunks 4+2, then 2
  train.train_and_evaluate(config, str(tmp_path))
  assert _steps(tmp_path) == [4, 6]
  config.num_steps = 8
  resumed = train.train_and_evaluate(config, str(tmp_path))
  _assert_identical(full, resumed)


@pytest.mark.slow
def test_resume_is_bit_identical_for_unrolled_conv_chunks(tmp_path):
  """unroll_steps traces S steps into one program: chunks of 4 + 4 and of 4 + 2 (stop)
  + 2 (resume) must still give the same bits (BatchNorm, sub-pixel convs by taps)."""
  from configs import cifar10_dcgan  # pylint: disable=g-import-not-at-top
  c = cifar10_dcgan.get_config()
  c.batch_size, c.num_steps, c.steps_per_dispatch = 8, 8, 4
  c.log_every = c.sample_every = c.checkpoint_every = 4
  c.model.generator.base_features = c.model.discriminator.base_features = 16  # taps convs
  c.data.dir = write_cifar_bins(str(tmp_path / 'cifar'))
  assert c.unroll_steps
  # Cross-step fusion only shows with XLA's optimizations, which conftest turns off.
  jax.config.update('jax_disable_most_optimizations', False)
  try:
    full = train.train_and_evaluate(c, str(tmp_path / 'full'))
    c.num_steps = 6
    train.train_and_evaluate(c, str(tmp_path / 'resumed'))
    c.num_steps = 8
    _assert_identical(full, train.train_and_evaluate(c, str(tmp_path / 'resumed')))
  finally:
    jax.config.update('jax_disable_most_optimizations',
                      os.environ.get('JAX_DISABLE_MOST_OPTIMIZATIONS') == '1')


def test_finished_run_is_not_retrained(config, uninterrupted):
  full, workdir = uninterrupted
  before = open(f'{workdir}/metrics.jsonl').read()
  again = train.train_and_evaluate(config, workdir)
  _assert_identical(full, again)
  assert open(f'{workdir}/metrics.jsonl').read() == before


def test_corrupt_latest_checkpoint_falls_back_and_is_kept(config, uninterrupted,
                                                           tmp_path):
  full, _ = uninterrupted
  train.train_and_evaluate(config, str(tmp_path))
  for path in glob.glob(f'{tmp_path}/checkpoints/8/**/*', recursive=True):
    if os.path.isfile(path):
      open(path, 'wb').close()  # truncate every file of the newest checkpoint
  resumed = train.train_and_evaluate(config, str(tmp_path))
  _assert_identical(full, resumed)
  assert _steps(tmp_path) == [4, 8]
  assert len(glob.glob(f'{tmp_path}/corrupt_checkpoints/8-*')) == 1  # set aside, not deleted


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(small_config, tmp_path):
  small_config.num_steps = 4
  train.train_and_evaluate(small_config, str(tmp_path))
  small_config.num_steps = 12
  small_config.optimizer.d.learning_rate = 1e30
  small_config.optimizer.g.learning_rate = 1e30
  with open(tmp_path / 'config.json', 'w') as f:  # as if the run had diverged by itself
    f.write(small_config.to_json_best_effort())
  with pytest.raises(GanjaxError, match=r'non-finite loss at step 5 .*checkpoint is step 4'):
    train.train_and_evaluate(small_config, str(tmp_path))
  assert _steps(tmp_path) == [4]


def test_workdir_of_another_config_is_refused(config, uninterrupted):
  _, workdir = uninterrupted
  config.model.generator.hidden = (16, 16)
  with pytest.raises(GanjaxError, match='different config'):
    train.train_and_evaluate(config, workdir)
