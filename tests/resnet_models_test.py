"""Residual GANs (SNGAN, BigGAN): shapes by resolution, parameter counts against
PyTorch-StudioGAN, conditional BN, the projection output, self-attention's permutation
equivariance, bfloat16 compute, orthogonal init, pmap / vmap.

Compiling is what costs here (seconds per program on 2 shared cores, more for init's
random draws): shapes come from jax.eval_shape, most forwards run on random stand-in
variables (`fake_variables`), and real inits are compiled only for the smallest models.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import model_summary
from ganjax.models.attention import SelfAttention
from ganjax.models.biggan import BigGANDiscriminator, BigGANGenerator
from ganjax.models.resnet import ResNetDiscriminator, ResNetGenerator

FAMILIES = {'sngan': (ResNetGenerator, ResNetDiscriminator),
            'biggan': (BigGANGenerator, BigGANDiscriminator)}
# Tiny widths per image side: (G channels, D channels, D downsample, attention side).
TINY = {
    28: ((16, 16, 16), (8, 16, 16), (True, True, False), 14),
    32: ((16,) * 4, (8, 16, 16, 16), (True, True, False, False), 16),
    64: ((16,) * 5, (8, 8, 16, 16, 16), (True,) * 4 + (False,), 32),
    128: ((8,) * 6, (8,) * 6, (True,) * 5 + (False,), 64),
}
LATENT = 16


def labels_for(n, batch=2):
  return jnp.arange(batch, dtype=jnp.int32) % n


def tiny_pair(family, side, **kw):
  g_cls, d_cls = FAMILIES[family]
  g_ch, d_ch, down, attn = TINY[side]
  g = g_cls(image_shape=(side, side, 3), channels=g_ch, attention_resolution=attn, **kw)
  d = d_cls(channels=d_ch, downsample=down, attention_resolution=attn, **kw)
  return g, d


def init_shapes(module, *args):
  """(output, variables) of module.init_with_output as ShapeDtypeStructs (nothing runs)."""
  return jax.eval_shape(functools.partial(module.init_with_output, train=False),
                        jax.random.key(0), *args)


def fake_variables(module, *args, seed=0):
  """Random stand-ins for module's variables: N(0, 1/fan_in) arrays, BN statistics at
  mean 0 and variance 1, SN's σ at 1; no init program to compile."""
  rng = np.random.default_rng(seed)
  def leaf(path, s):
    name = path[-1].key
    if name in ('mean', 'var', 'sigma', 'scale'):
      return jnp.full(s.shape, 0.0 if name == 'mean' else 1.0, s.dtype)
    scale = 1 / np.sqrt(max(1, int(np.prod(s.shape[:-1]))))
    return jnp.asarray(rng.normal(0.0, scale, s.shape), s.dtype)
  return jax.tree_util.tree_map_with_path(leaf, init_shapes(module, *args)[1])


def jit_apply(module, **kw):
  """module.apply(variables, *args, **kw), compiled."""
  return jax.jit(lambda variables, *args: module.apply(variables, *args, **kw))


def jit_init(module, *args):
  return jax.jit(functools.partial(module.init, train=False))(jax.random.key(0), *args)


def param_count(module, *args):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(init_shapes(module,
                                                                         *args)[1]['params']))


@pytest.mark.parametrize('side', [28, 32, 64, 128])
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_shapes(family, side):
  n = 3
  g, d = tiny_pair(family, side, num_classes=n)
  y = labels_for(n)
  images, _ = init_shapes(g, jnp.zeros((2, LATENT)), y)
  assert images.shape == (2, side, side, 3) and images.dtype == jnp.float32
  logits, _ = init_shapes(d, jnp.zeros(images.shape), y)
  assert logits.shape == (2, 1) and logits.dtype == jnp.float32
  if side == 32:
    logits, _ = init_shapes(d.clone(conditioning='acgan'), jnp.zeros(images.shape), y)
    assert logits.shape == (2, 1 + n) and logits.dtype == jnp.float32


