r"""configs/mnist.py's recipe on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist.py --workdir=runs/fashion \
    --config.data.dir=PATH_TO_FASHION_IDX --config.time_budget=7

Not measured yet: no Fashion-MNIST files on the machines this was tuned on (and no
network to fetch them); its classifier is configs/fashion_mnist_classifier.py.
"""

from configs import mnist


def get_config():
  """The MNIST recipe on fashion_mnist."""
  return mnist.get_config('fashion_mnist')
