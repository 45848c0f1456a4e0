r"""Radford et al.'s DCGAN at 64x64 on a user's image folder.

python -m experiments.train --config=configs/folder_dcgan64.py --workdir=runs/folder64 \
    --config.data.dir=PATH_TO_IMAGES
"""

from configs import cifar10_dcgan, common


def get_config():
  """cifar10_dcgan's model, one more upsampling, on a folder of images at 64x64."""
  return cifar10_dcgan.get_config(common.data('folder', image_size=64))
