r"""Seed 003's conditional GAN on CIFAR-10 (32x32, 10 classes).

python -m experiments.train --config=configs/cifar10_cgan.py --workdir=runs/cifar10_cgan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz
"""

from configs import common, folder_cgan


def get_config():
  """folder_cgan's networks at 32x32 on CIFAR-10's classes."""
  c = folder_cgan.get_config()
  c.data = common.data('cifar10')
  c.batch_size = 128
  c.steps_per_dispatch = 2
  return c
