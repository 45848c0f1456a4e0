"""Mixed precision: every GAN model computes in bfloat16 when given dtype=bfloat16, with
float32 params, statistics, images and logits, and stays close to its float32 self.

Tolerance. bfloat16 keeps 8 significant bits: one rounding has a relative error of at most
u = 2^-9 (round to nearest). A weighted layer (Dense / Conv / ConvTranspose, with its
BatchNorm and activation) puts a value through at most ROUNDINGS_PER_LAYER = 4 of them:
its input (the model's input, or a label plane joined to it), its kernel, the layer's
output (XLA accumulates a dot or convolution in float32 and rounds once), and the
BatchNorm's or activation's output (BatchNorm normalizes in float32; LeakyReLU's slope
product is one rounding, ReLU none). To first order the relative errors of a chain of L
such layers add, each layer passing its input's error on times its relative condition
number, about 1 for these layers at initialization: ReLU, LeakyReLU and tanh do not
amplify relative error, BatchNorm and spectral norm rescale error and signal alike, and
random kernels do not make the errors of different elements add coherently. So, normwise
over the batch,
    ||y_bf16 - y_f32|| / ||y_f32|| <= ROUNDINGS_PER_LAYER * L * u,
2.3% for L = 3 to 3.9% for L = 5. Measured: 0.33-0.88% (1.7-4.5 u; the roundings'
errors are independent, so they grow like a random walk, about sqrt(4 L) u, rather than
the worst case's sum). Exactly 0 would mean the dtype was ignored, and is refused too.
A wrong cast could still fit the bound (float16 would), hence the structural checks:
every dot and convolution of the program, forward and gradients, is bfloat16, and so is
every layer's output but G's final tanh.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from ganjax.models import cgan, dcgan, mlp
from ganjax.models.conv import (DIMS, Conv, ConvTranspose, strided_conv,
                                subpixel_conv_transpose)

BF16 = jnp.dtype(jnp.bfloat16)
U = 2.0 ** -9                 # bfloat16's unit roundoff
ROUNDINGS_PER_LAYER = 4
BATCH = 8

# name -> (factory(**fields) -> module, input shape, conditional, L: weighted layers on the
# longest path from input to output). Tiny widths; some are >= 16 so that the sub-pixel
# formulations pick their 'taps' / input-gradient paths as on real models.
MODELS = {
    'mlp_g': (lambda **kw: mlp.MLPGenerator((8, 8, 1), hidden=(16, 32), batch_norm=True,
                                            num_classes=3, embed_dim=4, **kw),
              (BATCH, 8), True, 3),
    'mlp_d': (lambda **kw: mlp.MLPDiscriminator(hidden=(32, 16), num_classes=3, embed_dim=4,
                                                **kw), (BATCH, 8, 8, 1), True, 3),
    'dcgan28_g': (lambda **kw: dcgan.DCGAN28Generator((8, 8, 1), features=(16, 16, 8), **kw),
                  (BATCH, 8), False, 4),
    'dcgan28_d': (lambda **kw: dcgan.DCGAN28Discriminator(features=(8, 16), **kw),
                  (BATCH, 8, 8, 1), False, 3),
    'radford_g': (lambda **kw: dcgan.RadfordGenerator((16, 16, 3), base_features=8, **kw),
                  (BATCH, 8), False, 3),
    'radford_d': (lambda **kw: dcgan.RadfordDiscriminator(base_features=16, **kw),
                  (BATCH, 16, 16, 3), False, 3),
    'dcgan256_g': (lambda **kw: dcgan.DCGAN256Generator((16, 16, 3), features=(16, 16, 8, 8),
                                                        **kw), (BATCH, 8), False, 5),
    'dcgan256_d': (lambda **kw: dcgan.DCGAN256Discriminator(features=(8, 16, 8), **kw),
                   (BATCH, 16, 16, 3), False, 4),
    'cgan28_g': (lambda **kw: cgan.CGAN28Generator((8, 8, 1), num_classes=3,
                                                          features=16, embed_dim=4, **kw),
                 (BATCH, 8), True, 4),
    'cgan28_d': (lambda **kw: cgan.CGAN28Discriminator(num_classes=3, features=16,
                                                              embed_dim=4, **kw),
                 (BATCH, 8, 8, 1), True, 4),   # label: Embed -> Dense -> 2 convs -> Dense
    'cgan256_g': (lambda **kw: cgan.CGAN256Generator(
        (16, 16, 3), num_classes=3, features=(16, 16, 8, 8), embed_dim=4, **kw),
                  (BATCH, 8), True, 5),
    'cgan256_d': (lambda **kw: cgan.CGAN256Discriminator(
        num_classes=3, features=(8, 16, 8), embed_dim=4, **kw), (BATCH, 16, 16, 3), True, 5),
}
# (spectral_norm, conv_impl) per model: every model once; spectral norm on in each D and in
# two Gs; the sub-pixel convolutions (this repo's own code) in all but two (the XLA
# path is nn.Conv's cast, checked in test_conv_modules_cast_to_dtype).
VARIANTS = {'mlp_g': (False, 'xla'), 'mlp_d': (True, 'xla'),
            'dcgan28_g': (True, 'xla'), 'dcgan28_d': (True, 'subpixel'),
            'radford_g': (True, 'subpixel'), 'radford_d': (True, 'subpixel'),
            'dcgan256_g': (False, 'subpixel'), 'dcgan256_d': (False, 'subpixel'),
            'cgan28_g': (False, 'subpixel'), 'cgan28_d': (True, 'subpixel'),
            'cgan256_g': (False, 'subpixel'), 'cgan256_d': (True, 'subpixel')}
CASES = [pytest.param(name, *VARIANTS[name],
                      id=f'{name}-{"sn" if VARIANTS[name][0] else "plain"}-{VARIANTS[name][1]}')
         for name in MODELS]
WITH_BATCH_NORM = {'mlp_g', 'dcgan28_g', 'radford_g', 'radford_d', 'dcgan256_g', 'cgan256_g'}


def build(name, sn, impl, dtype):
  factory = MODELS[name][0]
  fields = dict(spectral_norm=sn, dtype=dtype, param_dtype=jnp.float32)
  module = factory(**fields)
  if 'conv_impl' in type(module).__dataclass_fields__:
    module = factory(conv_impl=impl, **fields)
  return module


def inputs(name):
  _, shape, cond, _ = MODELS[name]
  x = jax.random.normal(jax.random.PRNGKey(1), shape)
  return x, (jnp.arange(BATCH) % 3 if cond else None)


def apply(module, variables, x, labels, train, **kw):
  """(output, mutated collections) of a train- or eval-mode call, dropout key fixed."""
  return module.apply(variables, x, labels, train=train, mutable=['batch_stats'],
                      rngs={'dropout': jax.random.PRNGKey(2)}, **kw)


@functools.lru_cache(maxsize=None)
def results(name, sn, impl):
  """One compiled program per case (XLA compiles dominate): both models' init, the
  float32 model's params through both in eval and train mode, the bfloat16 model's
  train-mode statistics, gradients and layer outputs."""
  f32, bf16 = build(name, sn, impl, None), build(name, sn, impl, BF16)
  x, labels = inputs(name)

  @jax.jit
  def run(x):
    v32 = f32.init(jax.random.PRNGKey(0), x, labels, train=False)
    v16 = bf16.init(jax.random.PRNGKey(0), x, labels, train=False)
    out = {'v32': v32, 'v16': v16, 'f32_False': apply(f32, v32, x, labels, False)[0],
           'f32_True': apply(f32, v32, x, labels, True)[0],
           'bf16_False': apply(bf16, v32, x, labels, False)[0]}
    out['bf16_True'], state = apply(bf16, v32, x, labels, True, capture_intermediates=True)
    out['layers16'] = state['intermediates']

    def loss(params):
      y, state = apply(bf16, {**v16, 'params': params}, x, labels, True)
      return jnp.sum(y), state

    (_, state), out['grads16'] = jax.value_and_grad(loss, has_aux=True)(v16['params'])
    out['stats16'] = state.get('batch_stats', {})
    return out

  return run(x)


def dtypes_of(tree):
  return {jnp.dtype(a.dtype) for a in jax.tree.leaves(tree)}


@pytest.mark.parametrize('name, sn, impl', CASES)
@pytest.mark.parametrize('train', [False, True])
def test_bfloat16_output_is_float32_and_close_to_float32(name, sn, impl, train):
  r = results(name, sn, impl)
  want, got = r[f'f32_{train}'], r[f'bf16_{train}']
  assert got.dtype == jnp.float32 and want.dtype == jnp.float32
  err = float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want))
  bound = ROUNDINGS_PER_LAYER * MODELS[name][3] * U
  assert 0 < err <= bound, (err, bound)


def _convs_and_dots(jaxpr):
  """Every conv_general_dilated / dot_general equation, sub-jaxprs (jit, custom_vjp,
  remat) included."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in ('conv_general_dilated', 'dot_general'):
      yield eqn
  for sub in jax.extend.core.subjaxprs(jaxpr):
    yield from _convs_and_dots(sub)


