"""StyleGAN2-ADA in ganjax: parameter counts of the official `--cfg=cifar` networks, and
outputs equal to the official code's (tests/fixtures/stylegan2_small.npz, written by
benchmarks/stylegan2_fixture.py from NVlabs/stylegan2-ada-pytorch) within 1e-4."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_official_fixture
from ganjax.models import stylegan2 as sg

FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'stylegan2_small.npz'
TOL = 1e-4


def param_count(module, *inputs):
  """Trainable parameters (the 'params' collection; buffers live in batch_stats)."""
  shapes = jax.eval_shape(lambda: module.init({'params': jax.random.key(0)}, *inputs,
                                              train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(shapes['params']))


@pytest.mark.parametrize('classes, g_count, d_count', [
    (10, 20_215_315, 23_089_664),   # official Generator / Discriminator(architecture='orig')
    (0, 19_947_539, 20_720_641),
])
def test_cifar_parameter_counts_equal_the_official(classes, g_count, d_count):
  z, x = jnp.zeros((2, 512)), jnp.zeros((2, 32, 32, 3))
  labels = jnp.zeros((2,), jnp.int32) if classes else None
  g = sg.StyleGAN2Generator((32, 32, 3), num_classes=classes, **sg.CIFAR_G)
  d = sg.StyleGAN2Discriminator(num_classes=classes, **sg.CIFAR_D)
  assert param_count(g, z, labels) == g_count
  assert param_count(d, x, labels) == d_count


def test_cifar_mapping_and_synthesis_split():
  g = sg.StyleGAN2Generator((32, 32, 3), num_classes=10, **sg.CIFAR_G)
  shapes = jax.eval_shape(lambda: g.init({'params': jax.random.key(0)}, jnp.zeros((2, 512)),
                                         jnp.zeros((2,), jnp.int32), train=False))
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))
  assert count(shapes['params']['mapping']) == 793_088
  assert count(shapes['params']['synthesis']) == 19_422_227
  assert set(shapes['batch_stats']) == {'mapping', 'synthesis'}   # w_avg, noise_const


@pytest.fixture(scope='module')
def fixture():
  """The fixture's arrays and the small networks' keyword arguments."""
  arrays = load_official_fixture(FIXTURE, sg.OFFICIAL_COMMIT)
  return arrays, json.loads(str(arrays['meta/config']))


def official(arrays, net):
  """{official tensor name: array} of one fixture network."""
  return {k.split('/', 1)[1]: v for k, v in arrays.items() if k.startswith(net + '/')}


def small_g(config, net, conv_impl='auto'):
  """The ganjax G with the fixture network's settings."""
  g, (_, c_dim, extra) = config['G'], config['nets'][net]
  syn = {**g['synthesis_kwargs'], **extra.get('synthesis_kwargs', {})}
  return sg.StyleGAN2Generator((g['img_resolution'],) * 2 + (g['img_channels'],),
                               num_classes=c_dim, w_dim=g['w_dim'],
                               mapping_layers=g['mapping_kwargs']['num_layers'],
                               channel_base=syn['channel_base'], channel_max=syn['channel_max'],
                               conv_clamp=syn['conv_clamp'],
                               architecture=syn.get('architecture', 'skip'),
                               conv_impl=conv_impl)


def nhwc(x):
  return np.transpose(x, (0, 2, 3, 1))


def assert_close(ours, theirs):
  diff = np.abs(np.asarray(ours) - theirs).max()
  assert diff <= TOL, f'max |diff| {diff:.3g} (max |value| {np.abs(theirs).max():.3g})'


IMPLS = ['xla', 'subpixel']   # lax's lhs-dilated / strided convs, or conv.py's phases


@pytest.mark.parametrize('conv_impl', IMPLS)
@pytest.mark.parametrize('net', ['G_skip', 'G_resnet'])
def test_generator_equals_the_official_with_const_noise(fixture, net, conv_impl):
  arrays, config = fixture
  g, variables = small_g(config, net, conv_impl), sg.from_official(official(arrays, net))
  labels = arrays['in/labels'] if config['nets'][net][1] else None
  out = g.apply(variables, arrays['in/z'], labels, train=False, noise_mode='const')
  assert_close(out, nhwc(arrays[f'out/{net}/const']))


