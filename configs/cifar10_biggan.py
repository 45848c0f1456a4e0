r"""BigGAN (Brock et al. 2019) on CIFAR-10, conditional: shared class embedding,
hierarchical z, conditional BN from [embedding, z chunk], self-attention, SN in G and D,
orthogonal init, projection D.

python -m experiments.train --config=configs/cifar10_biggan.py --workdir=runs/cifar10_biggan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

As StudioGAN's src/configs/CIFAR10/BigGAN.yaml with its src/config.py defaults: z 80,
conv dims 96 (G 384, D 192 channels), attention at 16x16 in G and D, hinge loss, 5 D steps
per G step, Adam(2e-4, 0.5, 0.999), batch 64, 100,000 steps, an EMA of G at 0.9999 (StudioGAN
starts it at step 1000; here it runs from the start, which 10k steps of decay forget).
"""

from configs import common
from ganjax.models.biggan import BIGGAN_WIDTHS


def get_config(data_config=None, size=32, conditional=True):
  """BigGAN at `size` (32, 64 or 128) pixels."""
  w = BIGGAN_WIDTHS[size]
  model = dict(name='biggan', conditional=conditional, latent_dim=w['latent'],
               generator=dict(channels=w['g'], shared_dim=128, conditioning='cbn',
                              attention_resolution=w['attention'], spectral_norm=True),
               discriminator=dict(channels=w['d'], downsample=w['d_down'],
                                  conditioning='projection',
                                  attention_resolution=w['attention'], spectral_norm=True))
  c = common.base(model=model, data_config=data_config or common.data('cifar10'),
                  optimizer=common.adam(2e-4, b1=0.5, b2=0.999))
  c.loss.name = 'hinge'
  c.d_steps = 5
  c.batch_size = 64
  c.num_steps = 100_000
  c.ema_decay = 0.9999
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  return c
