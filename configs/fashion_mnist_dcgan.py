r"""Seed 004's DCGAN on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist_dcgan.py \
    --workdir=runs/fashion_dcgan --config.data.dir=PATH_TO_FASHION_IDX
"""

from configs import mnist_dcgan


def get_config():
  """mnist_dcgan on fashion_mnist."""
  return mnist_dcgan.get_config('fashion_mnist')