def test_generator_truncation_and_given_noise_equal_the_official(fixture):
  arrays, config = fixture
  g, variables = small_g(config, 'G_skip'), sg.from_official(official(arrays, 'G_skip'))
  z, labels = arrays['in/z'], arrays['in/labels']
  out = g.apply(variables, z, labels, train=False, truncation_psi=0.7, truncation_cutoff=2,
                noise_mode='const')
  assert_close(out, nhwc(arrays['out/G_skip/trunc']))
  noise = [nhwc(arrays[f'in/noise{i}']) for i in range(5)]
  out = g.apply(variables, z, labels, train=False, noise_mode='random', noise=noise)
  assert_close(out, nhwc(arrays['out/G_skip/random']))


@pytest.mark.parametrize('net', ['G_skip', 'G_resnet'])
def test_w_avg_update_equals_the_official(fixture, net):
  arrays, config = fixture
  g, variables = small_g(config, net), sg.from_official(official(arrays, net))
  labels = arrays['in/labels'] if config['nets'][net][1] else None
  _, new = g.apply(variables, arrays['in/z'], labels, train=True, noise_mode='const',
                   mutable=['batch_stats'])
  assert_close(new['batch_stats']['mapping']['w_avg'], arrays[f'out/{net}/w_avg_after'])


def small_d(config, net, conv_impl='auto'):
  """The ganjax D with the fixture network's settings."""
  d_cfg, (_, c_dim, extra) = config['D'], config['nets'][net]
  return sg.StyleGAN2Discriminator(
      num_classes=c_dim, channel_base=d_cfg['channel_base'],
      channel_max=d_cfg['channel_max'], conv_clamp=d_cfg['conv_clamp'],
      mapping_layers=d_cfg['mapping_kwargs']['num_layers'],
      mbstd_group_size=d_cfg['epilogue_kwargs']['mbstd_group_size'], conv_impl=conv_impl,
      **extra)


@pytest.mark.parametrize('conv_impl', IMPLS)
@pytest.mark.parametrize('net', ['D_orig', 'D_resnet', 'D_skip'])
def test_discriminator_equals_the_official(fixture, net, conv_impl):
  arrays, config = fixture
  d, c_dim = small_d(config, net, conv_impl), config['nets'][net][1]
  labels = arrays['in/labels'] if c_dim else None
  out = d.apply(sg.from_official(official(arrays, net)), nhwc(arrays['in/images']), labels,
                train=False)
  assert out.shape == (len(labels if c_dim else arrays['in/z']), 1)
  assert_close(out, arrays[f'out/{net}/logits'])


def test_random_noise_and_style_mixing_come_from_rng_streams(fixture):
  arrays, config = fixture
  g, variables = small_g(config, 'G_skip'), sg.from_official(official(arrays, 'G_skip'))
  z, labels = arrays['in/z'], arrays['in/labels']
  run = lambda key, **kw: g.apply(variables, z, labels, train=False,
                                  rngs={'noise': jax.random.key(key)}, **kw)
  np.testing.assert_array_equal(run(1), run(1))
  assert np.abs(run(1) - run(2)).max() > 1e-3
  # Sampling without a 'noise' stream uses the const noise (official generate.py's default).
  np.testing.assert_array_equal(g.apply(variables, z, labels, train=False),
                                g.apply(variables, z, labels, train=False, noise_mode='const'))
  with pytest.raises(ValueError, match="'noise' rng"):
    g.apply(variables, z, labels, train=True, mutable=['batch_stats'])
  mixing = g.clone(style_mixing_prob=1.0)
  mix = lambda key: mixing.apply(variables, z, labels, train=True, noise_mode='const',
                                 rngs={'mixing': jax.random.key(key)}, mutable=['batch_stats'])[0]
  np.testing.assert_array_equal(mix(3), mix(3))
  assert np.abs(mix(3) - nhwc(arrays['out/G_skip/const'])).max() > 1e-3


@pytest.mark.slow
def test_sides_below_a_power_of_two_run_at_it_cropped_and_padded():
  """MNIST's 28: G synthesizes 32 and crops the centre; D pads with zeros to 32."""
  small = dict(w_dim=8, mapping_layers=1, channel_base=64, channel_max=8)
  g28, g32 = (sg.StyleGAN2Generator((s, s, 1), noise_mode='const', **small) for s in (28, 32))
  z = jax.random.normal(jax.random.key(1), (2, 512))
  variables = g32.init({'params': jax.random.key(0)}, z, train=False)
  np.testing.assert_array_equal(g28.apply(variables, z, train=False),
                                g32.apply(variables, z, train=False)[:, 2:30, 2:30])
  assert g28.ws_shape(2) == g32.ws_shape(2)
  d = sg.StyleGAN2Discriminator(channel_base=64, channel_max=8, mbstd_group_size=2)
  x = jax.random.normal(jax.random.key(2), (2, 28, 28, 1))
  d_vars = d.init({'params': jax.random.key(0)}, jnp.zeros((2, 32, 32, 1)), train=False)
  padded = jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
  np.testing.assert_array_equal(d.apply(d_vars, x, train=False),
                                d.apply(d_vars, padded, train=False))


