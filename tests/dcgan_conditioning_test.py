"""Seed 004's DCGAN made conditional (configs/mnist_cond.py): per-class BatchNorm gains and
biases in G, a projection or AC-GAN head on D; the unconditional model is untouched."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.models.dcgan import DCGAN28Discriminator, DCGAN28Generator

G_KW = dict(image_shape=(28, 28, 1), features=(8, 4, 4))
D_KW = dict(features=(4, 8), dropout=0.0)
Z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
X = jax.random.uniform(jax.random.PRNGKey(1), (4, 28, 28, 1), minval=-1.0, maxval=1.0)
LABELS = jnp.array([0, 1, 2, 1], jnp.int32)


def g_forward(module, variables, labels=None, train=True):
  if not train:   # running averages: each sample on its own
    return np.asarray(module.apply(variables, Z, labels, train=False))
  out, _ = module.apply(variables, Z, labels, train=True, mutable=['batch_stats'])
  return np.asarray(out)


@pytest.fixture(scope='module')
def generators():
  plain, cond = DCGAN28Generator(**G_KW), DCGAN28Generator(**G_KW, num_classes=3)
  return (plain, plain.init(jax.random.PRNGKey(2), Z[:2], train=False),
          cond, cond.init(jax.random.PRNGKey(3), Z[:2], LABELS[:2], train=False))


def shared_weights(plain_vars, cond_vars):
  """cond_vars with the plain G's Dense / conv kernels: the per-class tables stay."""
  params = dict(cond_vars['params'])
  for name in ('Dense_0', 'ConvTranspose_0', 'ConvTranspose_1', 'ConvTranspose_2'):
    params[name] = plain_vars['params'][name]
  return {'params': params, 'batch_stats': cond_vars['batch_stats']}


def test_cbn_starts_as_the_unconditional_generator(generators):
  plain, plain_vars, cond, cond_vars = generators
  np.testing.assert_allclose(g_forward(cond, shared_weights(plain_vars, cond_vars), LABELS),
                             g_forward(plain, plain_vars), rtol=1e-5, atol=1e-6)


def test_cbn_row_moves_only_its_class(generators):
  plain, plain_vars, cond, cond_vars = generators
  variables = shared_weights(plain_vars, cond_vars)
  before = g_forward(cond, variables, LABELS, train=False)
  bias = variables['params']['ConditionalBatchNorm_1']['bias']['embedding']
  variables['params']['ConditionalBatchNorm_1'] = {
      **variables['params']['ConditionalBatchNorm_1'],
      'bias': {'embedding': bias.at[1].set(0.5)}}
  after = g_forward(cond, variables, LABELS, train=False)
  moved = np.abs(after - before).reshape(4, -1).max(axis=1)
  assert moved[1] > 1e-3 and moved[3] > 1e-3
  np.testing.assert_allclose(after[[0, 2]], before[[0, 2]], rtol=1e-5, atol=1e-6)


def test_dense_norm_channel_normalizes_each_channel_of_the_projected_map():
  g = DCGAN28Generator(**G_KW, dense_norm='channel')
  variables = g.init(jax.random.PRNGKey(6), Z[:2], train=False)
  _, state = g.apply(variables, Z, train=True, mutable=['batch_stats', 'intermediates'],
                     capture_intermediates=True)
  inter = state['intermediates']
  h = np.asarray(inter['Dense_0']['__call__'][0]).reshape(4, 7, 7, 8)
  mean, var = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
  want = (h - mean) / np.sqrt(var + 1e-3)    # Keras' epsilon; scale 1, bias 0 at init
  np.testing.assert_allclose(inter['BatchNorm_0']['__call__'][0], want, rtol=1e-4, atol=1e-4)
  assert state['batch_stats']['BatchNorm_0']['mean'].shape == (8,)


