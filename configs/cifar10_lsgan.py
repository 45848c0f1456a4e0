r"""LSGAN (Mao et al. 2017) on CIFAR-10 with Radford et al.'s DCGAN at 32x32.

python -m experiments.train --config=configs/cifar10_lsgan.py --workdir=runs/cifar10_lsgan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

D: ½E[(D(x) - 1)²] + ½E[D(G(z))²]; G: ½E[(D(G(z)) - 1)²] (a=0, b=c=1, as StudioGAN's
LSGAN; the paper's other coding a=-1, b=1, c=0 is --config.loss.ls_a=-1
--config.loss.ls_c=0). The DCGAN keeps BatchNorm in D; Adam(2e-4, 0.5), batch 64.
"""

from configs import cifar10_dcgan, common


def get_config():
  """Least-squares loss on the Radford DCGAN."""
  c = cifar10_dcgan.get_config()
  c.loss.name = 'least_squares'
  c.batch_size = 64
  c.optimizer.g = c.optimizer.d = common.adam(2e-4, b1=0.5)
  return c
