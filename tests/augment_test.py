"""DiffAugment ops against hand-written numpy loops; p = 0 is the identity; gradients
flow; the same key gives the same augmentation; ADA's p follows r_t."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.objectives import augment

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, size=(5, 8, 8, 3)).astype(np.float32)
ALL = ('color', 'translation', 'cutout')


def test_translation_matches_a_loop_with_zero_fill():
  dy, dx = np.array([0, 1, -1, 2, -3]), np.array([0, -2, 1, 1, 3])
  got = np.asarray(augment.translation(jnp.asarray(X), jnp.asarray(dy), jnp.asarray(dx)))
  want = np.zeros_like(X)
  for i in range(5):
    for r in range(8):
      for c in range(8):
        if 0 <= r + dy[i] < 8 and 0 <= c + dx[i] < 8:
          want[i, r, c] = X[i, r + dy[i], c + dx[i]]
  np.testing.assert_array_equal(got, want)


def test_cutout_zeroes_a_half_side_square_clipped_to_the_frame():
  cy, cx = np.array([0, 4, 8, 2, 7]), np.array([0, 4, 3, 8, 1])
  got = np.asarray(augment.cutout(jnp.asarray(X), jnp.asarray(cy), jnp.asarray(cx)))
  for i in range(5):
    mask = np.ones((8, 8), bool)
    mask[max(cy[i] - 2, 0):max(cy[i] + 2, 0), max(cx[i] - 2, 0):max(cx[i] + 2, 0)] = False
    np.testing.assert_array_equal(got[i][~mask], 0)
    np.testing.assert_array_equal(got[i][mask], X[i][mask])


def test_color_ops_match_diffaugment_formulas():
  u = RNG.uniform(size=5).astype(np.float32)
  b = u[:, None, None, None]
  np.testing.assert_allclose(augment.brightness(X, u), X + (b - 0.5), rtol=1e-6, atol=1e-7)
  mean_c = X.mean(axis=-1, keepdims=True)
  np.testing.assert_allclose(augment.saturation(X, u), (X - mean_c) * 2 * b + mean_c,
                             rtol=1e-5, atol=1e-6)
  mean_i = X.mean(axis=(1, 2, 3), keepdims=True)
  np.testing.assert_allclose(augment.contrast(X, u), (X - mean_i) * (b + 0.5) + mean_i,
                             rtol=1e-5, atol=1e-6)


def test_shapes_kept_identity_at_p0_and_same_key_same_result():
  draws = augment.draw(jax.random.PRNGKey(3), 5, ALL)
  y = augment.apply(jnp.asarray(X), draws, ALL)
  assert y.shape == X.shape and not np.allclose(y, X)
  np.testing.assert_array_equal(augment.apply(jnp.asarray(X), draws, ALL, 0.0), X)
  again = augment.apply(jnp.asarray(X), augment.draw(jax.random.PRNGKey(3), 5, ALL),
                        ALL)
  np.testing.assert_array_equal(y, again)
  other = augment.apply(jnp.asarray(X), augment.draw(jax.random.PRNGKey(4), 5, ALL),
                        ALL)
  assert not np.array_equal(y, other)


def test_probability_applies_each_function_per_sample():
  """At p = 0.5 some samples are translated and some are not, by their own uniforms."""
  cols = augment.columns(('translation',))
  draws = np.zeros((5, len(cols)), np.float32)
  draws[:, cols[('translation', 'dy')]] = 0.99   # the largest shift at 8 px: +1 (dx: -1)
  draws[:, cols[('translation', 'apply')]] = [0.1, 0.9, 0.4, 0.6, 0.0]
  y = np.asarray(augment.apply(jnp.asarray(X), jnp.asarray(draws), ('translation',), 0.5))
  moved = [not np.array_equal(y[i], X[i]) for i in range(5)]
  assert moved == [True, False, True, False, True]
  np.testing.assert_array_equal(y[0, :7, 1:], X[0, 1:, :7])   # out[r, c] = x[r + 1, c - 1]


def test_draws_cover_the_diffaugment_ranges():
  """Shifts in [-4, 4] at 28 px (int(28 / 8 + 0.5)), every one of them drawn."""
  policy = ('translation',)
  cols = augment.columns(policy)
  u = augment.draw(jax.random.PRNGKey(0), 4000, policy)[:, cols[('translation', 'dy')]]
  shifts = np.asarray(augment._integers(u, -4, 4))   # pylint: disable=protected-access
  assert sorted(set(shifts.tolist())) == list(range(-4, 5))


@pytest.mark.parametrize('policy', [('translation',), ('cutout',), ALL])
def test_gradients_flow_through_the_ops(policy):
  """The gradient of sum(aug(x)²) matches a central finite difference along a random
  direction (float64), and for the linear ops (translation, cutout: y = A x) it obeys
  <∇, x> = 2 ||y||²."""
  jax.config.update('jax_enable_x64', True)
  try:
    x = jnp.asarray(X, jnp.float64)
    draws = augment.draw(jax.random.PRNGKey(1), 5, policy)
    f = lambda x: jnp.sum(augment.apply(x, draws, policy) ** 2)
    grad = np.asarray(jax.grad(f)(x))
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    v = jnp.asarray(RNG.normal(size=X.shape))
    fd = (f(x + 1e-5 * v) - f(x - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(np.sum(grad * np.asarray(v)), fd, rtol=1e-6)
    if policy != ALL:
      y = np.asarray(augment.apply(x, draws, policy))
      np.testing.assert_allclose(np.sum(grad * X), 2 * np.sum(y ** 2), rtol=1e-6)
  finally:
    jax.config.update('jax_enable_x64', False)


def test_policy_parsing():
  assert augment.parse_policy(' color, cutout ') == ('color', 'cutout')
  assert augment.parse_policy('') == ()
  with pytest.raises(ValueError, match='flip'):
    augment.parse_policy('color,flip')


def test_ada_p_rises_when_d_overfits_and_falls_when_it_does_not():
  """A fake r_t stream: confident D (r_t = 0.9 > 0.6) for 10 adjustments, then not
  (r_t = 0.2); each adjustment moves p by images / (kimg * 1000) = 0.05."""
  p, trace = 0.0, []
  for r_t in [0.9] * 10 + [0.2] * 4:
    p = float(augment.ada_adjust(p, r_t, target=0.6, images=500, kimg=10))
    trace.append(p)
  np.testing.assert_allclose(trace[:10], 0.05 * np.arange(1, 11), rtol=1e-5)
  np.testing.assert_allclose(trace[10:], [0.45, 0.4, 0.35, 0.3], rtol=1e-5)
  assert float(augment.ada_adjust(0.0, -1.0, target=0.6, images=500, kimg=10)) == 0.0
  assert float(augment.ada_adjust(0.99, 1.0, target=0.6, images=500, kimg=10)) == 1.0


def test_p_defaults_to_0_with_ada_and_1_without():
  """configs.common's augment.p is AUTO_P: ADA starts at 0, DiffAugment runs at 1; an
  explicit p is kept either way."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from configs import common  # pylint: disable=g-import-not-at-top
  aug = lambda **kw: augment.AugmentConfig.from_config(
      ml_collections.ConfigDict(common.augment(policy='color', **kw)))
  assert common.augment()['p'] == augment.AUTO_P
  assert aug().p == 1.0 and aug(adaptive=True).p == 0.0
  assert aug(p=0.2, adaptive=True).p == 0.2 and aug(p=0.3).p == 0.3
  assert aug(p=0.0).p == 0.0 and not aug(p=0.0).active
  assert augment.AugmentConfig.from_config({'policy': 'color', 'adaptive': True}).p == 0.0
