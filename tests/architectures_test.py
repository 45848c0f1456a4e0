"""Residual GANs in the train step: AC-GAN's class loss by hand, the stop-gradient
invariants, 8 devices == 1 (jit and pmap) and resume bit-identity for a ResNet with SN and
cbn, bf16 compute against f32, checkpoints across compute dtypes. (Model-level checks:
resnet_models_test.py; the CLI tools on these models: architectures_cli_test.py.)"""

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import MNIST_DIR, assert_adam_close, train_chunk
from ganjax import train
from ganjax.experiment import Experiment
from ganjax.parallel import preprocess


def tiny_resnet(g='cbn', d='projection'):
  """configs/mnist_resnet.py at 8 channels, batch 8, on the shared digits."""
  from configs import mnist_resnet  # pylint: disable=g-import-not-at-top
  c = mnist_resnet.get_config()
  c.batch_size, c.num_steps, c.steps_per_dispatch = 8, 8, 2
  c.log_every = c.sample_every = c.checkpoint_every = 4
  c.report = False
  c.model.latent_dim = 8
  c.model.generator.update(channels=(8, 8, 8), conditioning=g)
  c.model.discriminator.update(channels=(8, 8, 8), conditioning=d)
  c.data.dir, c.data.split = MNIST_DIR, 'test'
  return c


def _equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _paths(tree):
  return ['/'.join(map(str, k)) for k in flax.traverse_util.flatten_dict(tree)]


def _batch(exp, n=8):
  dataset = exp.load_dataset()
  return (preprocess(jnp.asarray(dataset.images[:n])),
          jnp.asarray(dataset.labels[:n], jnp.int32))


def _cross_entropy(logits, labels):
  """Mean -log softmax(logits)[label], in float64 numpy."""
  logits = np.asarray(logits, np.float64)
  top = logits.max(axis=1, keepdims=True)
  lse = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
  return float(np.mean(lse - logits[np.arange(len(labels)), np.asarray(labels)]))


def test_acgan_class_losses_are_the_hand_computed_cross_entropies():
  c = tiny_resnet(d='acgan')
  c.d_batch = 'separate'   # D's real half sees the reals alone: its logits are reproducible
  c.loss.class_weight = 0.7
  exp = Experiment(c, devices=jax.devices()[:1])
  assert exp.acgan and exp.step_config().acgan
  fns, state = exp.step_fns(), exp.init_state()
  real, labels = _batch(exp, 4)
  d_vars = {'params': state.d_params, 'batch_stats': state.d_batch_stats}
  # jitted: op-by-op dispatch of a ResNet compiles every op apart (seconds each time)
  d_apply = jax.jit(lambda x, y: exp.discriminator.apply(d_vars, x, y, train=True,
                                                         mutable=['batch_stats'])[0])
  out = d_apply(real, labels)
  assert out.shape == (4, 11)
  _, (_, _, _, terms) = jax.jit(fns.d_step)(state, real, labels, jax.random.PRNGKey(0))
  np.testing.assert_allclose(terms['class'], 0.7 * _cross_entropy(out[:, 1:], labels),
                             rtol=1e-5)

  # G's objective: the hinge term plus 0.7 x the cross-entropy of D's class logits on G's
  # fakes at the labels G was asked for (the step's own draws, reproduced).
  key = jax.random.PRNGKey(1)
  kz, kl = jax.random.split(jax.random.split(key)[0])
  z = jax.random.normal(kz, (8, 8))
  fake_labels = jax.random.randint(kl, (8,), 0, 10)
  fake, _ = jax.jit(lambda z, y: exp.generator.apply(
      {'params': state.g_params, 'batch_stats': state.g_batch_stats}, z, y, train=True,
      mutable=['batch_stats']))(z, fake_labels)
  out = d_apply(fake, fake_labels)
  _, (g_loss, g_terms) = jax.jit(fns.g_step)(state, key)
  np.testing.assert_allclose(g_loss, -np.mean(out[:, 0]), rtol=1e-5)
  np.testing.assert_allclose(g_terms['g_class'], 0.7 * _cross_entropy(out[:, 1:], fake_labels),
                             rtol=1e-5)


