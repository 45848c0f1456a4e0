r"""The conditional GAN of seeds 004/003 on MNIST: Adam(2e-4, 0.5).

python -m experiments.train --config=configs/mnist_cgan.py --workdir=runs/mnist_cgan \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

from configs import common


def get_config(dataset='mnist'):
  """Label planes join G's 7x7 map and D's 28x28 input."""
  model = dict(name='cgan28', conditional=True, latent_dim=100,
               generator=dict(features=128, embed_dim=50, negative_slope=0.2),
               discriminator=dict(features=128, embed_dim=50, negative_slope=0.2,
                                  dropout=0.4))
  c = common.base(model=model, data_config=common.data(dataset))
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 5
  return c
