"""Two processes x two CPU devices over gloo on 127.0.0.1 train like one process x four."""

import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import MNIST_DIR, REPO, finish, start
from ganjax import run_config
from ganjax.checkpoint import Checkpointer
from ganjax.experiment import Experiment

ARGS = ['-m', 'experiments.train', '--config=configs/mnist_mlp.py',
        f'--config.data.dir={MNIST_DIR}', '--config.data.split=test',
        '--config.num_steps=6', '--config.checkpoint_every=3', '--config.log_every=3',
        '--config.sample_every=3', '--config.steps_per_dispatch=3',
        '--config.batch_size=16', '--config.model.generator.hidden=(32,64)']


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _launch(workdir, devices, extra=()):
  env = {**os.environ, 'XLA_FLAGS': (f"{os.environ.get('XLA_FLAGS', '')} "
                                     f'--xla_force_host_platform_device_count={devices}')}
  return start([sys.executable, *ARGS, f'--workdir={workdir}', *extra], cwd=REPO, env=env,
               stdout=subprocess.DEVNULL)


def _final_state(workdir):
  exp = Experiment(run_config.load(workdir))
  state, step = Checkpointer(workdir, read_only=True).restore(exp.abstract_state())
  assert step == 6
  return jax.device_get(state)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """A 2-process x 2-device run and a 1 x 4 run of the same 6 steps."""
  root = tmp_path_factory.mktemp('mp')
  port = _free_port()
  procs = [_launch(root / 'multi', 2, ['--coordinator', f'127.0.0.1:{port}',
                                       '--num_processes=2', f'--process_id={i}'])
           for i in range(2)]
  procs.append(_launch(root / 'single', 4))
  for p in procs:
    err = finish(p, timeout=300)
    assert p.returncode == 0, err[-3000:]
  return root


def test_two_processes_match_one_process(runs):
  multi, single = _final_state(runs / 'multi'), _final_state(runs / 'single')
  for a, b in zip(jax.tree.leaves(multi), jax.tree.leaves(single)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # Only process 0 writes samples and metrics; both wrote their shards of the checkpoint.
  assert sorted(os.listdir(runs / 'multi' / 'samples')) == ['step_3.png', 'step_6.png']
  assert len(open(runs / 'multi' / 'metrics.jsonl').readlines()) == 2


def _run(workdir, devices, extra=()):
  proc = _launch(workdir, devices, extra)
  err = finish(proc, timeout=300)
  assert proc.returncode == 0, err[-3000:]
  return err


def _state_at(workdir, step):
  exp = Experiment(run_config.load(workdir))
  state, at = Checkpointer(workdir, read_only=True).restore(exp.abstract_state())
  assert at == step
  return jax.device_get(state)


@pytest.mark.slow
def test_two_process_checkpoint_restores_on_other_device_counts(runs, tmp_path):
  """Saved by 2 processes x 2 devices; continued on 1 x 1 and on 1 x 8 devices."""
  subprocess.run(['cp', '-r', str(runs / 'single'), str(tmp_path / 'reference')], check=True)
  procs = {'reference': _launch(tmp_path / 'reference', 4, ['--config.num_steps=9'])}
  for devices in (1, 8):   # the three continuations run side by side
    workdir = tmp_path / f'on{devices}'
    subprocess.run(['cp', '-r', str(runs / 'multi'), str(workdir)], check=True)
    procs[f'on{devices}'] = _launch(workdir, devices, ['--config.num_steps=9'])
  errs = {}
  for name, proc in procs.items():
    errs[name] = finish(proc, timeout=300)
    assert proc.returncode == 0, errs[name][-3000:]
  want = _state_at(tmp_path / 'reference', 9)
  for devices in (1, 8):
    assert 'resumed from the checkpoint at step 6' in errs[f'on{devices}']
    for a, b in zip(jax.tree.leaves(_state_at(tmp_path / f'on{devices}', 9)),
                    jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_dead_peer_ends_the_run_and_both_restart(tmp_path):
  """Kill process 1 after the first checkpoint: process 0 must exit (not hang) within the
  peer timeout; restarting both resumes and ends where an unkilled run ends."""
  port, workdir = _free_port(), tmp_path / 'killed'
  common = ['--num_processes=2', '--peer_timeout=10', '--config.num_steps=3000',
            '--config.checkpoint_every=3']
  procs = [_launch(workdir, 2, ['--coordinator', f'127.0.0.1:{port}', f'--process_id={i}',
                                *common]) for i in range(2)]
  checkpoints = workdir / 'checkpoints'
  deadline = time.time() + 240
  while not (checkpoints.is_dir() and [d for d in os.listdir(checkpoints) if d.isdigit()]):
    assert time.time() < deadline and procs[0].poll() is None
    time.sleep(0.2)
  procs[1].kill()
  procs[1].wait()
  t = time.time()
  err = finish(procs[0], timeout=120)   # a hang fails here
  assert procs[0].returncode != 0 and time.time() - t < 120, err[-2000:]
  end = max(int(d) for d in os.listdir(checkpoints) if d.isdigit()) + 6
  port = _free_port()
  restart = [_launch(workdir, 2, ['--coordinator', f'127.0.0.1:{port}', f'--process_id={i}',
                                  '--num_processes=2', f'--config.num_steps={end}',
                                  '--config.checkpoint_every=3']) for i in range(2)]
  # The unkilled reference runs alongside the restarted pair.
  whole = _launch(tmp_path / 'whole', 4, [f'--config.num_steps={end}',
                                          '--config.checkpoint_every=3'])
  for p in restart + [whole]:
    err = finish(p, timeout=300)
    assert p.returncode == 0, err[-3000:]
  for a, b in zip(jax.tree.leaves(_state_at(workdir, end)),
                  jax.tree.leaves(_state_at(tmp_path / 'whole', end))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