@pytest.mark.parametrize('dense_norm, width', [('unit', 7 * 7 * 8), ('channel', 8)])
def test_dense_norm_sets_the_class_table_width_and_rows_stay_per_class(dense_norm, width):
  g = DCGAN28Generator(**G_KW, num_classes=3, dense_norm=dense_norm)
  variables = g.init(jax.random.PRNGKey(7), Z[:2], LABELS[:2], train=False)
  first = variables['params']['ConditionalBatchNorm_0']
  assert first['gain']['embedding'].shape == first['bias']['embedding'].shape == (3, width)
  before = g_forward(g, variables, LABELS, train=False)
  params = {**variables['params'], 'ConditionalBatchNorm_0': {
      **first, 'bias': {'embedding': first['bias']['embedding'].at[2].set(0.5)}}}
  after = g_forward(g, {**variables, 'params': params}, LABELS, train=False)
  moved = np.abs(after - before).reshape(4, -1).max(axis=1)
  assert moved[2] > 1e-3
  np.testing.assert_allclose(after[[0, 1, 3]], before[[0, 1, 3]], rtol=1e-5, atol=1e-6)


def test_unknown_dense_norm():
  with pytest.raises(ValueError, match='unknown dense_norm'):
    DCGAN28Generator(**G_KW, dense_norm='pixel').init(jax.random.PRNGKey(0), Z[:2],
                                                      train=False)


@pytest.fixture(scope='module')
def plain_d():
  d = DCGAN28Discriminator(**D_KW)
  variables = d.init(jax.random.PRNGKey(4), X[:2], train=False)
  return d, variables, np.asarray(d.apply(variables, X, train=False))


def test_projection_output_by_hand(plain_d):
  _, plain_vars, plain_out = plain_d
  d = DCGAN28Discriminator(**D_KW, num_classes=3, conditioning='projection')
  p = plain_vars['params']
  kernel, bias = p['Dense_0']['kernel'], p['Dense_0']['bias']
  # embed row 1 = ψ's kernel: <embed(1), φ> = ψ(φ) - b; rows 0 and 2 zero: no class term
  embed = jnp.zeros((3, kernel.shape[0])).at[1].set(kernel[:, 0])
  params = {'Conv_0': p['Conv_0'], 'Conv_1': p['Conv_1'],
            'head': {'psi': {'kernel': kernel, 'bias': bias}, 'embed': {'embedding': embed}}}
  out = np.asarray(d.apply({'params': params}, X, LABELS, train=False))
  want = np.where(np.asarray(LABELS)[:, None] == 1, 2 * plain_out - np.asarray(bias), plain_out)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_pooled_projection_output_by_hand(plain_d):
  plain, plain_vars, plain_out = plain_d
  d = DCGAN28Discriminator(**D_KW, num_classes=3, projection_pool=True)
  p = plain_vars['params']
  embed = jax.random.normal(jax.random.PRNGKey(8), (3, 8))   # f_last wide, not 7*7*8
  params = {'Conv_0': p['Conv_0'], 'Conv_1': p['Conv_1'],
            'head': {'psi': p['Dense_0'], 'embed': {'embedding': embed}}}
  out = np.asarray(d.apply({'params': params}, X, LABELS, train=False))
  _, state = plain.apply(plain_vars, X, train=False, capture_intermediates=True,
                         mutable=['intermediates'])
  last = np.asarray(state['intermediates']['Activation_1']['__call__'][0])   # [4, 7, 7, 8]
  pooled = last.mean(axis=(1, 2))
  want = plain_out + np.sum(np.asarray(embed)[np.asarray(LABELS)] * pooled, -1, keepdims=True)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_acgan_head_appends_class_logits(plain_d):
  _, plain_vars, plain_out = plain_d
  d = DCGAN28Discriminator(**D_KW, num_classes=3, conditioning='acgan')
  params = dict(d.init(jax.random.PRNGKey(5), X[:2], LABELS[:2], train=False)['params'])
  params.update({k: plain_vars['params'][k] for k in ('Conv_0', 'Conv_1', 'Dense_0')})
  out = np.asarray(d.apply({'params': params}, X, LABELS, train=False))
  assert out.shape == (4, 4)
  np.testing.assert_allclose(out[:, :1], plain_out, rtol=1e-5, atol=1e-6)


