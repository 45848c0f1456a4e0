"""R3GAN's G and D: the official parameter counts, the official outputs on a fixture
(benchmarks/r3gan_fixture.py), the init scheme and the registry entry."""

import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax.models import build_models, r3gan

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'r3gan_small.npz')


def count(tree):
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))


def shapes(g, d, num_classes, side, noise_dim, batch=1):
  """(G's, D's) init params as ShapeDtypeStructs: nothing is allocated."""
  labels = jnp.zeros((batch,), jnp.int32) if num_classes else None
  key = jax.random.PRNGKey(0)
  gp = jax.eval_shape(lambda: g.init(key, jnp.zeros((batch, noise_dim)), labels))
  dp = jax.eval_shape(lambda: d.init(key, jnp.zeros((batch, side, side, 3)), labels))
  return gp['params'], dp['params']


# Instantiated from the official R3GAN/Networks.py (train.py's presets) on CPU.
@pytest.mark.parametrize('name, num_classes, g_count, d_count', [
    ('cifar10', 10, 20_781_952, 21_280_512),
    ('cifar10', 0, 20_732_160, 20_683_776),
    ('ffhq64', 0, 22_429_824, 22_381_440),
])
def test_parameter_counts_equal_the_official(name, num_classes, g_count, d_count):
  kw = r3gan.preset(name)
  side = 4 * 2**(len(kw['generator']['widths']) - 1)
  g = r3gan.R3GANGenerator(image_shape=(side, side, 3), num_classes=num_classes,
                           **kw['generator'])
  d = r3gan.R3GANDiscriminator(num_classes=num_classes, **kw['discriminator'])
  gp, dp = shapes(g, d, num_classes, side, 64)
  assert (count(gp), count(dp)) == (g_count, d_count)


def fixture_models(f):
  """ganjax's (G, D) for the fixture's configuration (G's order; D reversed)."""
  c = {k[len('config/'):]: f[k] for k in f if k.startswith('config/')}
  tup = lambda a: tuple(int(v) for v in a)
  side = 4 * 2**(len(c['widths']) - 1)
  g = r3gan.R3GANGenerator(image_shape=(side, side, 3), widths=tup(c['widths']),
                           cardinality=tup(c['cardinality']), blocks=tup(c['blocks']),
                           expansion=int(c['expansion']), noise_dim=int(c['noise_dim']),
                           embed_dim=int(c['g_embed']), num_classes=int(c['num_classes']))
  d = r3gan.R3GANDiscriminator(widths=tup(c['widths'])[::-1],
                               cardinality=tup(c['cardinality'])[::-1],
                               blocks=tup(c['blocks'])[::-1], expansion=int(c['expansion']),
                               embed_dim=int(c['d_embed']), num_classes=int(c['num_classes']))
  return g, d


def official(f, prefix):
  """The fixture's official state_dict of one network, {name: array}."""
  return {k[len(prefix):]: f[k] for k in f if k.startswith(prefix)}


def test_converted_official_weights_give_the_official_outputs():
  assert os.path.exists(FIXTURE), ('python -m benchmarks.r3gan_fixture --official=DIR writes '
                                    'it; .gitignore has *.npz: git add -f it')
  f = dict(np.load(FIXTURE, allow_pickle=False))
  assert str(f['commit']) == '19a7ddf463fbac2bd39b4c1c73d63f1c441c7403'
  g, d = fixture_models(f)
  g_params = r3gan.from_official(official(f, 'g/'))
  d_params = r3gan.from_official(official(f, 'd/'))
  side = f['x'].shape[-1]
  g_shapes, d_shapes = shapes(g, d, 3, side, f['z'].shape[1])
  same = lambda a, b: jax.tree_util.tree_map(lambda x, y: x.shape == y.shape, a, b)
  assert all(jax.tree_util.tree_leaves(same(g_params, g_shapes)))   # also: the same keys
  assert all(jax.tree_util.tree_leaves(same(d_params, d_shapes)))
  images = g.apply({'params': g_params}, f['z'], f['labels'])
  np.testing.assert_allclose(np.transpose(images, (0, 3, 1, 2)), f['g_out'], rtol=0, atol=1e-4)
  logits = d.apply({'params': d_params}, np.transpose(f['x'], (0, 2, 3, 1)), f['labels'])
  assert logits.shape == (f['x'].shape[0], 1)
  np.testing.assert_allclose(logits[:, 0], f['d_out'], rtol=0, atol=1e-4)
  assert np.abs(f['g_out']).max() > 0.5 and np.abs(f['d_out']).max() > 0.1   # not trivial


