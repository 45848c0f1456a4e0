r"""Seed 003's conditional GAN on a user's image folder: subfolders are the classes.

python -m experiments.train --config=configs/folder_cgan.py --workdir=runs/folder_cgan \
    --config.data.dir=PATH_TO_CLASS_FOLDERS
"""

from configs import folder_dcgan


def get_config():
  """Label planes join G's S/8 map and D's input; 10 classes at 256x256: G 34,566,743."""
  return folder_dcgan.get_config(conditional=True)
