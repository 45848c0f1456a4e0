"""The sub-pixel transposed convolution equals lax.conv_transpose / nn.ConvTranspose."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from ganjax.models.conv import (DIMS, Conv, ConvTranspose, formulation, resolve_impl,
                                subpixel_conv_transpose, subpixel_input_grad)

# (kernel, stride, padding, in HxW, Cin, Cout): every transposed conv the configs use, plus
# odd sizes and the VALID padding.
CASES = [
    (5, 1, 'SAME', 7, 16, 8),     # mnist_dcgan ConvT 128 5x5 s1
    (5, 2, 'SAME', 7, 16, 8),     # mnist_dcgan ConvT 64 5x5 s2
    (5, 2, 'SAME', 14, 8, 1),     # mnist_dcgan ConvT 1 5x5 s2
    (4, 2, 'SAME', 7, 9, 8),      # mnist_cgan (129 -> 128 channels there)
    (4, 2, 'SAME', 4, 16, 8),     # radford (cifar10_dcgan, folder_dcgan64)
    (4, 2, 'SAME', 32, 8, 3),     # seed 003 at 256x256 (last upsampling)
    (3, 2, 'SAME', 5, 4, 4), (2, 2, 'SAME', 3, 4, 4), (7, 3, 'SAME', 4, 3, 2),
    (4, 2, 'VALID', 5, 4, 4), (5, 3, 'VALID', 4, 3, 2), (1, 2, 'VALID', 3, 2, 2),
]


@pytest.mark.parametrize('method', ['span', 'taps', 'phases'])
@pytest.mark.parametrize('k, s, padding, n, cin, cout', CASES)
def test_forward_and_gradients_match_lax(k, s, padding, n, cin, cout, method):
  kx, kk, kc = jax.random.split(jax.random.PRNGKey(k * 100 + s * 10 + n), 3)
  x = jax.random.normal(kx, (2, n, n + 1, cin))
  kernel = jax.random.normal(kk, (k, k, cin, cout)) / k
  ref = lambda x, w: lax.conv_transpose(x, w, (s, s), padding, dimension_numbers=DIMS)
  got = lambda x, w: subpixel_conv_transpose(x, w, (s, s), padding, method)
  np.testing.assert_allclose(jax.jit(got)(x, kernel), ref(x, kernel), rtol=1e-5, atol=1e-5)
  cot = jax.random.normal(kc, ref(x, kernel).shape)
  loss = lambda f: lambda x, w: jnp.sum(f(x, w) * cot)
  grads = lambda f: jax.jit(jax.grad(loss(f), (0, 1)))(x, kernel)
  for a, b in zip(grads(got), grads(ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', ['xla', 'subpixel'])
@pytest.mark.parametrize('k, features', [(5, 4), (4, 16)])   # (4, 16): tight windows
def test_module_shares_params_and_output_with_flax(impl, k, features):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 7, 5))
  ours = ConvTranspose(features, (k, k), (2, 2), 'SAME', impl=impl)
  flax_conv = nn.ConvTranspose(features, (k, k), (2, 2), 'SAME')
  params = flax_conv.init(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(
      jnp.shape, params)
  np.testing.assert_allclose(ours.apply(params, x), flax_conv.apply(params, x), rtol=1e-5,
                             atol=1e-5)


# (kernel, stride, padding, in HxW, Cin, Cout): every strided conv in the configs' Ds, plus
# odd sizes and VALID padding. Cin >= 16 takes the sub-pixel input gradient under 'auto'.
STRIDED = [
    (5, 2, 'SAME', 14, 16, 8),    # mnist_dcgan D Conv 128 5x5 s2 (64 -> 128 there)
    (5, 2, 'SAME', 28, 1, 4),     # mnist_dcgan D's first layer: XLA's gradient under auto
    (4, 2, 'SAME', 8, 16, 8),     # radford and seed 003 Ds: tight windows, the taps path
    (3, 2, 'SAME', 14, 16, 8),    # mnist_cgan D, seed 003's conditional D
    (4, 2, 'VALID', 9, 16, 4), (3, 2, 'SAME', 7, 16, 3), (5, 3, 'SAME', 11, 16, 5),
]


def _lhs_dilated(fn, *args):
  """Whether fn's jaxpr holds a convolution of a stride-dilated input (XLA's slow path)."""
  text = str(jax.make_jaxpr(fn)(*args))
  return any(f'lhs_dilation=({d}, {d})' in text for d in (2, 3))


@pytest.mark.parametrize('impl, library', [('auto', 'ynn'), ('auto', 'eigen'),
                                           ('subpixel', 'eigen')])
@pytest.mark.parametrize('k, s, padding, n, cin, cout', STRIDED)
def test_conv_equals_flax_conv_forward_and_gradients(k, s, padding, n, cin, cout, impl,
                                                     library, monkeypatch):
  from ganjax import xla_cpu  # pylint: disable=g-import-not-at-top
  if library == 'eigen':   # the formulation follows XLA_FLAGS ('phases' on Eigen)
    monkeypatch.setenv('XLA_FLAGS', xla_cpu.EIGEN_CONVS)
  kx, kp, kc = jax.random.split(jax.random.PRNGKey(k * 100 + s * 10 + n), 3)
  x = jax.random.normal(kx, (2, n, n + 1, cin))
  flax_conv = nn.Conv(cout, (k, k), (s, s), padding)
  ours = Conv(cout, (k, k), (s, s), padding, impl=impl)
  params = flax_conv.init(kp, x)
  assert jax.tree.map(jnp.shape, ours.init(kp, x)) == jax.tree.map(jnp.shape, params)
  np.testing.assert_array_equal(ours.apply(params, x), flax_conv.apply(params, x))
  cot = jax.random.normal(kc, flax_conv.apply(params, x).shape)
  loss = lambda m: lambda p, x: jnp.sum(m.apply(p, x) * cot)
  got, want = (jax.jit(jax.grad(loss(m), (0, 1)))(params, x) for m in (ours, flax_conv))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  sub = impl == 'subpixel' or (impl == 'auto' and cin >= 16)   # tests run on the CPU
  assert _lhs_dilated(jax.grad(loss(ours), 1), params, x) == (not sub)


def test_subpixel_input_grad_for_strided_convs_with_channels():
  assert subpixel_input_grad((2, 2), 64)
  assert not subpixel_input_grad((2, 2), 3)    # an RGB image's gradient: cheap either way
  assert not subpixel_input_grad((1, 1), 64)   # no dilation to avoid


def test_formulation_per_conv_library(monkeypatch):
  from ganjax import xla_cpu  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')   # YNNPACK
  assert formulation((4, 4), (2, 2), 'SAME', 64) == 'taps'   # 2x2 windows instead of 3x3
  assert formulation((5, 5), (2, 2), 'SAME', 64) == 'span'   # 3x3 windows either way
  assert formulation((4, 4), (2, 2), 'SAME', 3) == 'span'    # to RGB: XLA's conv is faster
  monkeypatch.setenv('XLA_FLAGS', xla_cpu.EIGEN_CONVS)
  assert formulation((4, 4), (2, 2), 'SAME', 64) == formulation((5, 5), (2, 2), 'SAME',
                                                                 64) == 'phases'
  assert formulation((4, 4), (2, 2), 'SAME', 3) == 'span'


def test_auto_picks_subpixel_on_cpu_only():
  assert resolve_impl('auto', 'cpu') == 'subpixel'
  assert resolve_impl('auto', 'gpu') == resolve_impl('auto', 'tpu') == 'xla'
  assert resolve_impl('xla', 'cpu') == 'xla'
  with pytest.raises(ValueError):
    resolve_impl('fast')


@pytest.mark.slow
def test_checkpoint_from_one_impl_generates_the_same_with_the_other(tmp_path):
  import subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  from conftest import MNIST_DIR, REPO  # pylint: disable=g-import-not-at-top
  from configs import mnist_dcgan  # pylint: disable=g-import-not-at-top
  from ganjax import train  # pylint: disable=g-import-not-at-top
  c = mnist_dcgan.get_config()
  c.batch_size, c.num_steps, c.steps_per_dispatch = 8, 2, 2
  c.data.dir, c.data.split, c.conv_impl = MNIST_DIR, 'test', 'subpixel'
  train.train_and_evaluate(c, str(tmp_path / 'run'))
  images = {}
  for impl in ('xla', 'subpixel'):
    proc = subprocess.run([sys.executable, '-m', 'experiments.generate',
                           f'--workdir={tmp_path}/run', '--num=6', f'--conv_impl={impl}',
                           f'--out={tmp_path}/{impl}'], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    images[impl] = np.load(f'{tmp_path}/{impl}.npz')['images'].astype(int)
  assert images['xla'].std() > 0
  assert np.abs(images['xla'] - images['subpixel']).max() <= 1  # uint8 rounding at most


@pytest.mark.parametrize('method', ['span', 'phases'])
def test_gradient_penalty_through_the_subpixel_input_gradient_matches_xla(method):
  """R1 / WGAN-GP differentiate D's input gradient w.r.t. its kernel: a gradient of the
  custom VJP's backward rule. It equals the same through XLA's own convolution."""
  from ganjax.models.conv import strided_conv  # pylint: disable=g-import-not-at-top
  kx, kk = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (3, 8, 8, 16))
  kernel = jax.random.normal(kk, (4, 4, 16, 8)) / 8
  pads = ((1, 1), (1, 1))

  def penalty(conv):
    def r1(w):
      d = lambda x: jnp.sum(jnp.tanh(conv(x, w)) ** 2)   # a nonlinear "D"
      g = jax.grad(d)(x)
      return jnp.sum(g ** 2)
    return jax.jit(jax.value_and_grad(r1))(kernel)

  ref = penalty(lambda x, w: lax.conv_general_dilated(x, w, (2, 2), pads,
                                                      dimension_numbers=DIMS))
  got = penalty(lambda x, w: strided_conv(x, w, (2, 2), pads, method))
  np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
  np.testing.assert_allclose(got[1], ref[1], rtol=1e-4, atol=1e-5)