def test_concat_conditioning_and_unconditional():
  g, d = tiny_pair('sngan', 28, num_classes=3, conditioning='concat')
  z, y = jnp.ones((2, LATENT)), labels_for(3)
  assert init_shapes(g, z, y)[0].shape == (2, 28, 28, 3)
  logits, variables = init_shapes(d, jnp.zeros((2, 28, 28, 3)), y)
  assert variables['params']['block0']['conv1']['kernel'].shape[2] == 4   # RGB + label plane
  assert logits.shape == (2, 1)
  g, d = tiny_pair('biggan', 28, conditioning='concat')   # no classes: labels may be None
  assert init_shapes(g, z, None)[0].shape == (2, 28, 28, 3)
  assert init_shapes(d, jnp.zeros((2, 28, 28, 3)), None)[0].shape == (2, 1)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_unreachable_sides_are_value_errors(family):
  g, d = tiny_pair(family, 32)
  z = jnp.ones((1, LATENT))
  with pytest.raises(ValueError, match='out of reach'):   # 30 / 2**3 is no integer
    init_shapes(g.clone(image_shape=(30, 30, 3)), z)
  with pytest.raises(ValueError, match='cannot be halved 3 times'):   # 28 -> 14 -> 7 -> ?
    init_shapes(d.clone(downsample=(True, True, True, False), attention_resolution=0),
                jnp.ones((1, 28, 28, 3)))
  with pytest.raises(ValueError, match='attention_resolution 12'):
    init_shapes(g.clone(attention_resolution=12), z)


# Parameter counts of PyTorch-StudioGAN's own models (commit 947b35e, src/models/resnet.py
# and big_resnet.py with src/utils/ops.py), built in torch 2.13 with the CIFAR10/SNGAN.yaml
# and CIFAR10/BigGAN.yaml settings (SNGAN: z_dim 128, g/d_conv_dim 64 -> G 256, D 128;
# BigGAN: z_dim 80, shared 128, conv dims 96, attention after G block 2 and D block 1),
# counting module.parameters() (SN's u and v are buffers there, batch_stats here).
STUDIOGAN_CIFAR10 = {
    # name: (G class, D class, latent, num_classes, G params, D params)
    'sngan uncond': (ResNetGenerator, ResNetDiscriminator, 128, 0, 4_276_739, 1_053_825),
    'sngan cbn+projection': (ResNetGenerator, ResNetDiscriminator, 128, 10, 4_304_387,
                             1_055_105),
    'biggan uncond': (BigGANGenerator, BigGANDiscriminator, 80, 0, 8_825_092, 2_413_250),
    'biggan cbn+projection': (BigGANGenerator, BigGANDiscriminator, 80, 10, 9_416_196,
                              2_415_170),
}


@pytest.mark.parametrize('name', sorted(STUDIOGAN_CIFAR10))
def test_full_width_parameter_counts_match_studiogan(name):
  g_cls, d_cls, latent, n, g_count, d_count = STUDIOGAN_CIFAR10[name]
  y = jnp.zeros((2,), jnp.int32) if n else None
  g = g_cls(image_shape=(32, 32, 3), num_classes=n)
  assert param_count(g, jnp.zeros((2, latent)), y) == g_count
  assert param_count(d_cls(num_classes=n), jnp.zeros((2, 32, 32, 3)), y) == d_count
  if name == 'biggan cbn+projection':   # summary tables list every parameter (attention's γ)
    rows = model_summary.layer_rows(g, jnp.zeros((1, latent)), jnp.zeros((1,), jnp.int32),
                              train=False)
    assert model_summary.totals(rows)[0] == g_count


# One G block, no attention, SN off: an init program's random draws are the costliest
# compiles here (test_tiny_biggan_init).
TINY_G = BigGANGenerator(image_shape=(8, 8, 3), channels=(16, 8), attention_resolution=0,
                         num_classes=3, spectral_norm=False)


