r"""The objectives compared (issue 14): bce vs hinge + SN vs WGAN-GP vs LSGAN, each with
and without DiffAugment, on seed 004's DCGAN at a quarter of its widths (MNIST).

python -m experiments.train --config=configs/mnist_classifier.py --workdir=runs/mnist_classifier \
    --config.data.dir=../shared/data/mnist --config.data.split=test
python -m experiments.sweep --config=configs/mnist_objectives.py --workdir=runs/objectives \
    --seeds=0-2 --config.data.dir=../shared/data/mnist --config.data.split=test \
    --config.eval.classifier=runs/mnist_classifier

Each loss runs with its paper's optimizer settings (as configs/cifar10_*.py): bce and
LSGAN Adam(2e-4, 0.5) (Radford et al.), hinge + SN Adam(2e-4, 0, 0.9), WGAN-GP
Adam(1e-4, 0.5, 0.9) with 5 critic updates and λ = 10. Equal G steps for all; alternating
updates (seed 004's simultaneous step has no room for k critic updates).
"""

from configs import mnist_dcgan

DIFFAUGMENT = 'color,translation,cutout'


def get_config():
  """mnist_dcgan with G widths (64, 32, 16) and D widths (16, 32), batch 64."""
  c = mnist_dcgan.get_config()
  c.updates = 'alternating'
  c.model.generator.features = (64, 32, 16)
  c.model.discriminator.features = (16, 32)
  c.batch_size = 64
  c.num_steps = 2500
  c.steps_per_dispatch = 10
  c.log_every = 100
  c.sample_every = 500
  c.checkpoint_every = 1250
  c.eval_every = 1250
  c.eval_samples = 5000
  return c


def get_sweep():
  """The 4 objectives x {no augmentation, DiffAugment}."""
  adam = lambda lr, b1, b2: {f'optimizer.{n}.{k}': v for n in ('g', 'd')
                             for k, v in (('learning_rate', lr), ('b1', b1), ('b2', b2))}
  recipes = [
      {'loss.name': 'bce', **adam(2e-4, 0.5, 0.999)},
      {'loss.name': 'hinge', 'model.discriminator.spectral_norm': True, **adam(2e-4, 0.0, 0.9)},
      {'loss.name': 'wasserstein', 'reg.gp': 10.0, 'd_steps': 5, **adam(1e-4, 0.5, 0.9)},
      {'loss.name': 'least_squares', **adam(2e-4, 0.5, 0.999)},
  ]
  return [{**r, 'augment.policy': aug} for r in recipes for aug in ('', DIFFAUGMENT)]

