r"""Hinge loss with spectral normalization in D (Miyato et al. 2018) on CIFAR-10, on
Radford et al.'s DCGAN at 32x32.

python -m experiments.train --config=configs/cifar10_hinge_sn.py --workdir=runs/cifar10_hinge_sn \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

D: every layer spectrally normalized, no BatchNorm; hinge loss; Adam(2e-4, 0.0, 0.9);
batch 64. n_dis = 1, as the authors' SN-DCGAN example (pfnet-research/chainer-gan-lib,
example.sh: sndcgan with --n_dis 1, 100,000 iterations); their ResNet runs use n_dis 5
(sngan_projection's sn_cifar10_unconditional.yml): --config.d_steps=5.
"""

from configs import cifar10_dcgan, common


def get_config():
  """Hinge + SN-D on the Radford DCGAN."""
  c = cifar10_dcgan.get_config()
  c.model.discriminator.batch_norm = False
  c.model.discriminator.spectral_norm = True
  c.loss.name = 'hinge'
  c.d_steps = 1
  c.batch_size = 64
  c.num_steps = 100_000
  c.optimizer.g = c.optimizer.d = common.adam(2e-4, b1=0.0, b2=0.9)
  return c
