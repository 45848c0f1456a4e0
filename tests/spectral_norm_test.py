"""Spectral normalization: after enough power iterations the normalized kernel's largest
singular value (numpy SVD) is 1 ± 1e-3, for Dense and (strided) Conv kernels; u moves
only when a training call's statistics are kept."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.models.conv import Conv
from ganjax.models.layers import spectral


class Wrapped(nn.Module):
  """One layer, spectrally normalized as the models do it."""
  make: object

  @nn.compact
  def __call__(self, x, train):
    return spectral(self.make(), True, train)(x)


def _iterate(model, x, n):
  variables = model.init(jax.random.PRNGKey(0), x, False)
  params = jax.tree.map(lambda p: 3.0 * p, variables['params'])  # far from norm 1
  stats = variables['batch_stats']
  step = jax.jit(lambda s: model.apply({'params': params, 'batch_stats': s}, x, True,
                                       mutable=['batch_stats'])[1]['batch_stats'])
  for _ in range(n):
    stats = step(stats)
  return params, stats


def test_dense_kernel_has_unit_spectral_norm():
  model = Wrapped(lambda: nn.Dense(12, use_bias=False))
  eye = jnp.eye(20)
  params, stats = _iterate(model, eye, 100)
  # A bias-free Dense maps the identity to its (normalized) kernel.
  normalized = np.asarray(model.apply({'params': params, 'batch_stats': stats}, eye, False))
  raw = np.linalg.svd(np.asarray(params['Dense_0']['kernel']), compute_uv=False)[0]
  assert raw > 1.5
  np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, atol=1e-3)


@pytest.mark.parametrize('strides', [(1, 1), (2, 2)])
def test_conv_kernel_has_unit_spectral_norm(strides):
  model = Wrapped(lambda: Conv(6, (3, 3), strides, 'VALID', use_bias=False, impl='xla'))
  cin = 4
  # One-hot 3x3xCin images: a VALID 3x3 conv maps each to one row of the kernel matrix.
  basis = jnp.eye(9 * cin).reshape(9 * cin, 3, 3, cin)
  params, stats = _iterate(model, basis, 100)
  rows = np.asarray(model.apply({'params': params, 'batch_stats': stats}, basis, False))
  normalized = rows.reshape(9 * cin, 6)
  raw = np.asarray(params['Conv_0']['kernel']).reshape(9 * cin, 6)
  # The layer computes with the kernel divided by (an estimate of) its largest singular value.
  np.testing.assert_allclose(normalized * np.linalg.svd(raw, compute_uv=False)[0], raw,
                             rtol=2e-3, atol=1e-5)
  np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, atol=1e-3)


def test_u_is_stored_only_by_training_calls_with_kept_statistics():
  model = Wrapped(lambda: nn.Dense(5))
  x = jnp.ones((3, 7))
  variables = model.init(jax.random.PRNGKey(0), x, False)
  _, inference = model.apply(variables, x, False, mutable=['batch_stats'])
  _, training = model.apply(variables, x, True, mutable=['batch_stats'])
  u0 = variables['batch_stats']['SpectralNorm_0']['Dense_0/kernel/u']
  np.testing.assert_array_equal(inference['batch_stats']['SpectralNorm_0']['Dense_0/kernel/u'],
                                u0)
  assert not np.array_equal(training['batch_stats']['SpectralNorm_0']['Dense_0/kernel/u'], u0)