def _set_rows(tree, key, row, value):
  """A copy of tree with `row` of every leaf under a `key` node set to value."""
  def visit(path, leaf):
    return leaf.at[row].set(value) if key in [p.key for p in path] else leaf
  return jax.tree_util.tree_map_with_path(visit, tree)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_cbn_uses_the_label_and_only_its_row(family):
  # BigGAN: TINY_G, whose training program test_pmap_batch_norm_... compiles as well.
  g = tiny_pair('sngan', 28, num_classes=3)[0] if family == 'sngan' else TINY_G
  z = jax.random.normal(jax.random.key(1), (4, LATENT))
  y = jnp.array([0, 1, 0, 1], jnp.int32)   # class 2 is unused
  variables = fake_variables(g, z, y)   # random tables: SNGAN's start at gain 1, bias 0
  # SNGAN: every block's per-class gain and bias tables; BigGAN: the shared embedding.
  rows_of = lambda p, row: _set_rows(p, 'embedding' if family == 'sngan' else 'shared',
                                     row, 5.0)
  train = jit_apply(g, train=True, mutable=['batch_stats'])
  run = lambda p, labels: train({**variables, 'params': p}, z, labels)[0]
  params = variables['params']
  base = run(params, y)
  assert base.shape == (4, *g.image_shape) and float(jnp.max(jnp.abs(base))) <= 1.0
  assert float(jnp.max(jnp.abs(run(params, y.at[3].set(2))[3] - base[3]))) > 1e-3
  np.testing.assert_array_equal(run(rows_of(params, 2), y), base)
  assert float(jnp.max(jnp.abs(run(rows_of(params, 1), y)[1] - base[1]))) > 1e-3


def _l2(v):
  return v / np.sqrt(np.sum(v * v) + 1e-12)


def _sn(w, u):
  """nn.SpectralNorm's normalized kernel from its stored u (one power iteration)."""
  w = np.asarray(w, np.float64)
  w2 = w.reshape(-1, w.shape[-1])
  v = _l2(np.asarray(u, np.float64) @ w2.T)
  u = _l2(v @ w2)
  return w / (v @ w2 @ u.T).item()


@pytest.mark.parametrize('spectral_norm', [False, True])
def test_projection_output_by_hand(spectral_norm):
  d = ResNetDiscriminator(channels=(8, 16), downsample=(True, False), num_classes=3,
                          spectral_norm=spectral_norm)
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  y = jnp.array([0, 2, 1, 2], jnp.int32)
  variables = fake_variables(d, x, y)
  out, state = jit_apply(d, train=False, mutable=['intermediates'])(variables, x, y)
  phi = np.asarray(state['intermediates']['features'][0], np.float64)   # φ(x) [B, F]
  head = variables['params']['head']
  psi_w, table = head['psi']['kernel'], head['embed']['embedding']
  if spectral_norm:   # the kernels D used: divided by σ from one step on the stored u
    u = {k: v for s in variables['batch_stats']['head'].values() for k, v in s.items()}
    psi_w, table = _sn(psi_w, u['psi/kernel/u']), _sn(table, u['embed/embedding/u'])
  psi = phi @ np.asarray(psi_w, np.float64) + np.asarray(head['psi']['bias'])
  projection = np.sum(np.asarray(table, np.float64)[np.asarray(y)] * phi, axis=1,
                      keepdims=True)
  assert np.abs(projection).min() > 1e-3   # the class term is really there
  np.testing.assert_allclose(out, psi + projection, rtol=2e-5, atol=1e-5)