def _power_iteration(eqn):
  """Spectral norm's u / v products (a [1, n] operand), float32 on purpose."""
  return any(v.aval.ndim == 2 and v.aval.shape[0] == 1 for v in eqn.invars)


@pytest.mark.parametrize('name, sn, impl', CASES)
def test_every_dot_and_conv_is_bfloat16_forward_and_backward(name, sn, impl):
  bf16 = build(name, sn, impl, BF16)
  x, labels = inputs(name)
  variables = results(name, sn, impl)['v32']
  out_shape = jax.eval_shape(lambda: apply(bf16, variables, x, labels, True)[0]).shape
  cot = jax.random.normal(jax.random.PRNGKey(3), out_shape)

  def loss(params, x):
    return jnp.sum(apply(bf16, {**variables, 'params': params}, x, labels, True)[0] * cot)

  jaxpr = jax.make_jaxpr(jax.grad(loss, (0, 1)))(variables['params'], x).jaxpr
  eqns = list(_convs_and_dots(jaxpr))
  layers = [e for e in eqns if not (sn and _power_iteration(e))]
  # Each weighted layer's forward and its two gradients (x is differentiated too, so the
  # first layer's input gradient is there).
  n_weighted = sum(path[-1].key == 'kernel'
                   for path, _ in jax.tree_util.tree_leaves_with_path(variables['params']))
  assert len(layers) >= 3 * n_weighted, (len(layers), n_weighted)
  wrong = [(e.primitive.name, [str(v.aval) for v in (*e.invars, *e.outvars)])
           for e in layers if {v.aval.dtype for v in (*e.invars, *e.outvars)} != {BF16}]
  assert not wrong, wrong
  power = [e for e in eqns if sn and _power_iteration(e)]
  assert bool(power) == sn
  assert all(v.aval.dtype == jnp.float32 for e in power for v in e.invars)


