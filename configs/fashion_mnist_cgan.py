r"""The conditional GAN of seeds 004/003 on Fashion-MNIST.

python -m experiments.train --config=configs/fashion_mnist_cgan.py \
    --workdir=runs/fashion_cgan --config.data.dir=PATH_TO_FASHION_IDX
"""

from configs import mnist_cgan


def get_config():
  """mnist_cgan on fashion_mnist."""
  return mnist_cgan.get_config('fashion_mnist')
