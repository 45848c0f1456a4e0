r"""WGAN-GP (Gulrajani et al. 2017) on CIFAR-10 with Radford et al.'s DCGAN at 32x32.

python -m experiments.train --config=configs/cifar10_wgan_gp.py --workdir=runs/cifar10_wgan_gp \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

As the authors' gan_cifar.py: a critic without BatchNorm (the penalty is per example),
5 critic updates per G update, λ = 10, Adam(1e-4, 0.5, 0.9) for both, batch 64, 200,000
G iterations, no learning-rate decay. The architecture is this project's Radford DCGAN
(4x4 kernels) rather than their 5x5 one.
"""

from configs import cifar10_dcgan, common


def get_config():
  """Wasserstein loss + gradient penalty on interpolates."""
  c = cifar10_dcgan.get_config()
  c.model.discriminator.batch_norm = False
  c.loss.name = 'wasserstein'
  c.reg.gp = 10.0
  c.d_steps = 5
  c.batch_size = 64
  c.num_steps = 200_000
  c.optimizer.g = c.optimizer.d = common.adam(1e-4, b1=0.5, b2=0.9)
  return c
