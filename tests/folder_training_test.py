"""End to end on a user's image folder: streamed batches, classes by name, resume."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, assert_adam_close, write_image_folder
from configs import folder_cgan, mnist_mlp_cgan
from ganjax import run_config, sweep, train, vectorized
from ganjax.checkpoint import Checkpointer
from ganjax.experiment import Experiment


@pytest.fixture
def folder_config(tmp_path):
  c = folder_cgan.get_config()
  c.data.dir = write_image_folder(str(tmp_path / 'images'), classes=('cat', 'dog'))
  c.data.image_size = 32
  c.batch_size = 16  # 'separate' D updates on 8 real, 8 fake: one each per device
  c.num_steps = 4
  c.log_every = c.sample_every = c.checkpoint_every = 2
  c.model.generator.features = (32, 16, 8, 8)  # a smaller seed 003 network, same layers
  c.model.discriminator.features = (8, 8, 8)
  return c


@pytest.mark.slow
def test_streamed_folder_training_resumes_bit_identically(folder_config, tmp_path):
  full = train.train_and_evaluate(folder_config, str(tmp_path / 'full'))
  folder_config.num_steps = 2
  train.train_and_evaluate(folder_config, str(tmp_path / 'split'))
  folder_config.num_steps = 4
  resumed = train.train_and_evaluate(folder_config, str(tmp_path / 'split'))
  for a, b in zip(jax.tree.leaves(jax.device_get(full)), jax.tree.leaves(
      jax.device_get(resumed))):
    np.testing.assert_array_equal(a, b)
  assert json.load(open(tmp_path / 'full' / 'classes.json')) == ['cat', 'dog']


@pytest.mark.slow
def test_generate_by_class_name(folder_config, tmp_path):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(folder_config, workdir)

  def generate(*args):
    return subprocess.run([sys.executable, '-m', 'experiments.generate',
                           f'--workdir={workdir}', *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  ok = generate('--num=4', '--labels=cat,dog', f'--out={tmp_path}/pets')
  assert ok.returncode == 0, ok.stderr[-2000:]
  out = np.load(f'{tmp_path}/pets.npz', allow_pickle=False)
  assert out['images'].shape == (4, 32, 32, 3)
  assert out['labels'].tolist() == [0, 1, 0, 1]
  assert generate('--num=6', '--labels=all', f'--out={tmp_path}/all').returncode == 0
  assert np.load(f'{tmp_path}/all.npz')['labels'].tolist() == [0, 0, 0, 1, 1, 1]
  bad = generate('--num=2', '--labels=cow', f'--out={tmp_path}/x')
  assert bad.returncode == 2
  assert "unknown class 'cow'; classes are cat, dog" in bad.stderr.strip().splitlines()[-1]
  assert os.path.exists(os.path.join(workdir, 'samples', 'step_4.png'))


def _saved(workdir):
  """The newest checkpoint's state (host numpy) and step."""
  ckpt = Checkpointer(workdir, read_only=True)
  state, step = ckpt.restore(Experiment(run_config.load(workdir)).abstract_state(),
                             set_aside=False)
  ckpt.close()
  return jax.device_get(state), step


@pytest.mark.slow
def test_vectorized_folder_seeds_equal_each_seed_alone(folder_config, tmp_path):
  """--vectorize on a streamed folder: each seed loads its own batches [V, S, k, B, ...]
  (its own order and labels), sharded on B, and ends where it ends trained alone. A small
  conditional MLP on the folder's classes: the conv models' vmap compiles for 15 s."""
  model = mnist_mlp_cgan.get_config().model
  model.latent_dim = 8
  model.generator.update(hidden=(16,), embed_dim=4)
  model.discriminator.update(hidden=(16,), embed_dim=4)
  folder_config.model, folder_config.report = model, False
  configs = [sweep.apply(folder_config, {}, s) for s in (0, 1)]
  vectorized.train_seeds(configs, [str(tmp_path / 'vec' / str(s)) for s in (0, 1)])
  for s, config in zip((0, 1), configs):
    alone = train.train_and_evaluate(config, str(tmp_path / 'alone' / str(s)))
    together, step = _saved(str(tmp_path / 'vec' / str(s)))
    assert step == config.num_steps
    # vmap batches the matmuls (rounding as in sweep_test); another seed's batches, or
    # seed 0's fed to both, would move every element.
    assert_adam_close((alone.g_params, alone.d_params),
                      (together.g_params, together.d_params), steps=config.num_steps)
    rows = [json.loads(l) for l in open(tmp_path / 'vec' / str(s) / 'metrics.jsonl')]
    assert [r['step'] for r in rows] == [2, 4] and all('train_seconds' in r for r in rows)
