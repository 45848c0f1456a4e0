r"""A conditional MLP GAN on MNIST: the label's Embedding(10, 50) joins z and the image.

python -m experiments.train --config=configs/mnist_mlp_cgan.py --workdir=runs/mnist_mlp_cgan \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

from configs import mnist_mlp


def get_config():
  """Seed 000's recipe, conditioned on the digit."""
  c = mnist_mlp.get_config()
  c.model.conditional = True
  c.model.generator.embed_dim = 50
  c.model.discriminator.embed_dim = 50
  return c
