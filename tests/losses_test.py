"""Losses against a hand-written numpy reference (probabilities, not logits)."""

import numpy as np
import pytest

from ganjax import losses

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(7, 1)).astype(np.float32) * 3
FAKE = RNG.normal(size=(5, 1)).astype(np.float32) * 3


def sigmoid(x):
  return 1 / (1 + np.exp(-x.astype(np.float64)))


def bce(p, y):
  return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_bce_matches_reference_including_extreme_logits():
  logits = np.array([-30., -3., 0., 2.5, 30.], np.float32)
  got = np.asarray(losses.bce_with_logits(logits, 0.9))
  # 1 - sigmoid(x) == sigmoid(-x), exact in float64 where 1 - p would round off.
  want = -(0.9 * np.log(sigmoid(logits)) + 0.1 * np.log(sigmoid(-logits)))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert np.isfinite(got).all()


@pytest.mark.parametrize('real_label', [1.0, 0.9])
def test_discriminator_loss_is_mean_over_concatenation(real_label):
  got = losses.discriminator_loss(real_logits=REAL, fake_logits=FAKE, real_label=real_label)
  want = np.concatenate([bce(sigmoid(REAL), real_label), bce(sigmoid(FAKE), 0.0)]).mean()
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_separate_discriminator_losses():
  np.testing.assert_allclose(
      losses.discriminator_real_loss(real_logits=REAL, real_label=0.9),
      bce(sigmoid(REAL), 0.9).mean(), rtol=1e-5)
  np.testing.assert_allclose(losses.discriminator_fake_loss(fake_logits=FAKE),
                             bce(sigmoid(FAKE), 0.0).mean(), rtol=1e-5)


def test_generator_losses():
  p = sigmoid(FAKE)
  np.testing.assert_allclose(
      losses.generator_loss(fake_logits=FAKE, kind='non_saturating'), -np.log(p).mean(),
      rtol=1e-5)
  np.testing.assert_allclose(
      losses.generator_loss(fake_logits=FAKE, kind='minimax'), np.log(1 - p).mean(),
      rtol=1e-5)
  with pytest.raises(ValueError):
    losses.generator_loss(fake_logits=FAKE, kind='wasserstein')
