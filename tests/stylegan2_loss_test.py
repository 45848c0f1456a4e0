"""StyleGAN2-ADA's loss in ganjax's train step: one step's four phases (Dmain, the lazy R1
update Dreg, Gmain, the path length update Greg) give the official gradients on the same
batch, and the official pl_mean (tests/fixtures/stylegan2_loss.npz, written by
benchmarks/stylegan2_loss_fixture.py from NVlabs/stylegan2-ada-pytorch's
training/loss.py with training_loop.py's gains).

Both optimizers are a recorder: it applies no update and keeps each gradient it is given
in the next slot of its state, so every phase of the real train_step runs at the initial
weights (as the fixture computes each official phase) and its opt_state afterwards holds
each phase's gradient, in the order the step applied them."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (fixture_part as part, gradient_recorder,
                      load_official_fixture, recording_state)
from ganjax.models import stylegan2 as sg
from ganjax.objectives import losses, regularizers, step

FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'stylegan2_loss.npz'
# Every tensor's gradient: max |ours - official| <= PHASE_RTOL x the phase's largest
# |gradient| (float32 rounding through a second derivative of ~15 layers: seen <= 2e-6
# of it) and <= TENSOR_RTOL x its own largest |gradient| + 1e-8, so that tensors with small
# gradients (the mappings; D's biases in Dreg, which R1 reaches only through minibatch
# stddev) are held to a relative bound too (seen <= 3e-4 of their own).
PHASE_RTOL, TENSOR_RTOL, FLOOR = 1e-5, 1e-3, 1e-8
D_PHASES, G_PHASES = ('Dmain', 'Dreg'), ('Gmain', 'Greg')


@pytest.fixture(scope='module')
def fixture():
  arrays = load_official_fixture(FIXTURE, sg.OFFICIAL_COMMIT)
  return arrays, json.loads(str(arrays['meta/config']))


def networks(config):
  g, d = config['G'], config['D']
  syn = g['synthesis_kwargs']
  generator = sg.StyleGAN2Generator(
      (g['img_resolution'],) * 2 + (g['img_channels'],), num_classes=g['c_dim'],
      w_dim=g['w_dim'], mapping_layers=g['mapping_kwargs']['num_layers'],
      channel_base=syn['channel_base'], channel_max=syn['channel_max'],
      conv_clamp=syn['conv_clamp'], architecture='skip',
      style_mixing_prob=config['loss']['style_mixing_prob'], noise_mode='const')
  discriminator = sg.StyleGAN2Discriminator(
      num_classes=d['c_dim'], architecture=d['architecture'], channel_base=d['channel_base'],
      channel_max=d['channel_max'], conv_clamp=d['conv_clamp'],
      mapping_layers=d['mapping_kwargs']['num_layers'],
      mbstd_group_size=d['epilogue_kwargs']['mbstd_group_size'])
  return generator, discriminator


def step_config(config):
  loss = config['loss']
  reg = regularizers.RegConfig(r1=loss['r1_gamma'], r1_every=config['D_reg_interval'],
                               lazy='own_step', pl_weight=loss['pl_weight'],
                               pl_every=config['G_reg_interval'], pl_decay=loss['pl_decay'],
                               pl_batch_shrink=loss['pl_batch_shrink'])
  return step.StepConfig(latent_dim=config['G']['z_dim'], global_batch=config['batch'],
                         d_steps=1, loss=losses.LossConfig(name='logistic'), reg=reg,
                         num_classes=config['G']['c_dim'])


@pytest.fixture(scope='module')
def stepped(fixture):
  """(state before, state after one train_step with recording optimizers, cfg)."""
  arrays, config = fixture
  generator, discriminator = networks(config)
  g_vars = sg.from_official(part(arrays, 'G'))
  d_vars = sg.from_official(part(arrays, 'D'))
  g_tx, d_tx = gradient_recorder(len(G_PHASES)), gradient_recorder(len(D_PHASES))
  state = recording_state(config['rng_seed'], g_vars['params'], d_vars['params'], g_tx, d_tx,
                          g_vars['batch_stats'], pl_mean=jnp.zeros((), jnp.float32))
  cfg = step_config(config)
  fns = step.make_step_fns(cfg, generator, discriminator, g_tx, d_tx)
  real = np.transpose(arrays['in/real'], (0, 2, 3, 1))[None]
  after, metrics = jax.jit(fns.train_step)(state, jnp.asarray(real),
                                           jnp.asarray(arrays['in/real_labels'])[None])
  return state, jax.device_get(after), jax.device_get(metrics), cfg


def test_the_fixture_holds_the_draws_of_ganjaxs_step(fixture, stepped):
  """The official phases saw the latents, labels and path length noise ganjax draws
  (else the fixture is stale: rerun benchmarks/stylegan2_loss_fixture.py); normals to
  an ulp (the XLA optimization level, which conftest lowers, moves erf_inv by one)."""
  arrays, _ = fixture
  state, _, _, cfg = stepped
  ctx = step.Context(cfg, None, None, None, None, lambda x: x)
  for name, i, update, batch in (('d', 0, 'd', 4), ('g', 1, 'g', 4), ('pl', 2, 'g', 2)):
    keys = step.streams(step.update_key(state.rng, 0, i), update)
    z, labels = step.draw_fakes(ctx, keys['fakes'], batch)
    np.testing.assert_allclose(z, arrays[f'in/z_{name}'], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(labels, arrays[f'in/labels_{name}'])
  noise = jax.random.normal(keys['pl_noise'], arrays['in/pl_noise'].shape)
  np.testing.assert_allclose(noise, arrays['in/pl_noise'], rtol=1e-6, atol=1e-7)


def flat(tree):
  """{'a/b/c': array} of a nested dict of arrays."""
  return {'/'.join(str(p.key) for p in path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def max_diffs(ours, official):
  """{param path: (max |diff|, max |official|)} of two equal-structure param trees."""
  ours, official = flat(ours), flat(official)
  assert ours.keys() == official.keys()
  return {k: (float(np.abs(ours[k] - official[k]).max()), float(np.abs(official[k]).max()))
          for k in official}


@pytest.mark.parametrize('net, phases', [('D', D_PHASES), ('G', G_PHASES)])
def test_each_phase_gradient_equals_the_official(fixture, stepped, net, phases):
  arrays, _ = fixture
  _, after, _, _ = stepped
  count, seen = after.d_opt_state if net == 'D' else after.g_opt_state
  assert int(count) == len(phases)   # step 0: both lazy phases are due
  report, bad = [], []
  for i, phase in enumerate(phases):
    ours = jax.tree.map(lambda s: s[i], seen)   # pylint: disable=cell-var-from-loop
    official = sg.from_official(part(arrays, f'grad/{phase}'))['params']
    diffs = max_diffs(ours, official)
    scale = max(v[1] for v in diffs.values())
    report.append(f'{phase}: max |diff| {max(v[0] for v in diffs.values()):.3g} '
                  f'(max |grad| {scale:.3g})')
    bad += [f'{phase} {k}: max |diff| {d:.3g} (max |grad| {s:.3g}, phase {scale:.3g})'
            for k, (d, s) in diffs.items()
            if d > PHASE_RTOL * scale or d > TENSOR_RTOL * s + FLOOR]
  print('; '.join(report))
  assert not bad, '\n'.join(bad)


def test_params_do_not_move_and_pl_mean_equals_the_official(fixture, stepped):
  arrays, _ = fixture
  before, after, metrics, _ = stepped
  for a, b in zip(jax.tree.leaves((before.g_params, before.d_params)),
                  jax.tree.leaves((after.g_params, after.d_params))):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(after.pl_mean, arrays['out/pl_mean'], rtol=1e-5, atol=1e-8)
  assert float(metrics['pl']) > 0 and float(metrics['r1']) > 0
