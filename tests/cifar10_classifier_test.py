"""configs/cifar10_classifier.py: trains on CIFAR-10's binary version and gives the domain
feature space (embedding and class logits) for 32x32x3 images, and only for those."""

import numpy as np
import pytest

from conftest import write_cifar_bins
from ganjax import evaluation, supervised
from ganjax.errors import GanjaxError


def test_trains_and_embeds_cifar_images_only(tmp_path):
  from configs import cifar10_classifier  # pylint: disable=g-import-not-at-top
  c = cifar10_classifier.get_config()
  c.num_steps, c.batch_size, c.log_every, c.checkpoint_every = 3, 16, 3, 3
  c.data.dir = write_cifar_bins(str(tmp_path / 'cifar'), per_file=12)
  workdir = str(tmp_path / 'classifier')
  supervised.train_and_evaluate(c, workdir)

  space = evaluation.feature_space('domain', 'cifar10', classifier=workdir)
  images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  features, logits = space.run(images)
  assert features.shape == (5, c.model.features) and logits.shape == (5, 10)
  assert np.all(np.isfinite(features))
  with pytest.raises(GanjaxError, match='takes .32, 32, 3. images'):
    space.run(np.zeros((2, 28, 28, 1), np.uint8))
