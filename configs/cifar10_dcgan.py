r"""Radford et al.'s DCGAN (seed 001) on CIFAR-10 32x32: Adam(2e-4, 0.5), N(0, 0.02) init.

python -m experiments.train --config=configs/cifar10_dcgan.py --workdir=runs/cifar10_dcgan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz
"""

from configs import common


def get_config(data_config=None):
  """4x4 stride-2 (fractionally) strided convs, BN, ReLU in G, LeakyReLU 0.2 in D."""
  model = dict(name='radford', conditional=False, latent_dim=100,
               generator=dict(base_features=64, init_std=0.02),
               discriminator=dict(base_features=64, negative_slope=0.2, init_std=0.02))
  c = common.base(model=model, data_config=data_config or common.data('cifar10'))
  c.loss.real_label = 1.0
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 2
  return c
