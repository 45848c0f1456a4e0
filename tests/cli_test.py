"""The command lines as a user runs them: train, resume, generate, summary, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import EIGHT_DEVICES, MNIST_DIR, REPO, finish, start

TRAIN = ['-m', 'experiments.train', '--config=configs/mnist_mlp.py',
         f'--config.data.dir={MNIST_DIR}', '--config.data.split=test']
# The trained runs: mnist_mlp's network at a batch of 16 (its batch of 128 costs ~8x the
# compute per step); no report (report_test checks reports). The SIGTERM test's runs
# train the same program as the module's run, so they load it from the XLA cache.
CHEAP = ['--config.batch_size=16', '--config.report=False']


def run(*args, env=None, check=True):
  proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, **(env or {})}, timeout=300)
  if check and proc.returncode:
    raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return proc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('cli') / 'run')
  proc = run(*TRAIN, *CHEAP, f'--workdir={workdir}', '--config.num_steps=20',
             '--config.log_every=10', '--config.sample_every=10',
             '--config.checkpoint_every=10')
  return workdir, proc


def test_train_writes_grid_checkpoint_metrics_and_progress(trained):
  workdir, proc = trained
  assert 'total: 2,946,577' in proc.stderr  # the summary is printed at the start
  assert 'step/s' in proc.stderr and 'd_loss=' in proc.stderr and 'd_fake=' in proc.stderr
  grid = np.asarray(Image.open(f'{workdir}/samples/step_20.png'))
  assert grid.shape[0] == grid.shape[1] >= 10 * 28 and grid.std() > 10
  assert sorted(os.listdir(f'{workdir}/checkpoints'))[:2] == ['10', '20']
  rows = [json.loads(l) for l in open(f'{workdir}/metrics.jsonl')]
  assert [r['step'] for r in rows] == [10, 20]
  assert set(rows[1]) >= {'d_loss', 'g_loss', 'd_real', 'd_fake', 'steps_per_sec'}


def test_generate_is_deterministic_per_seed(trained, tmp_path):
  workdir, _ = trained
  for name, seed in (('a', 1), ('b', 1), ('c', 2)):
    out = run('-m', 'experiments.generate', f'--workdir={workdir}', '--num=12',
              f'--seed={seed}', f'--out={tmp_path / name}')
    assert 'from step 20' in out.stdout
  a, b, c = (np.load(tmp_path / f'{n}.npz', allow_pickle=False)['images'] for n in 'abc')
  assert a.shape == (12, 28, 28, 1) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert Image.open(tmp_path / 'a.png').size[0] > 28
  older = run('-m', 'experiments.generate', f'--workdir={workdir}', '--num=12', '--seed=1',
              '--step=10', f'--out={tmp_path / "d"}')
  assert 'from step 10' in older.stdout
  assert not np.array_equal(a, np.load(tmp_path / 'd.npz')['images'])


def test_summary_needs_no_data():
  out = run('-m', 'experiments.summary', '--config=configs/mnist_mlp.py',
            '--config.data.dir=/nowhere')
  assert 'trainable: 1,486,352' in out.stdout and 'trainable: 1,460,225' in out.stdout
  assert 'GAN  trainable: 2,946,577  non-trainable: 0  total: 2,946,577' in out.stdout


def _error_line(proc):
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('ganjax: error: ')
  return last


@pytest.mark.parametrize('args, match', [
    (['--config.data.name=cifar11'], 'unknown dataset'),
    (['--config.data.dir=/no/such/dir'], 'does not exist'),
    (['--config.num_stepz=5'], 'unknown config field: num_stepz'),
    (['--config.loss.generator=wgan'], "is not one of ['non_saturating', 'minimax']"),
    (['--config.batch_size=100'], 'does not divide across 8 devices'),
    (['--config.augment.policy=color', '--config.augment.adaptive=True',
      '--config.augment.p=1'], 'ADA starts at 0: drop --config.augment.p'),
])
def test_bad_training_input_is_one_line(args, match, tmp_path):
  proc = run(*TRAIN, f'--workdir={tmp_path}/w', *args, check=False, env=EIGHT_DEVICES)
  assert match in _error_line(proc)
  assert not os.path.exists(f'{tmp_path}/w/checkpoints')


def test_ada_on_the_command_line_starts_at_p_0(tmp_path):
  """policy + adaptive alone is ADA as Karras et al. run it: p starts at 0 (augment.p's
  default), held until the first adjustment (step adjust_every = 4)."""
  from ganjax import run_config  # pylint: disable=g-import-not-at-top
  from ganjax.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  from ganjax.experiment import Experiment  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'ada')
  run(*TRAIN, *CHEAP, f'--workdir={workdir}', '--config.augment.policy=color,translation,cutout',
      '--config.augment.adaptive=True', '--config.num_steps=2', '--config.log_every=1',
      '--config.steps_per_dispatch=1', '--config.model.latent_dim=8',
      '--config.model.generator.hidden=(32,64)', '--config.model.discriminator.hidden=(64,32)')
  rows = [json.loads(l) for l in open(f'{workdir}/metrics.jsonl')]
  assert [r['augment_p'] for r in rows] == [0.0, 0.0]
  ckpt = Checkpointer(workdir, read_only=True)
  try:
    state, _ = ckpt.restore(Experiment(run_config.load(workdir)).abstract_state())
  finally:
    ckpt.close()
  assert float(state.ada['p']) == 0.0


@pytest.mark.parametrize('field, key', [
    ('clusters', 'clusters'), pytest.param('clusters_per_class', 'labels', marks=pytest.mark.slow),
    (None, 'labels')])
def test_generate_writes_cluster_ids_as_clusters_and_classes_as_labels(small_config, tmp_path,
                                                                       field, key):
  """data.clusters ids are k-means clusters, not classes: never under 'labels'. With
  clusters_per_class, labels stay the digits G is asked for."""
  from ganjax import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'run')
  small_config.model.conditional, small_config.report = True, False
  small_config.num_steps = small_config.checkpoint_every = 4
  if field:
    small_config.data[field] = 4 if field == 'clusters' else 2
  train.train_and_evaluate(small_config, workdir)
  run('-m', 'experiments.generate', f'--workdir={workdir}', '--num=8', f'--out={tmp_path}/g')
  saved = np.load(f'{tmp_path}/g.npz', allow_pickle=False)
  assert sorted(saved) == sorted(['images', key])
  assert saved['images'].shape == (8, 28, 28, 1)
  want = np.arange(4) if field == 'clusters' else np.arange(8) % 10
  np.testing.assert_array_equal(np.sort(saved[key]), np.sort(np.resize(want, 8)))


def test_generate_without_checkpoint_is_one_line(tmp_path):
  proc = run('-m', 'experiments.generate', f'--workdir={tmp_path}', f'--out={tmp_path}/x',
             check=False)
  assert 'config.json' in _error_line(proc)
  proc = run('-m', 'experiments.generate', f'--workdir={tmp_path}/none',
             f'--out={tmp_path}/x', check=False)
  assert 'does not exist' in _error_line(proc)


def test_sigterm_saves_and_rerun_resumes(tmp_path):
  workdir = str(tmp_path / 'run')
  args = [sys.executable, *TRAIN, *CHEAP, f'--workdir={workdir}',
          '--config.num_steps=100000', '--config.log_every=10',
          '--config.checkpoint_every=50000']
  proc = start(args, cwd=REPO)
  deadline = time.time() + 120
  while not os.path.exists(f'{workdir}/metrics.jsonl') or not open(
      f'{workdir}/metrics.jsonl').read():
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  err = finish(proc, timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]   # saved, but not done
  assert 'stopped by signal' in err
  steps = [int(s) for s in os.listdir(f'{workdir}/checkpoints') if s.isdigit()]
  assert len(steps) == 1 and 10 <= steps[0] < 100000
  resumed = run(*TRAIN, *CHEAP, f'--workdir={workdir}',
                f'--config.num_steps={steps[0] + 10}', '--config.log_every=10',
                '--config.checkpoint_every=50000')
  assert f'resumed from the checkpoint at step {steps[0]}' in resumed.stderr


def test_eigen_convolutions_flag_keeps_the_users_choice():
  from ganjax import xla_cpu  # pylint: disable=g-import-not-at-top
  env = {'XLA_FLAGS': '--xla_force_host_platform_device_count=2'}
  assert not xla_cpu.eigen_convolutions(env)
  xla_cpu.prefer_eigen_convolutions(env)
  xla_cpu.prefer_eigen_convolutions(env)   # idempotent
  assert env['XLA_FLAGS'] == f'--xla_force_host_platform_device_count=2 {xla_cpu.EIGEN_CONVS}'
  assert xla_cpu.eigen_convolutions(env)
  mine = {'XLA_FLAGS': '--xla_cpu_experimental_ynn_fusion_type=dot'}
  xla_cpu.prefer_eigen_convolutions(mine)
  assert mine == {'XLA_FLAGS': '--xla_cpu_experimental_ynn_fusion_type=dot'}


# Compiles (without running) a mnist_dcgan-sized conv in a fresh process: the flag must be
# one this XLA accepts (an unknown value aborts every entry point) and must move it off YNN.
_CONV_ON_YNN = """
import sys
from ganjax import xla_cpu
if sys.argv[1] == 'eigen':
  xla_cpu.prefer_eigen_convolutions()
import jax
from jax import lax
x = jax.ShapeDtypeStruct((128, 7, 7, 256), 'float32')
k = jax.ShapeDtypeStruct((5, 5, 256, 128), 'float32')
conv = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), 'SAME',
                                             dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
print('ynn' in jax.jit(conv).lower(x, k).compile().as_text())
"""


def test_eigen_convolutions_flag_moves_convolutions_off_ynnpack():
  env = {k: v for k, v in os.environ.items()
         if k not in ('XLA_FLAGS', 'JAX_DISABLE_MOST_OPTIMIZATIONS')}
  on_ynn = {}
  for convs in ('ynn', 'eigen'):
    proc = subprocess.run([sys.executable, '-c', _CONV_ON_YNN, convs], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    on_ynn[convs] = proc.stdout.split()[-1]
  assert on_ynn == {'ynn': 'True', 'eigen': 'False'}
