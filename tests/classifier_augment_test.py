"""The evaluator classifier's training augmentation: per-image integer shifts with a zero
border (supervised.random_shift), checked against a NumPy translation."""

import jax
import numpy as np
import pytest

from ganjax import run_config, supervised
from ganjax.errors import GanjaxError


def translate(image, dy, dx):
  """[H,W,C] moved down dy, right dx (either sign); uncovered pixels 0."""
  h, w, _ = image.shape
  out = np.zeros_like(image)
  out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
      image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
  return out


def test_each_image_is_its_own_translation_within_the_range():
  rng = np.random.default_rng(0)
  images = rng.uniform(0.1, 1.0, (64, 9, 7, 2)).astype(np.float32)
  shifted = np.asarray(supervised.random_shift(jax.random.PRNGKey(3), images, 2))
  seen = set()
  for image, out in zip(images, shifted):
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
               if np.array_equal(translate(image, dy, dx), out)]
    assert len(offsets) == 1, 'not a single translation by at most 2 pixels'
    seen.add(offsets[0])
  assert len(seen) > 12, f'64 images drew only {len(seen)} of the 25 offsets'


def test_zero_shift_is_the_identity_and_keys_decide_the_draw():
  images = np.random.default_rng(1).uniform(size=(8, 6, 6, 1)).astype(np.float32)
  assert supervised.random_shift(jax.random.PRNGKey(0), images, 0) is images
  a, b, c = (np.asarray(supervised.random_shift(jax.random.PRNGKey(k), images, 1))
             for k in (5, 5, 6))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


@pytest.mark.parametrize('shift', [-1, 1.5, 'two'])
def test_a_bad_shift_is_a_one_line_error(shift):
  from configs import mnist_classifier  # pylint: disable=g-import-not-at-top
  c = mnist_classifier.get_config()
  del c['augment_shift']   # ConfigDict's own type lock would refuse a float first
  c.augment_shift = shift
  with pytest.raises(GanjaxError, match='augment_shift must be a whole number'):
    run_config.validate_supervised(c)