def test_init_follows_the_official_scheme():
  g = r3gan.R3GANGenerator(image_shape=(8, 8, 3), widths=(64, 32), cardinality=(4, 4),
                           blocks=(2, 2), noise_dim=16)
  p = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 16)))['params']
  block = p['stage0_block0']
  assert not np.any(block['conv3']['kernel']) and not np.any(block['conv1']['bias'])
  gain = math.sqrt(2 / 1.04) * 4 ** -0.25   # 4 blocks in all
  np.testing.assert_allclose(np.std(block['conv1']['kernel']), gain / 8, rtol=0.05)
  fan_in = 9 * 128 // 4   # grouped 3x3: 128 channels in 4 groups
  np.testing.assert_allclose(np.std(block['conv2']['kernel']), gain / math.sqrt(fan_in),
                             rtol=0.05)
  np.testing.assert_allclose(np.std(p['stage1_transition']['kernel']), 1 / 8, rtol=0.05)
  np.testing.assert_allclose(np.std(p['basis']['basis']), 1.0, rtol=0.1)


def test_resamplers_keep_constants_inside_and_halve_sides():
  x = jnp.ones((1, 8, 8, 2))
  taps = r3gan.lowpass_taps((1, 2, 1))
  np.testing.assert_allclose(taps, [1 / 8, 3 / 8, 3 / 8, 1 / 8])
  up = r3gan.upsample(x, taps)
  assert up.shape == (1, 16, 16, 2)
  np.testing.assert_allclose(up[0, 1:-1, 1:-1], 1.0, rtol=1e-6)   # zero padding at the rim
  down = r3gan.downsample(x, taps)
  assert down.shape == (1, 4, 4, 2)
  np.testing.assert_allclose(down[0, 1:-1, 1:-1], 1.0, rtol=1e-6)   # the rim sees 7/8


def test_build_models_makes_r3gan_and_checks_its_inputs():
  c = ml_collections.ConfigDict(dict(
      name='r3gan', latent_dim=8,
      generator=dict(widths=(16, 8), cardinality=(2, 2), blocks=(1, 1), noise_dim=8,
                     embed_dim=4),
      discriminator=dict(widths=(8, 16), cardinality=(2, 2), blocks=(1, 1), embed_dim=16)))
  g, d = build_models(c, image_shape=(8, 8, 3), num_classes=5)
  z, labels = jnp.ones((2, 8)), jnp.array([0, 4])
  gv = g.init(jax.random.PRNGKey(0), z, labels, train=False)
  images = g.apply(gv, z, labels, train=True)
  assert images.shape == (2, 8, 8, 3) and images.dtype == jnp.float32
  dv = d.init(jax.random.PRNGKey(1), images, labels, train=False)
  assert d.apply(dv, images, labels, train=True).shape == (2, 1)
  with pytest.raises(ValueError, match='needs labels'):
    g.apply(gv, z, None, train=False)
  with pytest.raises(ValueError, match='take 8x8 images'):
    d.apply(dv, jnp.ones((2, 16, 16, 3)), labels, train=False)
  c.generator.noise_dim = 9
  with pytest.raises(ValueError, match='noise_dim'):
    build_models(c, image_shape=(8, 8, 3), num_classes=5)[0].init(
        jax.random.PRNGKey(0), z, labels, train=False)
