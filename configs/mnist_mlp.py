r"""The MLP GAN of seed 000 on MNIST: Adam(2e-4, 0.5), batch 128, real label 0.9.

python -m experiments.train --config=configs/mnist_mlp.py --workdir=runs/mnist_mlp \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

from configs import common


def get_config():
  """The seed 000 recipe."""
  model = dict(name='mlp', conditional=False, latent_dim=100,
               generator=dict(hidden=(256, 512, 1024), negative_slope=0.2,
                              first_init_std=0.02),
               discriminator=dict(hidden=(1024, 512, 256), negative_slope=0.2, dropout=0.3,
                                  first_init_std=0.02))
  return common.base(model=model, data_config=common.data('mnist'))
