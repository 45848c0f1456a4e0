r"""The domain classifier for CIFAR-10: label accuracy, class coverage and a domain FID for
CIFAR-10 GANs where no Inception weights are at hand (see configs/mnist_classifier.py).

python -m experiments.train --config=configs/cifar10_classifier.py \
    --workdir=runs/cifar10_classifier --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz
python -m experiments.evaluate --workdir=runs/cifar10_sngan_cond --features=domain \
    --classifier=runs/cifar10_classifier

It trains on the train split minus a seeded 20% (10,000 images), and writes its accuracy
on those to WORKDIR/heldout.json: 0.690 (2026-12-04, AMD EPYC, 2 cores, 15 min; the
data from ganjax/datasets/cifar10_npm.py). A domain space for comparing runs with each other,
not a substitute for Inception FID against published numbers.
"""

from configs import mnist_classifier


def get_config():
  """mnist_classifier's 3-conv CNN on 32x32x3 (an 8x8x128 map flattened); 5,000 steps."""
  c = mnist_classifier.get_config('cifar10')
  c.num_steps = 5000
  return c