@pytest.mark.parametrize('name, sn, impl', CASES)
def test_every_layer_output_is_bfloat16(name, sn, impl):
  """Dense / Conv / BatchNorm / LeakyReLU / Dropout / Embed outputs are bfloat16 (no
  silent promotion); only G's tanh (run in float32) and the model's output are float32."""
  outputs = {'/'.join(path[:-1]): leaf
             for path, leaf in _flat(results(name, sn, impl)['layers16'])}
  assert outputs.pop('').dtype == jnp.float32
  # G's last activation is its tanh, the one float32 layer output.
  acts = [p for p in outputs if p.startswith('Activation_')]
  tanh = max(acts, key=lambda p: int(p.split('_')[1])) if name.endswith('_g') else None
  assert tanh is None or outputs[tanh].dtype == jnp.float32
  wrong = {p: str(a.dtype) for p, a in outputs.items() if a.dtype != BF16 and p != tanh}
  assert not wrong, wrong
  kinds = {p.rsplit('/', 1)[-1].split('_')[0] for p in outputs}
  assert 'Activation' in kinds and kinds & {'Dense', 'Conv', 'ConvTranspose'}
  assert ('BatchNorm' in kinds) == (name in WITH_BATCH_NORM)
  assert ('SpectralNorm' in kinds) == sn


