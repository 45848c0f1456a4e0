"""StyleGAN2-ADA's 'bgc' pipeline (ada_augment.py) against the official AugmentPipe's
outputs on recorded draws (tests/fixtures/ada_bgc.npz, written by
benchmarks/ada_fixture.py from NVlabs/stylegan2-ada-pytorch) within 1e-4; p = 0 is the
identity; single transforms against hand-written numpy; gradients flow; a pmap device's
rows of a global draw give the global result's rows; 'bgc' as augment.policy."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_official_fixture
from ganjax.models.stylegan2 import OFFICIAL_COMMIT
from ganjax.objectives import ada_augment, augment

FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'ada_bgc.npz'
APPLY = jax.jit(ada_augment.apply, static_argnums=3)   # p traced: one compile per shape
K = len(ada_augment.COLUMNS)


@pytest.fixture(scope='module')
def fixture():
  return load_official_fixture(FIXTURE, OFFICIAL_COMMIT)


def only(batch, **columns):
  """Draws [batch, K] where every gate is off at p < 0.99 except those set in columns."""
  d = np.full((batch, K), 0.99, np.float32)
  for name, value in columns.items():
    d[:, ada_augment.COL[name]] = value
  return jnp.asarray(d)


@pytest.mark.parametrize('case', ['rgb16/p1.0', 'rgb16/p0.5', 'rgb16/p0.2', 'gray28/p1.0',
                                  'gray28/p0.5', 'rgb16_r3gan/p1.0', 'rgb16_r3gan/p0.55'])
def test_equals_the_official_pipe_on_its_recorded_draws(fixture, case):
  x, y = fixture[case.split('/')[0] + '/x'], fixture[case + '/y']
  draws, normal = fixture[case + '/draws'], fixture[case + '/normal']
  # The official call order is ada_augment's column order (grayscale: no hue, saturation).
  kinds = np.array([kind == 'n' for _, kind in ada_augment.COLUMNS], np.float32)
  np.testing.assert_array_equal(normal, kinds[:draws.shape[1]])
  filler = np.zeros((len(x), K - draws.shape[1]), np.float32)   # gates on: must be unused
  pipeline = 'r3gan' if 'r3gan' in case else 'bgc'
  got = APPLY(jnp.asarray(x), jnp.asarray(np.concatenate([draws, filler], 1)),
              float(case.split('/p')[1]), pipeline)
  assert np.abs(np.asarray(got) - y).max() <= 1e-4


def test_p0_is_the_identity_fixed_or_traced(fixture):
  x = jnp.asarray(fixture['rgb16/x'])
  draws = ada_augment.draw(jax.random.PRNGKey(0), len(x))
  assert ada_augment.apply(x, draws, 0.0) is x
  np.testing.assert_array_equal(APPLY(x, draws, jnp.float32(0.0)), x)
  gray = jnp.asarray(fixture['gray28/x'])
  np.testing.assert_array_equal(APPLY(gray, draws[:len(gray)], 0.0), gray)


def test_integer_translation_is_a_shift_of_the_reflected_image(fixture):
  """xint only, (tx, ty) = (1, -2) px: out[r, c] = x[r + 2, c - 1], reflected at the edge."""
  x = fixture['rgb16/x']
  got = APPLY(jnp.asarray(x), only(len(x), xint_on=0.0, xint_x=0.75, xint_y=0.0), 0.5)
  want = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode='reflect')[:, 4:20, 1:17]
  np.testing.assert_allclose(got, want, atol=1e-5)


def _mirror_through_sym6(x):
  """The official x-flip in numpy, along W: reflect pad by W - 1, 2x upsample with sym6
  (zero insertion, pad (6, 5), convolution), mirror about the centre, downsample with
  sym6 (correlation, crop 1, every other sample). sym6 is asymmetric, so this is not an
  exact pixel mirror. Along H the same filters' round trip is the identity."""
  f = np.asarray(ada_augment.SYM6, np.float64) / np.sum(ada_augment.SYM6)
  n = x.shape[2]
  out = np.zeros_like(x)
  for b, r, c in np.ndindex(x.shape[0], x.shape[1], x.shape[3]):
    z = np.zeros(2 * (3 * n - 2))
    z[::2] = np.pad(x[b, r, :, c], n - 1, mode='reflect')
    up = np.convolve(np.pad(z, (6, 5)), 2 * f, mode='valid')
    grid = 2 * (n + 6)
    mirrored = up[(grid + len(up)) // 2 - 2 - np.arange(grid)]
    out[b, r, :, c] = np.correlate(mirrored, f, mode='valid')[1::2][:n]
  return out


def test_xflip_is_a_mirror_through_the_sym6_filters(fixture):
  x = fixture['rgb16/x']
  got = np.asarray(APPLY(jnp.asarray(x), only(len(x), xflip_on=0.0, xflip=0.75), 0.5))
  np.testing.assert_allclose(got, _mirror_through_sym6(x), atol=1e-5)
  assert np.abs(got - x[:, :, ::-1]).max() < 0.2   # near a mirror: these images are smooth
  np.testing.assert_array_equal(APPLY(jnp.asarray(x), only(len(x), xflip_on=0.0, xflip=0.25),
                                      0.5), x)   # drawn but i = 0: the identity


def test_colour_transforms_match_their_formulas(fixture):
  """Brightness adds b = 0.2 n; contrast scales by 2^(0.5 n); saturation scales the
  distance from the pixel's channel mean by 2^n; lumaflip reflects through the luma
  plane (grayscale: negates)."""
  x, gray = fixture['rgb16/x'], fixture['gray28/x']
  cases = [(dict(brightness_on=0.0, brightness=1.5), x + 0.3, gray + 0.3),
           (dict(contrast_on=0.0, contrast=2.0), 2 * x, 2 * gray),
           (dict(saturation_on=0.0, saturation=-1.0),
            (x + x.mean(-1, keepdims=True)) / 2, gray),
           (dict(lumaflip_on=0.0, lumaflip=0.5), x - 2 * x.mean(-1, keepdims=True), -gray)]
  for columns, want, want_gray in cases:
    np.testing.assert_allclose(APPLY(jnp.asarray(x), only(len(x), **columns), 0.5), want,
                               atol=1e-5)
    np.testing.assert_allclose(APPLY(jnp.asarray(gray), only(len(gray), **columns), 0.5),
                               want_gray, atol=1e-5)


def test_gradients_flow_through_the_pipeline(fixture):
  x = jnp.asarray(fixture['rgb16/x'])
  draws = ada_augment.draw(jax.random.PRNGKey(1), len(x))
  grad = jax.jit(jax.grad(lambda x, p: jnp.sum(jnp.sin(3 * ada_augment.apply(x, draws, p)))))
  g = np.asarray(grad(x, jnp.float32(0.8)))
  assert np.all(np.isfinite(g)) and np.abs(g).max(axis=(1, 2, 3)).min() > 0
  assert not np.allclose(g, 3 * np.cos(3 * np.asarray(x)), atol=1e-3)   # not the identity's


def test_same_key_same_draws_and_a_devices_rows_give_its_rows(fixture):
  x = jnp.asarray(fixture['rgb16/x'])
  draws = ada_augment.draw(jax.random.PRNGKey(2), len(x))
  np.testing.assert_array_equal(draws, ada_augment.draw(jax.random.PRNGKey(2), len(x)))
  assert not np.array_equal(draws, ada_augment.draw(jax.random.PRNGKey(3), len(x)))
  assert draws.shape == (len(x), K)
  u = np.asarray(draws)[:, [i for i, (_, kind) in enumerate(ada_augment.COLUMNS)
                            if kind == 'u']]
  assert u.min() >= 0 and u.max() < 1
  whole = np.asarray(APPLY(x, draws, 0.7))
  assert not np.allclose(whole, x)
  for rows in (slice(0, 4), slice(4, 8)):   # two devices, 4 rows each
    np.testing.assert_allclose(APPLY(x[rows], draws[rows], 0.7), whole[rows], atol=1e-6)


def test_bgc_is_a_policy_of_its_own(fixture):
  assert augment.parse_policy(' bgc ') == ('bgc',)
  with pytest.raises(ValueError, match='goes alone'):
    augment.parse_policy('bgc,color')
  with pytest.raises(ValueError, match='unknown'):
    augment.parse_policy('bgcx')
  x = jnp.asarray(fixture['rgb16/x'])
  draws = augment.draw(jax.random.PRNGKey(4), len(x), ('bgc',))
  np.testing.assert_array_equal(draws, ada_augment.draw(jax.random.PRNGKey(4), len(x)))
  np.testing.assert_array_equal(augment.apply(x, draws, ('bgc',), 0.0), x)
  cfg = augment.AugmentConfig.from_config({'policy': 'bgc', 'adaptive': True})
  assert cfg.policy == ('bgc',) and cfg.active and cfg.p == 0.0
