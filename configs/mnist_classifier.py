r"""The evaluator's classifier for MNIST (domain FID, class coverage, label accuracy).

python -m experiments.train --config=configs/mnist_classifier.py --workdir=runs/mnist_classifier \
    --config.data.dir=../shared/data/mnist --config.data.split=test

It trains on the data split minus a seeded `holdout` fraction, and writes its held-out
accuracy to WORKDIR/heldout.json. Evaluate GANs with --classifier=WORKDIR.
"""

import ml_collections

from configs import common


def get_config(dataset='mnist'):
  """A 3-conv CNN, 128-d penultimate embedding; Adam 1e-3, batch 128, 3,000 steps."""
  c = ml_collections.ConfigDict()
  c.task = 'classifier'
  c.seed = 0
  c.batch_size = 128
  c.num_steps = 3000
  c.holdout = 0.2
  c.log_every = 100
  c.checkpoint_every = 1000
  c.keep_checkpoints = 2
  c.model = ml_collections.ConfigDict(dict(name='classifier', channels=(32, 64, 128),
                                           features=128, dropout=0.3))
  c.optimizer = ml_collections.ConfigDict(dict(learning_rate=1e-3))
  c.data = common.data(dataset)
  return c
