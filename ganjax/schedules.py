"""Hyper-parameters that follow a schedule over the images seen (R3GAN's presets).

In a config, `schedule.<field> = dict(end=..., kimg=...)` moves <field> from its configured
value (the start) to `end` by cosine over the first kimg thousand images, then holds
`end`, as R3GAN's training_loop.cosine_decay_with_warmup (without warm-up or hold). Images
seen = G steps x batch_size, as R3GAN's cur_nimg counts them. The value is a pure function
of the step, so a resumed run follows the same curve; each step logs it as
schedule/<field>.
"""

import dataclasses
import math

import jax.numpy as jnp

from ganjax.errors import GanjaxError
from ganjax.objectives import augment

SCHEDULABLE = ('optimizer.g.learning_rate', 'optimizer.d.learning_rate', 'optimizer.g.b1',
               'optimizer.d.b1', 'optimizer.g.b2', 'optimizer.d.b2', 'reg.r1', 'reg.r2',
               'reg.gp', 'augment.p', 'ema_kimg')
KINDS = ('cosine',)


@dataclasses.dataclass(frozen=True)
class Schedule:
  """One field's schedule: start -> end by `kind` over `images` images."""
  field: str
  start: float
  end: float
  images: float
  kind: str = 'cosine'

  def at_images(self, images):
    """The value after `images` images (a number or a traced scalar)."""
    t = jnp.minimum(jnp.asarray(images, jnp.float32) / self.images, 1.0)
    decay = 0.5 * (1.0 + jnp.cos(math.pi * t))
    return self.start + (1.0 - decay) * (self.end - self.start)


def _nodes(tree, prefix=''):
  """(path, entry) of every schedule entry (a dict with 'end') under `tree`."""
  for key, value in (tree.items() if hasattr(tree, 'items') else []):
    path = f'{prefix}{key}'
    if hasattr(value, 'items') and 'end' in value:
      yield path, value
    elif hasattr(value, 'items'):
      yield from _nodes(value, path + '.')
    else:
      raise GanjaxError(f'--config.schedule.{path}={value!r}: a schedule is '
                        f'dict(end=..., kimg=...) under schedule.<field>')


def _get(config, path):
  node = config
  for part in path.split('.'):
    node = node.get(part) if hasattr(node, 'get') else None
  return node


def from_config(config):
  """The config's schedules, checked: a tuple of Schedule sorted by field."""
  out = []
  for path, entry in _nodes(config.get('schedule', {})):
    if path not in SCHEDULABLE:
      raise GanjaxError(f'--config.schedule.{path}: {path} cannot follow a schedule; '
                        f'use one of {list(SCHEDULABLE)}')
    extra = sorted(set(entry) - {'end', 'kimg', 'kind'})
    kind = entry.get('kind', 'cosine')
    if extra or kind not in KINDS or not entry.get('kimg', 0) > 0:
      raise GanjaxError(f'--config.schedule.{path}: give end, kimg > 0 and kind in {KINDS} '
                        f'(got {dict(entry)})')
    start = _get(config, path)
    if path == 'augment.p':
      if config.augment.get('adaptive', False):
        raise GanjaxError('--config.schedule.augment.p: ADA (augment.adaptive) sets p '
                          'itself; schedule p with adaptive=False')
      start = augment.start_p(start, False)
    if not isinstance(start, (int, float)) or isinstance(start, bool):
      raise GanjaxError(f'--config.schedule.{path}: the config has no number at {path} '
                        'to start from')
    out.append(Schedule(path, float(start), float(entry['end']), 1000.0 * entry['kimg'], kind))
  return tuple(sorted(out, key=lambda s: s.field))


def find(schedules, field):
  """The Schedule of `field`, or None."""
  return next((s for s in schedules if s.field == field), None)


def value(schedules, field, static, step, batch):
  """`field` at G step `step` (traced): its schedule's value after step x batch images,
  or `static` when it has none."""
  s = find(schedules, field)
  return static if s is None else s.at_images(step * batch)