@pytest.mark.slow
def test_conv_impls_agree_on_first_and_second_order_gradients(fixture):
  """R1's gradient w.r.t. D's params (a gradient of a gradient through the strided convs)
  and G's gradient through the transposed convs: 'subpixel' equals 'xla'."""
  arrays, config = fixture
  labels, x = arrays['in/labels'], jnp.asarray(nhwc(arrays['in/images']))
  d_vars = sg.from_official(official(arrays, 'D_resnet'))

  def r1_grads(impl):
    d = small_d(config, 'D_resnet', impl)
    def r1(params):
      score = lambda x: jnp.sum(d.apply({**d_vars, 'params': params}, x, labels, train=False))
      return jnp.sum(jnp.square(jax.grad(score)(x)))
    return jax.grad(r1)(d_vars['params'])

  g_vars = sg.from_official(official(arrays, 'G_resnet'))

  def g_grads(impl):
    g = small_g(config, 'G_resnet', impl)
    loss = lambda p: jnp.sum(jnp.square(g.apply({**g_vars, 'params': p}, arrays['in/z'],
                                                 train=False, noise_mode='const')))
    return jax.grad(loss)(g_vars['params'])

  for grads in (r1_grads, g_grads):
    want, got = grads('xla'), grads('subpixel')
    scale = max(float(jnp.abs(v).max()) for v in jax.tree.leaves(want))
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      np.testing.assert_allclose(b, a, atol=1e-5 * scale, rtol=1e-4)


def test_pmap_draws_the_global_batchs_noise_and_mixing_latents():
  """Under pmap (axis_name) each device keeps its rows of the global draws: G's random
  noise and style mixing's second latents equal the global program's, sample by sample."""
  small = dict(w_dim=8, mapping_layers=1, channel_base=64, channel_max=8,
               style_mixing_prob=1.0)
  g = sg.StyleGAN2Generator((16, 16, 3), **small)
  g_pmap = sg.StyleGAN2Generator((16, 16, 3), axis_name='data', **small)
  z = jax.random.normal(jax.random.key(1), (8, 512))
  variables = g.init({'params': jax.random.key(0)}, z, train=False)
  rngs = {'noise': jax.random.key(2), 'mixing': jax.random.key(3)}
  want, _ = g.apply(variables, z, train=True, rngs=rngs, mutable=['batch_stats'])
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ('data',))
  spec = jax.sharding.PartitionSpec('data')
  per_device = jax.shard_map(
      lambda z: g_pmap.apply(variables, z, train=True, rngs=rngs, mutable=['batch_stats'])[0],
      mesh=mesh, in_specs=spec, out_specs=spec)
  np.testing.assert_allclose(jax.jit(per_device)(z), want, atol=1e-5)


def test_bfloat16_convs_stay_close_to_float32(fixture):
  """model.dtype=bfloat16: the top blocks' convs in bfloat16 (the official fp16 layers'
  place), everything around them float32: outputs within bfloat16's rounding."""
  arrays, config = fixture
  labels = arrays['in/labels']
  g_vars = sg.from_official(official(arrays, 'G_skip'))
  images = {}
  for dtype in (None, jnp.bfloat16):
    g = small_g(config, 'G_skip').clone(dtype=dtype)
    images[dtype] = g.apply(g_vars, arrays['in/z'], labels, train=False, noise_mode='const')
    assert images[dtype].dtype == jnp.float32
  scale = float(jnp.abs(images[None]).max())
  diff = float(jnp.abs(images[jnp.bfloat16] - images[None]).max())
  assert 0 < diff < 0.05 * scale
  d_vars = sg.from_official(official(arrays, 'D_resnet'))
  x = jnp.asarray(nhwc(arrays['in/images']))
  logits = [small_d(config, 'D_resnet').clone(dtype=dtype).apply(d_vars, x, labels, train=False)
            for dtype in (None, jnp.bfloat16)]
  assert 0 < float(jnp.abs(logits[1] - logits[0]).max()) < 0.05 * float(jnp.abs(logits[0]).max())
