r"""Seed 002's denoising autoencoder (784 -> 50 ReLU -> 784 sigmoid, 79,234 parameters).

python -m experiments.train --config=configs/mnist_dae.py --workdir=runs/mnist_dae \
    --config.data.dir=../shared/data/mnist --config.data.split=test

Trained on real digits corrupted with Gaussian and salt-and-pepper noise; clean G's
samples with `experiments.generate --denoise=WORKDIR`. --config.model.name=conv_dae
gives the small conv version for 3-channel data (e.g. get_config('cifar10')).
"""

from configs import common


def get_config(dataset='mnist'):
  """5,000 steps; noise N(0, 0.3) plus 10% salt-and-pepper."""
  conv = dataset not in ('mnist', 'fashion_mnist')
  model = dict(name='conv_dae', widths=(32, 64)) if conv else dict(name='mlp_dae', hidden=50)
  return common.helper_task('dae', dataset, num_steps=5000, model=model,
                            noise=dict(gaussian_std=0.3, salt_pepper=0.1))
