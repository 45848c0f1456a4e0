r"""BigGAN at 128x128 on a user's image folder; with class subfolders it is conditional
(shared embedding + cbn in G, projection D), as folder_cgan is.

python -m experiments.train --config=configs/folder_biggan128.py \
    --workdir=runs/folder_biggan128 --config.data.dir=PATH_TO_IMAGES
"""

from configs import cifar10_biggan, common


def get_config():
  """StudioGAN's 128x128 BigGAN widths (conv dims 96), attention at 64x64, z 120."""
  return cifar10_biggan.get_config(common.data('folder', image_size=128), size=128,
                                   conditional='auto')