@pytest.fixture(scope='module')
def attention_variables():
  """SelfAttention's stand-in variables for 16 channels (the same with and without pool);
  γ is random, not the 0 it starts at, which would make every test below vacuous."""
  x = jnp.zeros((1, 4, 4, 16))
  # No random draws to compile (zero kernels, no SN): γ's own init is the point.
  at_init = jit_init(SelfAttention(spectral_norm=False, kernel_init=jax.nn.initializers.zeros),
                     x)
  assert float(at_init['params']['gate']['gamma']) == 0.0
  variables = fake_variables(SelfAttention(), x)
  assert abs(float(variables['params']['gate']['gamma'])) > 0.1
  return variables


def test_self_attention_is_permutation_equivariant_over_positions(attention_variables):
  b, h, w, c = 2, 4, 6, 16
  x = np.asarray(jax.random.normal(jax.random.key(1), (b, h, w, c)))
  apply = jit_apply(SelfAttention(pool=False), train=False)
  attend = lambda t: np.asarray(apply(attention_variables, t))
  out = attend(x)
  assert np.abs(out - x).max() > 1e-2   # γ·o is not negligible
  perm = np.random.default_rng(0).permutation(h * w)
  shuffled = attend(x.reshape(b, h * w, c)[:, perm].reshape(b, h, w, c))
  restored = shuffled.reshape(b, h * w, c)[:, np.argsort(perm)].reshape(b, h, w, c)
  np.testing.assert_allclose(restored, out, rtol=1e-5, atol=1e-5)


