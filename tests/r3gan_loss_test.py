"""R3GAN's loss in ganjax's train step: one step's D update (RpGAN + R1 + R2, γ/2 each)
and G update (RpGAN, on a real batch of its own) give the official gradients on the same
batches (tests/fixtures/r3gan_loss.npz, written by benchmarks/r3gan_loss_fixture.py from
brownvc/R3GAN's R3GAN/Trainer.py and training/loss.py).

Both optimizers are a recorder: it applies no update and keeps the gradient it is given,
so both updates of the real train_step run at the initial weights (as the fixture
computes each official phase) and its opt_state afterwards holds each one's gradient."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (fixture_part as part, gradient_recorder,
                      load_official_fixture, recording_state)
from ganjax.models import r3gan
from ganjax.objectives import losses, regularizers, step

COMMIT = '19a7ddf463fbac2bd39b4c1c73d63f1c441c7403'   # benchmarks.r3gan_fixture.COMMIT
FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'r3gan_loss.npz'
# Every tensor's gradient: max |ours - official| <= RTOL x the phase's largest |gradient|
# (float32 rounding, D's through a second derivative).
RTOL = 1e-5


@pytest.fixture(scope='module')
def fixture():
  arrays = load_official_fixture(FIXTURE, COMMIT)
  return arrays, json.loads(str(arrays['meta/config']))


def networks(config):
  """ganjax's (G, D) of the fixture's networks (G's stage order; D's reversed)."""
  n = config['nets']
  kw = dict(expansion=n['expansion'], num_classes=n['num_classes'])
  generator = r3gan.R3GANGenerator(
      image_shape=(config['side'], config['side'], 3), widths=tuple(n['widths']),
      cardinality=tuple(n['cardinality']), blocks=tuple(n['blocks']),
      noise_dim=n['noise_dim'], embed_dim=n['g_embed'], **kw)
  discriminator = r3gan.R3GANDiscriminator(
      widths=tuple(n['widths'][::-1]), cardinality=tuple(n['cardinality'][::-1]),
      blocks=tuple(n['blocks'][::-1]), embed_dim=n['d_embed'], **kw)
  return generator, discriminator


def step_config(config):
  """As configs/cifar10_r3gan.py's loss: RpGAN, R1 = R2 = γ, every step, each fake on its
  paired real's label; no EMA, schedules or augmentation."""
  return step.StepConfig(
      latent_dim=config['nets']['noise_dim'], global_batch=config['batch'], d_steps=1,
      loss=losses.LossConfig(name='relativistic', relativistic='paired'),
      reg=regularizers.RegConfig(r1=config['gamma'], r2=config['gamma']),
      num_classes=config['nets']['num_classes'], fake_labels='real')


@pytest.fixture(scope='module')
def stepped(fixture):
  """(state before, state after one train_step with recording optimizers, cfg)."""
  arrays, config = fixture
  generator, discriminator = networks(config)
  g_params = r3gan.from_official(part(arrays, 'G'))
  d_params = r3gan.from_official(part(arrays, 'D'))
  g_tx, d_tx = gradient_recorder(1), gradient_recorder(1)
  state = recording_state(config['rng_seed'], g_params, d_params, g_tx, d_tx)
  cfg = step_config(config)
  assert step.batches_per_step(cfg) == 2   # D's real batch, then G's
  fns = step.make_step_fns(cfg, generator, discriminator, g_tx, d_tx)
  real = np.transpose(arrays['in/real'], (0, 1, 3, 4, 2))   # [2,B,C,H,W] -> [2,B,H,W,C]
  after, metrics = jax.jit(fns.train_step)(state, jnp.asarray(real),
                                           jnp.asarray(arrays['in/real_labels']))
  return state, jax.device_get(after), jax.device_get(metrics), cfg


def test_the_fixture_holds_the_draws_of_ganjaxs_step(fixture, stepped):
  """The official phases saw the latents and labels ganjax draws (else the fixture is
  stale: rerun benchmarks/r3gan_loss_fixture.py); normals to an ulp (the XLA
  optimization level, which conftest lowers, moves erf_inv by one). The fakes take
  their paired reals' labels (fake_labels='real', as the official loop), which differ
  from those ganjax would sample."""
  arrays, _ = fixture
  state, _, _, cfg = stepped
  ctx = step.Context(cfg, None, None, None, None, lambda x: x)
  for row, (name, i, update) in enumerate((('d', 0, 'd'), ('g', 1, 'g'))):
    keys = step.streams(step.update_key(state.rng, 0, i), update)
    z, labels = step.draw_fakes(ctx, keys['fakes'], cfg.global_batch)
    np.testing.assert_allclose(z, arrays[f'in/z_{name}'], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(labels, arrays[f'in/labels_{name}'])
    assert not np.array_equal(labels, arrays['in/real_labels'][row])


def flat(tree):
  """{'a/b/c': array} of a nested dict of arrays."""
  return {'/'.join(str(p.key) for p in path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


@pytest.mark.parametrize('net', ['D', 'G'])
def test_each_phase_gradient_equals_the_official(fixture, stepped, net):
  arrays, _ = fixture
  _, after, _, _ = stepped
  count, seen = after.d_opt_state if net == 'D' else after.g_opt_state
  assert int(count) == 1
  ours = jax.tree.map(lambda s: s[0], seen)
  ours, official = flat(ours), flat(r3gan.from_official(part(arrays, f'grad/{net}')))
  assert ours.keys() == official.keys()
  scale = max(float(np.abs(v).max()) for v in official.values())
  diffs = {k: float(np.abs(ours[k] - official[k]).max()) for k in official}
  print(f'{net}: max |diff| {max(diffs.values()):.3g} (max |grad| {scale:.3g})')
  bad = [f'{net} {k}: max |diff| {d:.3g} (max |grad| {scale:.3g})'
         for k, d in diffs.items() if d > RTOL * scale]
  assert not bad, '\n'.join(bad)


def test_params_do_not_move_and_the_penalties_are_on(stepped):
  before, after, metrics, _ = stepped
  for a, b in zip(jax.tree.leaves((before.g_params, before.d_params)),
                  jax.tree.leaves((after.g_params, after.d_params))):
    np.testing.assert_array_equal(a, b)
  assert float(metrics['r1']) > 0 and float(metrics['r2']) > 0