def test_class_head_appends_class_logits_to_the_projection_logit():
  proj = DCGAN28Discriminator(**D_KW, num_classes=3, conditioning='projection')
  both = DCGAN28Discriminator(**D_KW, num_classes=3, conditioning='projection',
                              class_head=True)
  params = both.init(jax.random.PRNGKey(6), X[:2], LABELS[:2], train=False)['params']
  out = np.asarray(both.apply({'params': params}, X, LABELS, train=False))
  without = {k: v for k, v in params.items() if k != 'classifier'}
  logit = np.asarray(proj.apply({'params': without}, X, LABELS, train=False))
  np.testing.assert_allclose(out[:, :1], logit, rtol=1e-6, atol=1e-6)
  _, state = proj.apply({'params': without}, X, LABELS, train=False,
                        capture_intermediates=True, mutable=['intermediates'])
  phi = np.asarray(state['intermediates']['Activation_1']['__call__'][0]).reshape(4, -1)
  np.testing.assert_allclose(out[:, 1:], phi @ np.asarray(params['classifier']['kernel']),
                             rtol=1e-4, atol=1e-5)


def test_conditioning_errors():
  with pytest.raises(ValueError, match='minibatch_std=3 groups the 4 images'):
    DCGAN28Discriminator(**D_KW, minibatch_std=3).init(jax.random.PRNGKey(0), X, train=False)
  with pytest.raises(ValueError, match='class_head needs classes'):
    DCGAN28Discriminator(**D_KW, class_head=True).init(jax.random.PRNGKey(0), X[:2],
                                                         train=False)
  with pytest.raises(ValueError, match='unknown conditioning'):
    DCGAN28Discriminator(**D_KW, num_classes=3, conditioning='concat').init(
        jax.random.PRNGKey(0), X[:2], LABELS[:2], train=False)
  with pytest.raises(ValueError, match='needs labels'):
    DCGAN28Generator(**G_KW, num_classes=3).init(jax.random.PRNGKey(0), Z[:2], train=False)


def test_minibatch_std_map_by_hand(plain_d):
  plain, plain_vars, _ = plain_d
  d = DCGAN28Discriminator(**D_KW, minibatch_std=2)
  assert d.couples_batch and not plain.couples_batch
  params = d.init(jax.random.PRNGKey(7), X, train=False)['params']
  out = np.asarray(d.apply({'params': params}, X, train=False))
  conv_params = {k: params[k] for k in ('Conv_0', 'Conv_1')}
  _, state = plain.apply({'params': {**conv_params, 'Dense_0': plain_vars['params']['Dense_0']}},
                         X, train=False, capture_intermediates=True, mutable=['intermediates'])
  last = np.asarray(state['intermediates']['Activation_1']['__call__'][0])   # [4, 7, 7, 8]
  # groups of 2: sample j with j + 2; one map of the groups' mean stddev over features
  groups = last.reshape(2, 2, *last.shape[1:])
  std = np.sqrt(groups.var(axis=0) + 1e-8).mean(axis=(1, 2, 3))             # [2]
  stat = np.broadcast_to(np.tile(std, 2)[:, None, None, None], (4, 7, 7, 1))
  phi = np.concatenate([last, stat], -1).reshape(4, -1)
  want = phi @ np.asarray(params['Dense_0']['kernel']) + np.asarray(params['Dense_0']['bias'])
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
  # a sample's logit moves with its group-mate's image, not with the other group's
  moved = np.asarray(d.apply({'params': params}, X.at[2].multiply(-1.0), train=False))
  assert not np.allclose(moved[0], out[0]) and np.allclose(moved[1], out[1], atol=1e-6)
