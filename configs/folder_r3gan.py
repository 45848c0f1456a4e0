r"""R3GAN's FFHQ-64 preset (brownvc/R3GAN train.py --preset=FFHQ-64 --batch=256) on a
user's 64x64 image folder; with class subfolders it is conditional (as folder_cgan is).

python -m experiments.summary --config=configs/folder_r3gan.py   # G 22,429,824 / D 22,381,440
python -m experiments.train --config=configs/folder_r3gan.py --workdir=runs/folder_r3gan \
    --config.data.dir=PATH_TO_IMAGES

As the preset: widths 768 x 4 then 384, cardinality 96 x 4 then 48, 2 blocks a stage;
RpGAN + R1 + R2 with γ 2 -> 0.2, lr 2e-4 -> 5e-5, β2 0.9 -> 0.99 and the EMA half-life
0 -> 500 kimg and R3GAN's augmentation p 0 -> 0.3, by cosine over 20M images; batch 256;
x-flips. Not as the preset: its bfloat16 stages run in float32.
"""

from configs import cifar10_r3gan, common


def get_config():
  """The FFHQ-64 preset on data.dir's images (conditional when it has subfolders)."""
  return cifar10_r3gan.preset_config('ffhq64', common.data('folder', image_size=64),
                                     'auto', batch=256, gamma=(2.0, 0.2), ema_kimg=500.0,
                                     aug_p=0.3)
