r"""Seed 004's DCGAN on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist_dcgan.py \
    --workdir=runs/fashion_dcgan --config.data.dir=PATH_TO_FASHION_IDX

In 1 T (benchmarks/quality.py, AMD EPYC, 2 cores, 2026-12-04, T = 414.9 s, seeds 0-2, the
10k t10k split): ~670 steps, best domain FID 2206 +- 141 (199-261x the floor), 3 to 7 of
the 10 classes drawn; configs/fashion_mnist.py reaches 77.9 +- 11.4 in the same budget.
"""

from configs import mnist_dcgan


def get_config():
  """mnist_dcgan on fashion_mnist."""
  return mnist_dcgan.get_config('fashion_mnist')
