r"""R3GAN's CIFAR-10 preset (brownvc/R3GAN train.py --preset=CIFAR10 --cond=1 --batch=512),
on ganjax's layer-for-layer port of its networks (ganjax/models/r3gan.py).

python -m experiments.summary --config=configs/cifar10_r3gan.py     # G 20,781,952 / D 21,280,512
python -m experiments.train --config=configs/cifar10_r3gan.py --workdir=runs/cifar10_r3gan \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

As the preset: widths 768 x 4, cardinality 96 x 4, 2 blocks a stage, z of 64 dims, class
embeddings of 64 (G) and 768 (D); RpGAN + R1 + R2 every step; Adam(β1 = 0, eps 1e-8);
over 20M images by cosine: lr 2e-4 -> 5e-5, γ 0.05 -> 0.005, β2 0.9 -> 0.99; batch 512.
G's EMA half-life goes 0 -> 5M images by the same cosine, and so does the augmentation
probability, 0 -> 0.55, of R3GAN's pipeline (augment.policy=r3gan: StyleGAN2-ADA's 'bgc'
with the colour ops at half strength, and cutout); x-flips (the official commands'
--mirror=1). Not as the preset: its bfloat16 stages run in float32 (model.dtype sets all
layers).
num_steps covers the schedules' 20M images; the paper trains longer.
"""

from configs import common
from ganjax.models import r3gan

IMAGES = 20_000_000
BATCH = 512


def get_config(conditional=True):
  """The preset's networks and schedules (the class-conditional run unless told)."""
  return preset_config('cifar10', common.data('cifar10'), conditional, batch=BATCH,
                       gamma=(0.05, 0.005), ema_kimg=5000.0, aug_p=0.55)


def preset_config(preset, data_config, conditional, *, batch, gamma, ema_kimg, aug_p):
  """An R3GAN preset (train.py): its networks, RpGAN + R1 + R2 at γ gamma[0] -> gamma[1],
  lr 2e-4 -> 5e-5, β2 0.9 -> 0.99, the EMA half-life 0 -> ema_kimg and R3GAN's
  augmentation p 0 -> aug_p, by cosine over 20M images; x-flips."""
  nets = r3gan.preset(preset)
  model = dict(name='r3gan', conditional=conditional, latent_dim=64,
               generator=nets['generator'], discriminator=nets['discriminator'])
  c = common.base(model=model, data_config=data_config,
                  optimizer=common.adam(2e-4, b1=0.0, b2=0.9))
  c.batch_size = batch
  c.num_steps = IMAGES // batch
  c.data.xflip = True   # the official commands' --mirror=1
  c.fake_labels = 'real'   # training_loop.py conditions each fake on its paired real's c
  c.loss.update(name='relativistic', relativistic='paired')
  c.reg.update(r1=gamma[0], r2=gamma[0])
  c.ema_kimg = 0.0   # G's EMA half-life: 0 -> ema_kimg by cosine, as the presets
  kimg = IMAGES / 1000
  cosine = lambda end: dict(end=end, kimg=kimg)
  c.schedule.ema_kimg = cosine(ema_kimg)
  c.augment.update(policy='r3gan', p=0.0)
  c.schedule.augment = dict(p=cosine(aug_p))
  c.schedule.reg = dict(r1=cosine(gamma[1]), r2=cosine(gamma[1]))
  c.schedule.optimizer = {net: dict(learning_rate=cosine(5e-5), b2=cosine(0.99))
                          for net in 'gd'}
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  c.sample_every = c.checkpoint_every = 2000
  return c
