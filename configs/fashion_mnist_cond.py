r"""configs/mnist_cond.py's recipe on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist_cond.py --workdir=runs/fashion_cond \
    --config.data.dir=PATH_TO_FASHION_IDX --config.time_budget=7

Not measured yet: no Fashion-MNIST files on the machines this was tuned on (and no
network to fetch them); its classifier is configs/fashion_mnist_classifier.py.
"""

from configs import mnist_cond


def get_config():
  """The conditional MNIST recipe on fashion_mnist."""
  return mnist_cond.get_config('fashion_mnist')
