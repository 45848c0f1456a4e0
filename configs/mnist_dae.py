r"""Seed 002's denoising autoencoder (784 -> 50 ReLU -> 784 sigmoid, 79,234 parameters).

python -m experiments.train --config=configs/mnist_dae.py --workdir=runs/mnist_dae \
    --config.data.dir=../shared/data/mnist --config.data.split=test

Trained on real digits corrupted with Gaussian and salt-and-pepper noise; clean G's
samples with `experiments.generate --denoise=WORKDIR`. --config.model.name=conv_dae
gives the small conv version for 3-channel data (e.g. get_config('cifar10')).
"""

import ml_collections

from configs import common


def get_config(dataset='mnist'):
  """Adam 1e-3, batch 128, 5,000 steps; noise N(0, 0.3) plus 10% salt-and-pepper."""
  c = ml_collections.ConfigDict()
  c.task = 'dae'
  c.seed = 0
  c.batch_size = 128
  c.num_steps = 5000
  c.holdout = 0.2
  c.log_every = 100
  c.checkpoint_every = 1000
  c.keep_checkpoints = 2
  conv = dataset not in ('mnist', 'fashion_mnist')
  c.model = ml_collections.ConfigDict(
      dict(name='conv_dae', widths=(32, 64)) if conv else dict(name='mlp_dae', hidden=50))
  c.noise = ml_collections.ConfigDict(dict(gaussian_std=0.3, salt_pepper=0.1))
  c.optimizer = ml_collections.ConfigDict(dict(learning_rate=1e-3))
  c.data = common.data(dataset)
  return c