@pytest.mark.parametrize('updates', ['alternating', 'simultaneous'])
def test_acgan_terms_are_logged_apart_from_the_adversarial_losses(updates):
  c = tiny_resnet(d='acgan')
  c.updates = updates
  exp = Experiment(c, devices=jax.devices()[:1])
  real, labels = _batch(exp)
  _, metrics = jax.jit(exp.step_fns().train_step)(exp.init_state(), real[None], labels[None])
  assert {'d_loss', 'g_loss', 'class', 'g_class'} <= set(metrics)
  for name in ('class', 'g_class'):   # cross-entropies: positive (their values: above)
    assert 0 < float(metrics[name]) < np.inf


@pytest.mark.parametrize('d', ['projection', pytest.param('acgan', marks=pytest.mark.slow)])
def test_each_update_writes_only_its_own_network(d):
  c = tiny_resnet(d=d)
  c.model.generator.spectral_norm = True
  exp = Experiment(c, devices=jax.devices()[:1])
  fns, state = exp.step_fns(), exp.init_state()
  assert any('SpectralNorm' in k for k in _paths(state.d_batch_stats))
  assert any('BatchNorm' in k or 'bn' in k for k in _paths(state.g_batch_stats))
  real, labels = _batch(exp)
  after_d, _ = jax.jit(fns.d_step)(state, real, labels, jax.random.PRNGKey(0))
  assert _equal((after_d.g_params, after_d.g_batch_stats, after_d.g_opt_state),
                (state.g_params, state.g_batch_stats, state.g_opt_state))
  assert not _equal(after_d.d_params, state.d_params)
  after_g, _ = jax.jit(fns.g_step)(after_d, jax.random.PRNGKey(1))
  assert _equal((after_g.d_params, after_g.d_batch_stats, after_g.d_opt_state),
                (after_d.d_params, after_d.d_batch_stats, after_d.d_opt_state))
  assert not _equal(after_g.g_params, after_d.g_params)
  assert not _equal(after_g.g_batch_stats, after_d.g_batch_stats)   # cbn's statistics


def _train(config, devices, steps=2):
  return train_chunk(config, devices, steps, unroll=True)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['jit', 'pmap'])
def test_eight_devices_equal_one_device(mode):
  """cbn's BatchNorm statistics are global-batch ones in both modes."""
  c = tiny_resnet()
  c.model.generator.spectral_norm = True
  one, m1 = _train(c, jax.devices()[:1])
  c.parallel = mode
  eight, m8 = _train(c, jax.devices())
  # The blocks' conv biases reach the output only through a later BatchNorm, which removes
  # constant shifts: their gradient is 0, and Adam turns its rounding noise into steps in
  # either direction. With b1 = 0, step t's |m/sqrt(v)| is at most
  # sqrt((1 - b2^t) / (1 - b2)): 1, then sqrt(1.9) at b2 = 0.9 (seen: 4.4 lr in all).
  lr, b2 = c.optimizer.g.learning_rate, c.optimizer.g.b2
  assert c.optimizer.g.b1 == 0
  most = 2 * lr * sum(np.sqrt((1 - b2**t) / (1 - b2)) for t in (1, 2))
  g_flat = [flax.traverse_util.flatten_dict(s.g_params) for s in (one, eight)]
  before_bn = [k for k in g_flat[0] if k[-1] == 'bias' and k[0].startswith('block')]
  assert len(before_bn) == 6
  for k in before_bn:
    assert np.abs(g_flat[0].pop(k) - g_flat[1].pop(k)).max() <= most * (1 + 1e-5)
  assert_adam_close((g_flat[0], one.d_params), (g_flat[1], eight.d_params), steps=2)
  # BN's running means take in those biases (differing by <= 2 lr a step) at weight 0.1.
  for a, b in zip(jax.tree.leaves(one.g_batch_stats), jax.tree.leaves(eight.g_batch_stats)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=0.1 * 2 * 2e-4 * (1 + 2))
  for a, b in zip(jax.tree.leaves(one.d_batch_stats), jax.tree.leaves(eight.d_batch_stats)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)
  for name in ('d_loss', 'g_loss'):
    np.testing.assert_allclose(m1[name], m8[name], rtol=1e-4, atol=2e-5)


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
  c = tiny_resnet()
  c.model.generator.spectral_norm = True
  full = train.train_and_evaluate(c, str(tmp_path / 'full'))
  c.num_steps = 6
  train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  c.num_steps = 8
  resumed = train.train_and_evaluate(c, str(tmp_path / 'resumed'))
  assert _equal(jax.device_get(full), jax.device_get(resumed))


