r"""StyleGAN2-ADA's `--cfg=auto` spec (NVlabs/stylegan2-ada-pytorch train.py) at 64x64 on
one GPU, on a user's image folder; with class subfolders it is conditional (the official
`--cond=1`), as folder_cgan is.

python -m experiments.summary --config=configs/folder_stylegan2.py   # G 22,243,608 / D 23,407,361
python -m experiments.train --config=configs/folder_stylegan2.py --workdir=runs/folder_sg2 \
    --config.data.dir=PATH_TO_IMAGES

'auto' at res 64, 1 GPU: batch max(min(1 * min(4096 // 64, 32), 64), 1) = 32, minibatch-std
groups min(32, 4) = 4, fmaps 0.5 (channel_base 16384, channel_max 512), lr 0.0025, R1
γ = 0.0002 * 64^2 / 32 = 0.0256, EMA 32 * 10 / 32 = 10 kimg ramped up at 0.05, a 2-layer
mapping, conv_clamp 256, 25,000 kimg. The rest is StyleGAN2Loss's defaults: 'skip' G,
'resnet' D, style mixing 0.9, path length regularization (weight 2, every 4 G updates in
an update of G's own, batch / 2, pl_mean decay 0.01), lazy R1 every 16 D updates in its
own update; both Adams (betas (0, 0.99), eps 1e-8) carry the lazy correction (lr x c,
betas ^ c; G c = 4/5, D c = 16/17). ADA: the 'bgc' pipeline, p from 0 toward r_t = 0.6
every 4 steps, at most 1 per 500 kimg. The official fp16 layers run in float32.
Parameter counts equal the official modules' (unconditional G 22,243,608, D 23,407,361;
with 5 classes, `--config.data.num_classes=5` without a folder: 22,508,824 / 25,773,824).
"""

from configs import common

RESOLUTION = 64
BATCH = 32
IMAGES = 25_000_000


def get_config():
  """The 'auto' spec on data.dir's 64x64 images (conditional when it has subfolders)."""
  fmaps = dict(channel_base=16384, channel_max=512, conv_clamp=256.0)
  model = dict(name='stylegan2', conditional='auto', latent_dim=512,
               generator=dict(w_dim=512, mapping_layers=2, style_mixing_prob=0.9, **fmaps),
               discriminator=dict(architecture='resnet', mbstd_group_size=4, **fmaps))
  c = common.base(model=model, data_config=common.data('folder', image_size=RESOLUTION),
                  optimizer=common.adam(0.0025, b1=0.0, b2=0.99))
  c.batch_size = BATCH
  c.num_steps = IMAGES // BATCH
  c.loss.name = 'logistic'
  c.reg.update(r1=0.0002 * RESOLUTION**2 / BATCH, r1_every=16, lazy='own_step',
               pl_weight=2.0, pl_every=4)
  c.augment.update(policy='bgc', adaptive=True, target=0.6, kimg=500.0, adjust_every=4)
  c.ema_kimg, c.ema_rampup = BATCH * 10 / 32, 0.05
  c.unroll_steps = True  # XLA:CPU's conv gradients are slow inside a loop
  c.steps_per_dispatch = 1
  c.sample_every = c.checkpoint_every = 5000
  return c
