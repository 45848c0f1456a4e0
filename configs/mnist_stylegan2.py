r"""StyleGAN2-ADA at MNIST's size: the official networks (ganjax/models/stylegan2.py) at
32x32 (G's centre 28x28 crop; D pads the digits), narrow; the `--cfg=cifar` training:
the non-saturating logistic loss, lazy R1 every 16 D updates in an update of its own,
Adam(0.0025, betas (0, 0.99)) with the lazy corrections, G's EMA in kimg with rampup.

python -m experiments.train --config=configs/mnist_stylegan2.py --workdir=runs/mnist_sg2 \
    --config.data.dir=../shared/data/mnist --config.data.split=test --config.time_budget=7
"""

from configs import common

LATENT = 64
G_MB_RATIO = 4 / 5   # as cifar10_stylegan2: G_reg_interval 4 with pl_weight 0


def get_config(dataset='mnist'):
  """G and D with 64 -> 64 -> 32 -> 16 channels at 4 -> 32, w 64, a 2-layer mapping."""
  nets = dict(channel_base=512, channel_max=64)
  model = dict(name='stylegan2', latent_dim=LATENT,
               generator=dict(w_dim=LATENT, mapping_layers=2, **nets),
               discriminator=dict(architecture='resnet', mbstd_group_size=4, **nets))
  c = common.base(model=model, data_config=common.data(dataset),
                  optimizer=common.adam(0.0025, b1=0.0, b2=0.99))
  c.optimizer.g.update(learning_rate=0.0025 * G_MB_RATIO, b2=0.99 ** G_MB_RATIO)
  c.batch_size = 64
  c.num_steps = 20_000
  c.loss.name = 'logistic'
  c.reg.update(r1=0.01, r1_every=16, lazy='own_step')
  c.ema_kimg, c.ema_rampup = 10.0, 0.05
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  return c