def _g_grads(exp, state, z, labels, real):
  """G's hinge-loss gradient through D (train mode), and the loss."""
  def loss(g_params):
    fake, _ = exp.generator.apply({'params': g_params, 'batch_stats': state.g_batch_stats},
                                  z, labels, train=True, mutable=['batch_stats'])
    out, _ = exp.discriminator.apply(
        {'params': state.d_params, 'batch_stats': state.d_batch_stats},
        jnp.concatenate([fake, real]), jnp.concatenate([labels, labels]), train=True,
        mutable=['batch_stats'])
    return -jnp.mean(out[:len(z)]) + jnp.mean(jax.nn.relu(1.0 - out[len(z):]))
  return jax.jit(jax.value_and_grad(loss))(state.g_params)


@pytest.mark.parametrize('model', ['resnet'])
def test_bf16_step_is_close_to_f32(model):
  """bf16 keeps 8 significant bits (unit roundoff 2^-9 ~ 0.2%); each layer adds ~0.2-0.4%
  relative error to its activations, a few % after a dozen layers (forward and backward):
  losses, means of D's outputs, agree within 5%. G's gradient through both networks is
  a mean of per-sample gradients that largely cancel at batch 8, which multiplies the
  relative error: measured 21% (ResNet; BigGAN 12%) in norm, so the bounds are 35%
  in norm and cosine > 0.95 (a sign or scale slip, or an overflow, breaks them; the jaxpr
  check below fails if the dtype is ignored). Whole bf16 train steps run in
  test_checkpoints_restore_across_compute_dtypes."""
  c = tiny_resnet() if model == 'resnet' else tiny_biggan()
  exp32 = Experiment(c, devices=jax.devices()[:1])
  c.model.dtype = 'bfloat16'
  exp16 = Experiment(c, devices=jax.devices()[:1])
  s32, s16 = exp32.init_state(), exp16.init_state()
  assert _equal(s32, s16)   # params, stats and optimizer states: f32 either way
  real, labels = _batch(exp32)
  z = jax.random.normal(jax.random.PRNGKey(3), (8, 8))
  (l32, g32), (l16, g16) = (_g_grads(e, s, z, labels, real)
                            for e, s in ((exp32, s32), (exp16, s16)))
  np.testing.assert_allclose(l16, l32, rtol=5e-2)
  v32, v16 = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)]) for g in (g32, g16))
  assert v16.dtype == np.float32
  assert np.linalg.norm(v16 - v32) < 0.35 * np.linalg.norm(v32)
  assert v16 @ v32 / np.linalg.norm(v16) / np.linalg.norm(v32) > 0.95
  assert not np.array_equal(v16, v32)   # bf16 did compute something different
  jaxpr = jax.make_jaxpr(lambda p: exp16.generator.apply(
      {'params': p, 'batch_stats': s16.g_batch_stats}, z, labels, train=False))(s16.g_params)
  assert jaxpr.out_avals[0].dtype == jnp.float32
  assert 'bf16' in str(jaxpr) and 'conv_general_dilated' in str(jaxpr)


def tiny_biggan():
  """BigGAN at 28x28, 8 channels, attention at 14x14, on the shared digits."""
  c = tiny_resnet()
  c.model.name = 'biggan'
  c.model.generator = ml_collections.ConfigDict(dict(
      channels=(8, 8, 8), shared_dim=8, attention_resolution=14, spectral_norm=True))
  c.model.discriminator = ml_collections.ConfigDict(dict(
      channels=(8, 8, 8), downsample=(True, True, False), attention_resolution=14,
      spectral_norm=True))
  return c


@pytest.mark.slow
def test_checkpoints_restore_across_compute_dtypes(tmp_path):
  """A bf16 run resumes in f32 and back: params and optimizer states are f32 in both."""
  c = tiny_resnet()
  c.model.generator.spectral_norm = True   # test_resume's config: its f32 programs are cached
  c.num_steps = 4
  workdir = str(tmp_path / 'run')
  first = jax.device_get(train.train_and_evaluate(c, workdir))
  c.model.dtype, c.num_steps = 'bfloat16', 6
  middle = jax.device_get(train.train_and_evaluate(c, workdir))
  c.model.dtype, c.num_steps = 'float32', 8
  last = jax.device_get(train.train_and_evaluate(c, workdir))
  assert int(middle.step) == 6 and int(last.step) == 8
  for state in (first, middle, last):
    assert {x.dtype for x in jax.tree.leaves(state.g_params)} == {np.dtype('float32')}
  assert not _equal(first.g_params, middle.g_params)
  assert not _equal(middle.g_params, last.g_params)
