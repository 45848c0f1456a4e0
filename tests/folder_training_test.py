"""End to end on a user's image folder: streamed batches, classes by name, resume."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, write_image_folder
from configs import folder_cgan
from ganjax import train


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
