r"""StyleGAN2-ADA's `--cfg=cifar` (NVlabs/stylegan2-ada-pytorch train.py), on ganjax's
layer-for-layer port of its networks (ganjax/models/stylegan2.py).

python -m experiments.summary --config=configs/cifar10_stylegan2.py   # G 20,215,315 / D 23,089,664
python -m experiments.train --config=configs/cifar10_stylegan2.py --workdir=runs/cifar10_sg2 \
    --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

As the spec: batch 64, minibatch-std groups of 32, channel_base 32768 (fmaps 1),
channel_max 512, a 2-layer mapping (z, w 512), 'skip' G, 'orig' D with its 8-layer label
mapping, conv_clamp 256, no style mixing and no path length penalty (cifar sets both to
0); the non-saturating logistic loss; R1 γ 0.01 lazily every 16 D updates in an update of
its own (reg.lazy=own_step: D's Adam at lr x 16/17, betas ^ 16/17); G's Adam as the
official one sees it: G_reg_interval 4 stays on with pl_weight 0, so its lr and betas
carry c = 4/5 though its reg phase never updates; Adam(lr 0.0025, betas (0, 0.99), eps
1e-8); G's EMA with a half-life of 500 kimg ramped up at 0.05; 100,000 kimg; ADA (the
official --aug=ada default): the 'bgc' pipeline on every image D sees, p from 0 toward
r_t = E[sign D(x_real)] = 0.6, adjusted every 4 steps by at most 1 per 500 kimg. Not as
the spec: the official fp16 layers run in float32 (model.dtype=bfloat16 is ganjax's
mixed precision). The official cifar runs do not mirror (data.xflip=False, --mirror's
default).
"""

from configs import common
from ganjax.models import stylegan2

IMAGES = 100_000_000
BATCH = 64
G_MB_RATIO = 4 / 5   # G_reg_interval 4: lr x c, betas ^ c (training_loop.py)


def get_config(conditional=True):
  """The spec's networks and training (the class-conditional run unless told)."""
  model = dict(name='stylegan2', conditional=conditional, latent_dim=512,
               generator=dict(stylegan2.CIFAR_G), discriminator=dict(stylegan2.CIFAR_D))
  c = common.base(model=model, data_config=common.data('cifar10'),
                  optimizer=common.adam(0.0025, b1=0.0, b2=0.99))
  c.optimizer.g.update(learning_rate=0.0025 * G_MB_RATIO, b2=0.99 ** G_MB_RATIO)
  c.batch_size = BATCH
  c.num_steps = IMAGES // BATCH
  c.loss.name = 'logistic'
  c.reg.update(r1=0.01, r1_every=16, lazy='own_step')
  c.augment.update(policy='bgc', adaptive=True, target=0.6, kimg=500.0, adjust_every=4)
  c.ema_kimg, c.ema_rampup = 500.0, 0.05
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  c.sample_every = c.checkpoint_every = 5000
  return c