def _flat(tree, path=()):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _flat(v, (*path, k))
  elif isinstance(tree, tuple):   # __call__'s outputs
    for v in tree:
      yield path, v
  else:
    yield path, tree


@pytest.mark.parametrize('name, sn, impl', CASES)
def test_params_and_statistics_stay_float32(name, sn, impl):
  r = results(name, sn, impl)
  # The same variables as the float32 model's: checkpoints carry over between dtypes.
  jax.tree.map(np.testing.assert_array_equal, r['v16'], r['v32'])
  assert dtypes_of(r['v16']) == {jnp.dtype(jnp.float32)}
  stats = r['v16'].get('batch_stats', {})
  assert bool(stats) == (sn or name in WITH_BATCH_NORM)
  # A train-mode call's new BatchNorm statistics and spectral norm u / σ, and the
  # gradients, are float32 too.
  assert jax.tree.structure(r['stats16']) == jax.tree.structure(stats)
  assert dtypes_of(r['stats16']) <= {jnp.dtype(jnp.float32)}
  assert dtypes_of(r['grads16']) == {jnp.dtype(jnp.float32)}


@pytest.mark.parametrize('method', ['span', 'taps', 'phases'])
def test_subpixel_formulations_compute_in_bfloat16(method):
  kx, kk, kc = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (2, 5, 6, 16))
  kernel = jax.random.normal(kk, (4, 4, 16, 8)) / 8
  f = lambda x, w: subpixel_conv_transpose(x, w, (2, 2), 'SAME', method)
  want = lax.conv_transpose(x, kernel, (2, 2), 'SAME', dimension_numbers=DIMS)
  got = jax.jit(f)(x.astype(BF16), kernel.astype(BF16))
  assert got.dtype == BF16
  # One layer's budget; 'taps' also rounds 3 partial sums (2x2 taps per phase).
  bound = (ROUNDINGS_PER_LAYER + (3 if method == 'taps' else 0)) * U
  err = float(jnp.linalg.norm(got.astype(jnp.float32) - want) / jnp.linalg.norm(want))
  assert 0 < err <= bound, err   # measured: 1.5 u, 2.0 u for 'taps'
  text = str(jax.make_jaxpr(f)(x.astype(BF16), kernel.astype(BF16)))
  assert 'f32' not in text, text
  # The strided conv's sub-pixel input gradient, in bfloat16 too.
  y = jax.random.normal(kc, (2, 8, 8, 16), BF16)
  k2 = (jax.random.normal(kk, (4, 4, 16, 8)) / 8).astype(BF16)
  pads = tuple(lax.padtype_to_pads((8, 8), (4, 4), (2, 2), 'SAME'))
  dx, dk = jax.grad(lambda y, k: jnp.sum(strided_conv(y, k, (2, 2), pads, method)
                                         .astype(jnp.float32)), (0, 1))(y, k2)
  assert dx.dtype == BF16 and dk.dtype == BF16
  rx, rk = jax.grad(lambda y, k: jnp.sum(lax.conv_general_dilated(
      y, k, (2, 2), pads, dimension_numbers=DIMS)), (0, 1))(y.astype(jnp.float32),
                                                             k2.astype(jnp.float32))
  for g, r in ((dx, rx), (dk, rk)):
    e = float(jnp.linalg.norm(g.astype(jnp.float32) - r) / jnp.linalg.norm(r))
    assert 0 < e <= bound, e     # measured: 0.8-1.6 u


@pytest.mark.parametrize('cls', [Conv, ConvTranspose])
@pytest.mark.parametrize('impl', ['xla', 'subpixel'])
def test_conv_modules_cast_to_dtype(cls, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 16))
  layer = cls(16, (4, 4), (2, 2), impl=impl, dtype=BF16)
  variables = layer.init(jax.random.PRNGKey(1), x)
  assert dtypes_of(variables) == {jnp.dtype(jnp.float32)}
  ref = nn.Conv if cls is Conv else nn.ConvTranspose
  want = ref(16, (4, 4), (2, 2), dtype=BF16).apply(variables, x)
  got = layer.apply(variables, x)
  assert got.dtype == BF16 == want.dtype
  np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32),
                             rtol=0, atol=4 * U * float(jnp.max(jnp.abs(want))))
