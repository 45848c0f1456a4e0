r"""A small conditional ResNet GAN for MNIST (SNGAN's blocks at 28x28), trained in minutes
on a laptop CPU: cbn in G, projection D with SN, hinge loss, EMA of G.

python -m experiments.train --config=configs/mnist_resnet.py --workdir=runs/mnist_resnet \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

from configs import common


def get_config(dataset='mnist'):
  """G 7x7x128 -> 14 -> 28 (64 channels); D 28 -> 14 -> 7 -> 7 (64 channels)."""
  model = dict(name='resnet', conditional=True, latent_dim=64,
               generator=dict(channels=(128, 64, 64), conditioning='cbn',
                              attention_resolution=0),
               discriminator=dict(channels=(64, 64, 64), downsample=(True, True, False),
                                  conditioning='projection', attention_resolution=0,
                                  spectral_norm=True))
  c = common.base(model=model, data_config=common.data(dataset),
                  optimizer=common.adam(2e-4, b1=0.0, b2=0.9))
  c.loss.name = 'hinge'
  c.batch_size = 64
  c.num_steps = 5000
  c.ema_decay = 0.999
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 5
  return c
