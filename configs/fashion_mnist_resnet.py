r"""configs/mnist_resnet.py on Fashion-MNIST.

python -m experiments.train --config=configs/fashion_mnist_resnet.py \
    --workdir=runs/fashion_mnist_resnet --config.data.dir=PATH_WITH_FASHION_IDX_FILES
"""

from configs import mnist_resnet


def get_config():
  """The MNIST ResNet pair's model and recipe on Fashion-MNIST's 10 classes."""
  return mnist_resnet.get_config('fashion_mnist')
