"""benchmarks/official_speed.py's ganjax half (no official code needed): the configs it
builds at a tiny width train through the real step, report a positive speed and the
state's parameter counts, and match the official widths."""

import jax
import pytest

from benchmarks import official_speed
from ganjax.experiment import Experiment


def _args(model, scale):
  """The flags a ganjax contender's subprocess gets (the parent's, at batch 4, 1 step)."""
  return official_speed.parse_args([f'--model={model}', f'--width_scale={scale!r}',
                                    '--batch=4', '--steps=1', '--warmup=1', '--repeats=2'])


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


@pytest.mark.slow
def test_ganjax_step_runs_and_counts_its_state():
  """R3GAN at width 8 (one group of 16): its compile is the shorter of the two."""
  model, scale, devices = 'r3gan', 1 / 96, jax.devices()[:1]
  result = official_speed.run_ganjax(_args(model, scale), devices=devices)
  assert result['steps_per_sec'] > 0 and result['steps'] == 1 and result['batch'] == 4
  assert len(result['windows_s']) == 2
  abstract = Experiment(official_speed.ganjax_config(model, scale, 4),
                        devices=devices).abstract_state()
  assert result['g_params'] == _count(abstract.g_params) > 0
  assert result['d_params'] == _count(abstract.d_params) > 0


def test_widths_follow_the_official_settings():
  assert official_speed.widths('stylegan2', 1.0) == {'channel_base': 32768, 'channel_max': 512}
  assert official_speed.widths('r3gan', 1.0) == {'width': 768, 'cardinality': 96}
  c = official_speed.ganjax_config('r3gan', 1 / 24, 16)
  assert c.model.generator.widths == (32,) * 4 and c.model.discriminator.embed_dim == 32
  assert c.model.generator.cardinality == (4,) * 4 and c.batch_size == 16
  assert not c.augment.policy and not c.data.get('xflip', False)   # as the official side
  c = official_speed.ganjax_config('stylegan2', 1 / 16, 16, 'mixed')
  assert c.model.discriminator.channel_max == 32 and c.model.dtype == 'bfloat16'
  c = official_speed.ganjax_config('stylegan2', 1 / 16, 16)
  shapes = Experiment(c, devices=jax.devices()[:1]).abstract_state()
  # The official G / D at this width (official_speed's CPU default): 1,039,315 / 91,424.
  assert (_count(shapes.g_params), _count(shapes.d_params)) == (1_039_315, 91_424)
