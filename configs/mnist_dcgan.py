r"""The DCGAN of seed 004 (the TF DCGAN tutorial) on MNIST: Adam 1e-4, batch 128.

python -m experiments.train --config=configs/mnist_dcgan.py --workdir=runs/mnist_dcgan \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

from configs import common


def get_config(dataset='mnist'):
  """Seed 004: G 2,330,944 and D 212,865 parameters (Keras counts)."""
  model = dict(name='dcgan28', conditional=False, latent_dim=100,
               generator=dict(features=(256, 128, 64), kernel=5, negative_slope=0.3),
               discriminator=dict(features=(64, 128), kernel=5, negative_slope=0.3,
                                  dropout=0.3))
  c = common.base(model=model, data_config=common.data(dataset),
                  optimizer=common.adam(1e-4, b1=0.9))
  c.loss.real_label = 1.0  # the tutorial uses plain ones for real images
  c.updates = 'simultaneous'  # the tutorial's train_step: both gradients from one pass
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 5
  return c
