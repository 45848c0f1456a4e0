"""generate --labels=all, latent --classes and evaluate's label accuracy on trained residual
GANs: SNGAN's ResNet with per-class cbn and an AC-GAN D, BigGAN with its shared embedding,
hierarchical z and a projection D."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from architectures_test import tiny_biggan, tiny_resnet
from conftest import MNIST_DIR, REPO
from ganjax import inference, supervised, train


@pytest.fixture(scope='module')
def classifier(tmp_path_factory):
  """A barely trained configs/mnist_classifier.py (its accuracy is not the point)."""
  from configs import mnist_classifier  # pylint: disable=g-import-not-at-top
  c = mnist_classifier.get_config()
  c.num_steps, c.batch_size, c.log_every, c.checkpoint_every = 30, 32, 30, 30
  c.model.channels, c.model.features = (8, 16, 16), 32
  c.data.dir, c.data.split = MNIST_DIR, 'test'
  workdir = str(tmp_path_factory.mktemp('classifier'))
  supervised.train_and_evaluate(c, workdir)
  return workdir


def _run(module, *args):
  proc = subprocess.run([sys.executable, '-m', f'experiments.{module}', *args], cwd=REPO,
                        capture_output=True, text=True, env=dict(os.environ), timeout=600)
  assert proc.returncode == 0, f'{module} {args}:\n{proc.stderr[-3000:]}'
  return proc


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['resnet_cbn_acgan', 'biggan_projection'])
def test_generate_latent_and_evaluate_on_conditional_residual_gans(kind, classifier, tmp_path):
  c = tiny_resnet(d='acgan') if kind == 'resnet_cbn_acgan' else tiny_biggan()
  c.num_steps = 4
  # SNGAN's per-class BN tables start at 0: a fast raw G lets 4 steps make labels differ.
  c.ema_decay, c.optimizer.g.learning_rate = 0.0, 1e-2
  workdir = str(tmp_path / kind)
  train.train_and_evaluate(c, workdir)

  _run('generate', f'--workdir={workdir}', '--num=20', '--labels=all', f'--out={tmp_path}/g')
  out = np.load(f'{tmp_path}/g.npz', allow_pickle=False)
  assert out['images'].shape == (20, 28, 28, 1)
  assert out['labels'].tolist() == [k for k in range(10) for _ in range(2)]
  gen = inference.Generator(workdir)
  z = np.asarray(inference.truncated_latents(0, 1, gen.latent_dim, None)).repeat(2, 0)
  by_label = gen.images(z, np.array([0, 1], np.int32))
  assert not np.array_equal(by_label[0], by_label[1])   # the label reaches the pixels

  stem = f'{tmp_path}/walk'
  _run('latent', f'--workdir={workdir}', '--mode=interpolate', '--classes=3,8',
       '--indices=0', '--steps=3', '--method=linear', f'--out={stem}')
  meta = json.load(open(f'{stem}.json'))
  assert meta['kind'] == 'classes' and 'nn.Embed' in meta['blend']
  walk = np.load(f'{stem}.npz', allow_pickle=False)['images']
  assert walk.shape == (3, 28, 28, 1) and not np.array_equal(walk[0], walk[-1])

  proc = _run('evaluate', f'--workdir={workdir}', '--num=100', f'--classifier={classifier}')
  assert 'label_accuracy' in proc.stdout
  result = json.load(open(os.path.join(workdir, 'eval', sorted(
      os.listdir(os.path.join(workdir, 'eval')))[0])))
  assert 0.0 <= result['metrics']['label_accuracy'] <= 1.0