def test_pooled_self_attention_is_equivariant_over_aligned_2x2_blocks(attention_variables):
  b, h, w, c = 2, 4, 6, 16
  x = np.asarray(jax.random.normal(jax.random.key(1), (b, h, w, c)))
  to_blocks = lambda t: t.reshape(b, h // 2, 2, w // 2, 2, c).transpose(
      0, 1, 3, 2, 4, 5).reshape(b, -1, 2, 2, c)
  from_blocks = lambda t: t.reshape(b, h // 2, w // 2, 2, 2, c).transpose(
      0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
  np.testing.assert_array_equal(from_blocks(to_blocks(x)), x)
  apply = jit_apply(SelfAttention(pool=True), train=False)
  attend = lambda t: np.asarray(apply(attention_variables, t))
  out = attend(x)
  perm = np.random.default_rng(0).permutation(h * w // 4)
  shuffled = attend(from_blocks(to_blocks(x)[:, perm]))
  np.testing.assert_allclose(from_blocks(to_blocks(shuffled)[:, np.argsort(perm)]), out,
                             rtol=1e-5, atol=1e-5)
  # A permutation of single pixels changes the pooled keys: no longer equivariant.
  pixels = np.random.default_rng(1).permutation(h * w)
  shuffled = attend(x.reshape(b, h * w, c)[:, pixels].reshape(b, h, w, c))
  restored = shuffled.reshape(b, h * w, c)[:, np.argsort(pixels)].reshape(b, h, w, c)
  assert np.abs(restored - out).max() > 1e-3


def _float32_leaves(tree):
  return all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(tree))


def test_bfloat16_forward_is_close_to_float32():
  # BigGAN's G (one block: hierarchical z, linear CBN, SN, attention with γ random, not 0)
  # and a two-block SNGAN D with the projection output (BigGAN's D is the same code).
  g = BigGANGenerator(image_shape=(16, 16, 3), channels=(16, 16), attention_resolution=16,
                      num_classes=3)
  d = ResNetDiscriminator(channels=(8, 16), downsample=(True, False), num_classes=3)
  g16, d16 = g.clone(dtype=jnp.bfloat16), d.clone(dtype=jnp.bfloat16)
  z, y = jax.random.normal(jax.random.key(1), (4, LATENT)), labels_for(3, 4)
  # Stand-ins shaped and typed by the bfloat16 modules' init: all float32.
  gv, dv = fake_variables(g16, z, y), fake_variables(d16, jnp.zeros((4, 16, 16, 3)), y)
  assert _float32_leaves(gv) and _float32_leaves(dv)
  @functools.partial(jax.jit, static_argnums=(0, 1))
  def forward(g, d, z, y):   # one program per dtype: G training, then D on its images
    images, stats = g.apply(gv, z, y, train=True, mutable=['batch_stats'])
    return images, stats, d.apply(dv, images, y, train=False)
  images, _, logits = forward(g, d, z, y)
  images16, stats16, logits16 = forward(g16, d16, z, y)
  assert images16.dtype == logits16.dtype == jnp.float32 and _float32_leaves(stats16)
  # bfloat16 keeps 8 significant bits: a rounding moves a value by up to 2**-9 (0.2%).
  # Over G's 8 layers they add up like a random walk: measured, the mean |Δ| of the pixels
  # is 0.002 and the largest 0.02; the bounds leave 4x room. D's logits (sums over 8x8
  # positions, of G's bfloat16 images in the bfloat16 run) moved by under 1%; 3% of their
  # scale is allowed. A lost cast or bfloat16 BN statistics would land far above.
  error = np.abs(np.asarray(images16) - np.asarray(images))
  assert 0 < error.mean() < 0.01 and error.max() < 0.08, (error.mean(), error.max())
  scale = float(jnp.max(jnp.abs(logits)))
  np.testing.assert_allclose(logits16, logits, atol=0.03 * scale)


def _orthonormal(kernel):
  w = np.asarray(kernel).reshape(-1, kernel.shape[-1])
  gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
  return np.allclose(gram, np.eye(len(gram)), atol=1e-5)


@pytest.fixture(scope='module')
def tiny_biggan_seeds():
  """TINY_G's variables for two seeds, from one vmapped init; z [4, LATENT], labels [4]."""
  z, y = jax.random.normal(jax.random.key(1), (4, LATENT)), labels_for(3, 4)
  init = jax.jit(jax.vmap(functools.partial(TINY_G.init, train=False), in_axes=(0, None, None)))
  return init(jax.random.split(jax.random.key(0), 2), z, y), z, y


def test_tiny_biggan_init(tiny_biggan_seeds):
  """vmap over seeds gives distinct draws; BigGAN's kernels are orthogonal."""
  seeds, z, y = tiny_biggan_seeds
  kernels = seeds['params']['dense']['kernel']
  assert kernels.shape[0] == 2 and not np.allclose(kernels[0], kernels[1])
  params = jax.tree.map(lambda t: t[1], seeds['params'])
  for kernel in (params['block0']['conv1']['kernel'], params['block0']['shortcut']['kernel'],
                 params['block0']['bn1']['gain']['kernel'], params['dense']['kernel'],
                 params['shared']['embedding'], params['conv_out']['kernel']):
    assert _orthonormal(kernel), kernel.shape
  assert not _orthonormal(np.random.default_rng(0).normal(0, 0.1, (3, 3, 16, 8)))   # can fail


def test_pmap_batch_norm_matches_the_whole_batch(tiny_biggan_seeds):
  seeds, z, y = tiny_biggan_seeds
  variables = jax.tree.map(lambda t: t[0], seeds)
  whole, whole_stats = jit_apply(TINY_G, train=True, mutable=['batch_stats'])(variables, z, y)
  gp = TINY_G.clone(axis_name='batch')
  run = jax.pmap(lambda z, y: gp.apply(variables, z, y, train=True, mutable=['batch_stats']),
                 axis_name='batch', devices=jax.local_devices()[:2])
  split, split_stats = run(z.reshape(2, 2, LATENT), y.reshape(2, 2))
  np.testing.assert_allclose(np.asarray(split).reshape(whole.shape), whole, atol=2e-5)
  # bn2 normalizes a label-dependent input: its statistics need both halves of the batch.
  var = lambda s: s['batch_stats']['block0']['bn2']['bn']['var']
  np.testing.assert_allclose(var(split_stats)[0], var(whole_stats), rtol=1e-5)
