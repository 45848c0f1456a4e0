"""Regularizers against closed forms: for a linear D(x) = w·x + b, ∇D = w everywhere, so
GP = λ(||w|| - 1)² and R1 = γ/2 ||w||²; LeCam and clipping against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.objectives import regularizers as regs

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4, 4, 2)).astype(np.float32)
Y = RNG.normal(size=(6, 4, 4, 2)).astype(np.float32)


def linear_d(w, b=0.3):
  return lambda x: x.reshape(x.shape[0], -1) @ w[:, None] + b


@pytest.mark.parametrize('scale', [0.05, 1.0, 3.0])
def test_gradient_penalty_closed_form_for_linear_d(scale):
  w = scale * RNG.normal(size=32).astype(np.float32) / np.sqrt(32)
  norm = float(np.linalg.norm(w.astype(np.float64)))
  x_hat = regs.interpolates(X, Y, jnp.asarray(RNG.uniform(size=6), jnp.float32))
  got = regs.gradient_penalty(linear_d(jnp.asarray(w)), x_hat, weight=10.0)
  np.testing.assert_allclose(got, 10.0 * (norm - 1) ** 2, rtol=1e-4, atol=1e-6)
  one_sided = regs.gradient_penalty(linear_d(jnp.asarray(w)), x_hat, weight=10.0,
                                    one_sided=True)
  np.testing.assert_allclose(one_sided, 10.0 * max(norm - 1, 0) ** 2, rtol=1e-4, atol=1e-6)


def test_r1_closed_form_and_gradient_wrt_params():
  w = jnp.asarray(RNG.normal(size=32).astype(np.float32))
  np.testing.assert_allclose(regs.r1_penalty(linear_d(w), X, gamma=0.5),
                             0.25 * float(jnp.sum(w ** 2)), rtol=1e-5)
  # The step differentiates the penalty w.r.t. D's params: d/dw γ/2 ||w||² = γ w.
  grad = jax.grad(lambda w: regs.r1_penalty(linear_d(w), X, gamma=0.5))(w)
  np.testing.assert_allclose(grad, 0.5 * w, rtol=1e-5)


def test_gradient_penalty_at_zero_gradient_is_finite():
  """||∇D|| = 0 (a constant D): the penalty is λ and its gradient is finite (no NaN)."""
  w = jnp.zeros(32)
  x_hat = jnp.asarray(X)
  np.testing.assert_allclose(regs.gradient_penalty(linear_d(w), x_hat, weight=2.0), 2.0)
  grad = jax.grad(lambda w: regs.gradient_penalty(linear_d(w), x_hat, weight=2.0))(w)
  assert np.isfinite(np.asarray(grad)).all()


def test_per_example_norms_of_a_nonlinear_d():
  """D(x) = sum(x²) per example: ∇D(x_i) = 2 x_i."""
  d_fn = lambda x: jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1, keepdims=True)
  np.testing.assert_allclose(regs.input_grad_sq_norms(d_fn, jnp.asarray(X)),
                             4 * np.sum(X.reshape(6, -1) ** 2, axis=1), rtol=1e-5)


def test_interpolates_per_example():
  eps = np.array([0.0, 1.0, 0.5, 0.25, 0.75, 0.1], np.float32)
  got = regs.interpolates(X, Y, jnp.asarray(eps))
  np.testing.assert_allclose(got, eps[:, None, None, None] * X
                             + (1 - eps[:, None, None, None]) * Y, rtol=1e-6)


def test_lecam_against_numpy_and_halves():
  r, f = RNG.normal(size=(5, 1)), RNG.normal(size=(5, 1))
  want_r = np.mean(np.maximum(r - 0.2, 0) ** 2)     # α_F = 0.2
  want_f = np.mean(np.maximum(-0.4 - f, 0) ** 2)    # α_R = -0.4
  both = regs.lecam_penalty(real=r, fake=f, ema_real=-0.4, ema_fake=0.2, weight=0.3)
  np.testing.assert_allclose(both, 0.3 * (want_r + want_f), rtol=1e-5)
  np.testing.assert_allclose(regs.lecam_penalty(real=r, ema_real=-0.4, ema_fake=0.2, weight=1),
                             want_r, rtol=1e-5)
  np.testing.assert_allclose(regs.ema(1.0, 3.0, 0.9), 1.2, rtol=1e-6)


def test_clip_params():
  params = {'a': jnp.array([-1.0, 0.005, 2.0]), 'b': {'c': jnp.array(-0.02)}}
  clipped = regs.clip_params(params, 0.01)
  np.testing.assert_allclose(clipped['a'], [-0.01, 0.005, 0.01])
  np.testing.assert_allclose(clipped['b']['c'], -0.01)
