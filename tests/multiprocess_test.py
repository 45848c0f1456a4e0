"""Two processes x two CPU devices over gloo on 127.0.0.1 train like one process x four."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np

from conftest import MNIST_DIR, REPO
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
  env = {**os.environ, 'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
  return subprocess.Popen([sys.executable, *ARGS, f'--workdir={workdir}', *extra], cwd=REPO,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)


def _final_state(workdir):
  exp = Experiment(run_config.load(workdir))
  state, step = Checkpointer(workdir, read_only=True).restore(exp.abstract_state())
  assert step == 6
  return jax.device_get(state)


def test_two_processes_match_one_process(tmp_path):
  port = _free_port()
  procs = [_launch(tmp_path / 'multi', 2, ['--coordinator', f'127.0.0.1:{port}',
                                           '--num_processes=2', f'--process_id={i}'])
           for i in range(2)]
  procs.append(_launch(tmp_path / 'single', 4))
  for p in procs:
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
  multi, single = _final_state(tmp_path / 'multi'), _final_state(tmp_path / 'single')
  for a, b in zip(jax.tree.leaves(multi), jax.tree.leaves(single)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # Only process 0 writes samples and metrics; both wrote their shards of the checkpoint.
  assert sorted(os.listdir(tmp_path / 'multi' / 'samples')) == ['step_3.png', 'step_6.png']
  assert len(open(tmp_path / 'multi' / 'metrics.jsonl').readlines()) == 2
