"""The evaluator's classifier for Fashion-MNIST (see configs/mnist_classifier.py)."""

from configs import mnist_classifier


def get_config():
  return mnist_classifier.get_config('fashion_mnist')
