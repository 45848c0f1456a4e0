r"""SNGAN at 64x64 on a user's image folder; with class subfolders it is conditional
(cbn in G, projection in D), as folder_cgan is.

python -m experiments.train --config=configs/folder_sngan64.py --workdir=runs/folder_sngan64 \
    --config.data.dir=PATH_TO_IMAGES
"""

from configs import cifar10_sngan, common


def get_config():
  """sngan_projection's 64x64 widths (ch=64): G 1024 -> 64, D 64 -> 1024."""
  c = cifar10_sngan.get_config(common.data('folder', image_size=64), size=64,
                               conditional='auto')
  return c
