r"""SNGAN (Miyato et al. 2018) on CIFAR-10: ResNet G (256 channels) and SN-ResNet D (128).

python -m experiments.train --config=configs/cifar10_sngan.py --workdir=runs/cifar10_sngan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

As the authors' sngan_projection configs/sn_cifar10_unconditional.yml: hinge loss, n_dis 5,
Adam(2e-4, 0.0, 0.9) decayed linearly to 0 over the run (their LinearShift), batch 64,
z of 128 dims, 50,000 G steps. G: BN, no SN; D: SN on every layer, no BN.
"""

from configs import common
from ganjax.models.resnet import SNGAN_WIDTHS


def get_config(data_config=None, size=32, conditional=False, num_steps=50_000):
  """The unconditional SNGAN; conditional=True: cbn in G, projection in D."""
  widths = SNGAN_WIDTHS[size]
  model = dict(name='resnet', conditional=conditional, latent_dim=128,
               generator=dict(channels=widths['g'], conditioning='cbn',
                              attention_resolution=0),
               discriminator=dict(channels=widths['d'], downsample=widths['d_down'],
                                  conditioning='projection', attention_resolution=0,
                                  spectral_norm=True))
  c = common.base(model=model, data_config=data_config or common.data('cifar10'),
                  optimizer=common.adam(2e-4, b1=0.0, b2=0.9, decay_steps=num_steps))
  c.loss.name = 'hinge'
  c.d_steps = 5
  c.batch_size = 64
  c.num_steps = num_steps
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  return c
