"""Losses against hand computations in float64 numpy on fixed logits (signs included)."""

import numpy as np
import pytest

from ganjax.objectives import losses
from ganjax.objectives.losses import LossConfig

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(7, 1)).astype(np.float32) * 3
FAKE = RNG.normal(size=(7, 1)).astype(np.float32) * 3
R, F = REAL.astype(np.float64), FAKE.astype(np.float64)


def sigmoid(x):
  return 1 / (1 + np.exp(-x.astype(np.float64)))


def bce(p, y):
  return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def relu(x):
  return np.maximum(x, 0)


def test_bce_matches_reference_including_extreme_logits():
  logits = np.array([-30., -3., 0., 2.5, 30.], np.float32)
  got = np.asarray(losses.bce_with_logits(logits, 0.9))
  # 1 - sigmoid(x) == sigmoid(-x), exact in float64 where 1 - p would round off.
  want = -(0.9 * np.log(sigmoid(logits)) + 0.1 * np.log(sigmoid(-logits)))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert np.isfinite(got).all()


# name -> (config, D's loss by hand, G's loss by hand)
CASES = {
    'bce': (LossConfig('bce', real_label=0.9),
            np.concatenate([bce(sigmoid(R), 0.9), bce(sigmoid(F), 0.0)]).mean(),
            -np.log(sigmoid(F)).mean()),
    'bce_minimax': (LossConfig('bce', generator='minimax', real_label=1.0),
                    np.concatenate([bce(sigmoid(R), 1.0), bce(sigmoid(F), 0.0)]).mean(),
                    np.log(1 - sigmoid(F)).mean()),
    'hinge': (LossConfig('hinge'), relu(1 - R).mean() + relu(1 + F).mean(), -F.mean()),
    'wasserstein': (LossConfig('wasserstein'), F.mean() - R.mean(), -F.mean()),
    'least_squares': (LossConfig('least_squares'),
                      0.5 * ((R - 1) ** 2).mean() + 0.5 * (F ** 2).mean(),
                      0.5 * ((F - 1) ** 2).mean()),
    'least_squares_pearson': (LossConfig('least_squares', ls_a=-1.0, ls_b=1.0, ls_c=0.0),
                              0.5 * ((R - 1) ** 2).mean() + 0.5 * ((F + 1) ** 2).mean(),
                              0.5 * (F ** 2).mean()),
    'relativistic_average': (
        LossConfig('relativistic'),
        0.5 * (-np.log(sigmoid(R - F.mean())).mean() - np.log(1 - sigmoid(F - R.mean())).mean()),
        0.5 * (-np.log(sigmoid(F - R.mean())).mean() - np.log(1 - sigmoid(R - F.mean())).mean())),
    'relativistic_paired': (LossConfig('relativistic', relativistic='paired'),
                            -np.log(sigmoid(R - F)).mean(), -np.log(sigmoid(F - R)).mean()),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_losses_match_hand_computation(case):
  cfg, d_want, g_want = CASES[case]
  np.testing.assert_allclose(losses.d_loss(cfg, real=REAL, fake=FAKE), d_want, rtol=1e-5)
  np.testing.assert_allclose(losses.g_loss(cfg, fake=FAKE, real=REAL), g_want, rtol=1e-5)


@pytest.mark.parametrize('name', ['bce', 'hinge', 'wasserstein', 'least_squares'])
def test_separate_terms_sum_to_the_combined_loss(name):
  cfg = LossConfig(name)
  terms = losses.d_real_term(cfg, REAL) + losses.d_fake_term(cfg, FAKE)
  np.testing.assert_allclose(losses.d_term_weight(cfg) * terms,
                             losses.d_loss(cfg, real=REAL, fake=FAKE), rtol=1e-6)


@pytest.mark.parametrize('case', sorted(CASES))
def test_signs_d_prefers_real_scores_high_and_fake_scores_low(case):
  """D's loss falls as real outputs move towards 'real' and fake ones towards 'fake';
  G's loss falls as the fakes' outputs move towards 'real' (for least squares: halfway to
  the targets b, a and c)."""
  cfg = CASES[case][0]
  if cfg.name == 'least_squares':
    real, fake = (REAL + cfg.ls_b) / 2, (FAKE + cfg.ls_a) / 2
    g_fake = (FAKE + cfg.ls_c) / 2
  else:
    real, fake, g_fake = REAL + 0.5, FAKE - 0.5, FAKE + 0.5
  assert float(losses.d_loss(cfg, real=real, fake=fake)) < float(
      losses.d_loss(cfg, real=REAL, fake=FAKE))
  assert float(losses.g_loss(cfg, fake=g_fake, real=REAL)) < float(
      losses.g_loss(cfg, fake=FAKE, real=REAL))


def test_relativistic_has_no_separate_terms_and_unknown_names_fail():
  with pytest.raises(ValueError, match='d_batch=combined'):
    losses.d_real_term(LossConfig('relativistic'), REAL)
  with pytest.raises(ValueError, match='unknown loss'):
    losses.g_loss(LossConfig('nonsense'), fake=FAKE)
  with pytest.raises(ValueError, match='unknown generator loss'):
    losses.g_loss(LossConfig('bce', generator='wasserstein'), fake=FAKE)


def test_d_metrics_raw_means_sigmoid_means_and_keras_accuracy():
  m = losses.d_metrics(LossConfig('bce'), real=REAL, fake=FAKE)
  np.testing.assert_allclose(m['d_real'], R.mean(), rtol=1e-6)
  np.testing.assert_allclose(m['d_fake_prob'], sigmoid(F).mean(), rtol=1e-6)
  np.testing.assert_allclose(m['d_acc'], 0.5 * ((R > 0).mean() + (F <= 0).mean()))
  hinge = losses.d_metrics(LossConfig('hinge'), real=REAL, fake=FAKE)
  assert set(hinge) == {'d_real', 'd_fake'}
