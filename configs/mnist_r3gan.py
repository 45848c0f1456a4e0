r"""R3GAN (Huang et al. 2024) at MNIST's size: the official networks (ganjax/models/r3gan.py)
with a 7x7 basis and 3 stages (7 -> 14 -> 28), narrow; its loss, RpGAN + R1 + R2 (γ/2
E||∇D||² on reals and on fakes, every step); Adam with β1 = 0; an EMA of G.

python -m experiments.train --config=configs/mnist_r3gan.py --workdir=runs/mnist_r3gan \
    --config.data.dir=../shared/data/mnist --config.data.split=test --config.time_budget=7

The official presets anneal lr 2e-4 -> 5e-5, γ 0.05 -> 0.005 and Adam's β2 0.9 -> 0.99 by
cosine over 20M images (and the EMA's half-life and augmentation p, not here yet: a fixed
EMA, no augmentation); this variant anneals the same over its 20,000 steps x 64 images.

Not yet a recipe: on 2 CPU cores its step is ~40x the DCGAN recipe's (configs/mnist.py).
At widths 128 -> 64 -> 32 a step took ~4 s (Intel Xeon, shared cores): ResNeXt's grouped
3x3 convs at full resolution dominate, and XLA:CPU's grouped convs are slow (26 s; the
models run them as shifted views and a batched matmul on CPU, 5.5 s in a bare script).
The time-to-quality board for it waits for the schedules and a GPU.
"""

import ml_collections

from configs import common

LATENT = 64


def get_config(dataset='mnist'):
  """G and D of 61k and 60k parameters: one R3GAN block a stage (1x1 expand, grouped 3x3
  with the official 16 channels a group, 1x1 back), widths 64 -> 32 -> 16."""
  widths, cardinality, blocks = (64, 32, 16), (8, 4, 2), (1, 1, 1)
  model = dict(
      name='r3gan', latent_dim=LATENT,
      generator=dict(widths=widths, cardinality=cardinality, blocks=blocks,
                     noise_dim=LATENT, embed_dim=LATENT, basis_size=7),
      discriminator=dict(widths=widths[::-1], cardinality=cardinality[::-1],
                         blocks=blocks[::-1], embed_dim=widths[0], basis_size=7))
  adam = common.adam(2e-4, b1=0.0, b2=0.9)
  c = common.base(model=model, data_config=common.data(dataset), optimizer=adam)
  c.batch_size = 64
  c.num_steps = 20_000
  c.loss.update(name='relativistic', relativistic='paired')
  c.reg.update(r1=0.05, r2=0.05)
  kimg = c.num_steps * c.batch_size / 1000
  cosine = lambda end: dict(end=end, kimg=kimg)
  c.schedule = ml_collections.ConfigDict(dict(
      reg=dict(r1=cosine(0.005), r2=cosine(0.005)),
      optimizer={net: dict(learning_rate=cosine(5e-5), b2=cosine(0.99)) for net in 'gd'}))
  c.ema_decay = 0.999
  c.fake_labels = 'real'   # conditional: each fake on its paired real's label (official)
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  return c
