r"""Seed 003's DCGAN on a user's image folder, 256x256 (any size 32..256 divisible by 8).

python -m experiments.train --config=configs/folder_dcgan.py --workdir=runs/folder \
    --config.data.dir=PATH_TO_IMAGES [--config.data.image_size=128]
"""

from configs import common


def get_config(conditional=False):
  """G 34,512,995 (960 non-trainable) and D 921,025 parameters at 256x256x3."""
  name = 'cgan256' if conditional else 'dcgan256'
  d_kernels = (4, 3, 3) if conditional else (4, 4, 4)
  model = dict(name=name, conditional=conditional, latent_dim=128,
               generator=dict(features=(256, 128, 64, 32)),
               discriminator=dict(features=(64, 128, 256), kernels=d_kernels,
                                  negative_slope=0.2, dropout=0.25))
  if conditional:
    model['generator']['embed_dim'] = model['discriminator']['embed_dim'] = 50
  c = common.base(model=model, data_config=common.data('folder', image_size=256,
                                                         holdout=0.2, num_classes=10))
  c.batch_size = 64
  c.d_batch = 'separate'   # seed 003: a real half batch, then a fake half batch
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  return c
