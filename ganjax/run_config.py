"""Checks on a run's config: allowed values, and that a workdir is resumed with its own config."""

import dataclasses
import json
import os

import ml_collections

from ganjax import input_pipeline, optimizers, parallel
from ganjax.objectives import augment, losses, regularizers
from ganjax.models import conv
from ganjax.errors import GanjaxError


def _field_defaults(group, cls, skip=()):
  """{'group.field': default} of a step config dataclass."""
  return {f'{group}.{f.name}': f.default for f in dataclasses.fields(cls) if f.name not in skip}


CHOICES = {
    'loss.name': losses.LOSSES,
    'loss.generator': losses.GENERATOR_LOSSES,
    'loss.relativistic': losses.RELATIVISTIC,
    'fakes_for_d': ('train', 'inference'),
    'data.sampling': input_pipeline.SAMPLING,
    'optimizer.g.name': optimizers.OPTIMIZERS,
    'optimizer.d.name': optimizers.OPTIMIZERS,
    'd_batch': ('combined', 'separate'),
    'updates': ('alternating', 'simultaneous'),
    'parallel': parallel.MODES,
    'conv_impl': conv.IMPLS,
    'reg.lazy': ('own_step', 'fused'),
    'eval.features': ('auto', 'domain', 'inception'),
    'eval.unseen_split': ('auto', 'none', 'train', 'test'),
    'model.dtype': ('float32', 'bfloat16'),
    'model.param_dtype': ('float32', 'bfloat16'),
    'model.conditional': (False, True, 'auto'),
    'data.xflip': (False, True),
    'fake_labels': ('sampled', 'real'),
}
# Defaults of fields newer than some saved workdirs (what those runs trained with).
DEFAULTS = {'updates': 'alternating', 'eval.features': 'auto', 'eval.unseen_split': 'auto',
            'ema_decay': 0.0, 'ema_kimg': 0.0, 'ema_rampup': 0.0,
            'eval_every': 0, 'eval_samples': 5000, 'fakes_for_d': 'train', 'sample_grid': 10,
            'data.sampling': 'epochs', 'data.clusters': 0, 'data.xflip': False,
            'fake_labels': 'sampled', 'data.clusters_per_class': 0,
            'report': True, 'time_budget': 0.0,
            'optimizer.g.name': 'adam', 'optimizer.d.name': 'adam', 'optimizer.g.warmup_steps': 0,
            'optimizer.g.decay_steps': 0, 'optimizer.d.warmup_steps': 0,
            'optimizer.d.decay_steps': 0,
            'model.generator.spectral_norm': False, 'model.conditional': False,
            'model.dtype': 'float32', 'model.param_dtype': 'float32', 'model.discriminator.spectral_norm': False,
            **_field_defaults('loss', losses.LossConfig), 'loss.clip': 0.0,
            **_field_defaults('reg', regularizers.RegConfig, skip=('clip',)),
            **_field_defaults('augment', augment.AugmentConfig), 'augment.policy': '',
            'reg.lazy': 'fused'}
# Non-negative weights, and fields in ranges: (name, low, high, what the range means).
WEIGHTS = ('loss.class_weight', 'loss.clip', 'reg.gp', 'reg.r1', 'reg.r2', 'reg.lecam',
           'reg.pl_weight', 'reg.mode_seeking')
RANGES = (('augment.p', 0.0, 1.0, 'a probability (or -1: 0 if adaptive, else 1)'),
          ('augment.target', -1.0, 1.0, 'the target of r_t = E[sign D(x_real)]'),
          ('reg.lecam_decay', 0.0, 0.999999, 'an EMA decay'),
          ('reg.pl_decay', 0.0, 1.0, "the rate of pl_mean's EMA"),
          ('loss.real_label', 0.0, 1.0, 'a probability'))
# Fields a rerun may change without changing what is being trained.
RUN_CONTROL = {'num_steps', 'checkpoint_every', 'keep_checkpoints', 'sample_every',
               'log_every', 'steps_per_dispatch', 'parallel', 'data.dir', 'data.tfds_dir',
               'data.source', 'conv_impl', 'unroll_steps', 'eval_every', 'eval_samples',
               'eval.features', 'eval.classifier', 'eval.inception_weights', 'eval.best_metric',
               'eval.unseen_split',
               'report', 'model.dtype', 'time_budget'}


def flatten(config, prefix=''):
  """ConfigDict / dict -> {'a.b': value} with lists for tuples."""
  out = {}
  for key, value in (config.items() if hasattr(config, 'items') else []):
    name = f'{prefix}{key}'
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      out.update(flatten(value, name + '.'))
    else:
      out[name] = list(value) if isinstance(value, tuple) else value
  return out


def _effective(config):
  """{'a.b': value} of a config with the defaults of missing fields, augment.p's AUTO_P
  as the start it means (an old workdir's explicit 1.0 trains the same), and reg.lazy
  only where a lazy penalty runs (older workdirs trained it 'fused')."""
  flat = {**DEFAULTS, **flatten(config)}
  flat['augment.p'] = augment.start_p(flat['augment.p'], flat['augment.adaptive'])
  every = flat['reg.r1_every']
  lazy = isinstance(every, int) and every > 1 and bool(flat['reg.r1'] or flat['reg.r2'])
  if not lazy and flat['reg.lazy'] in CHOICES['reg.lazy']:
    flat['reg.lazy'] = 'own_step'   # no lazy penalty: the choice changes nothing
  return flat


def validate(config):
  """Raises a one-line GanjaxError for out-of-range values of the enumerated fields."""
  flat = _effective(config)
  for name, allowed in CHOICES.items():
    if flat.get(name) not in allowed:
      raise GanjaxError(f'--config.{name}={flat.get(name)!r} is not one of {list(allowed)}')
  for name in ('batch_size', 'num_steps', 'd_steps', 'steps_per_dispatch', 'log_every',
               'sample_every', 'checkpoint_every', 'keep_checkpoints'):
    if not isinstance(flat.get(name), int) or flat[name] < 1:
      raise GanjaxError(f'--config.{name} must be a positive integer, got {flat.get(name)!r}')
  if not (isinstance(flat['ema_decay'], float) and 0.0 <= flat['ema_decay'] < 1.0):
    raise GanjaxError(f'--config.ema_decay must be in [0, 1) (0: off), got {flat["ema_decay"]!r}')
  for name in ('ema_kimg', 'ema_rampup'):
    if not (isinstance(flat[name], (int, float)) and flat[name] >= 0):
      raise GanjaxError(f'--config.{name} must be a number >= 0 (0: off), got {flat[name]!r}')
  if flat['ema_decay'] and flat['ema_kimg']:
    raise GanjaxError('--config.ema_decay and --config.ema_kimg both set the EMA: keep one '
                      '(ema_kimg: a half-life in thousands of images, as StyleGAN2)')
  for name in ('eval_every', 'eval_samples'):
    if not isinstance(flat[name], int) or flat[name] < 0:
      raise GanjaxError(f'--config.{name} must be an integer >= 0, got {flat[name]!r}')
  if not _number(flat['time_budget']) or not flat['time_budget'] >= 0:
    raise GanjaxError(f'--config.time_budget is minutes of training time: it must be a '
                      f'number >= 0 (0: off), got {flat["time_budget"]!r}')
  if flat['updates'] == 'simultaneous' and (flat['d_steps'] != 1 or flat['d_batch'] != 'combined'):
    raise GanjaxError("--config.updates='simultaneous' makes one D update per step (seed 004); "
                      "d_steps>1 or d_batch='separate' need --config.updates=alternating")
  _validate_clusters(flat)
  _validate_objective(flat)


def _validate_clusters(flat):
  """data.clusters and data.clusters_per_class: integers >= 0, at most one of them on, for
  a conditional model on an in-memory dataset."""
  on = []
  for field in ('clusters', 'clusters_per_class'):
    k = flat[f'data.{field}']
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
      raise GanjaxError(f'--config.data.{field} must be an integer >= 0 (0: off), got {k!r}')
    if k and flat['model.conditional'] is not True:
      raise GanjaxError(f'--config.data.{field}={k} conditions G and D on cluster ids: set '
                        '--config.model.conditional=True (and a conditioning, e.g. cbn)')
    if k and flat.get('data.name') == input_pipeline.FOLDER:
      raise GanjaxError(f'--config.data.{field} needs an in-memory dataset (mnist, '
                        'fashion_mnist, cifar10); image folders stream: set it to 0')
    on += [field] * bool(k)
  if len(on) > 1:
    raise GanjaxError('--config.data.clusters (no labels) and data.clusters_per_class '
                      '(clusters within each label) exclude each other: set one to 0')


def _number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate_objective(flat):
  """The loss / reg / augment fields: weights >= 0, ranges, ops, combinations."""
  for name in WEIGHTS:
    if not _number(flat[name]) or flat[name] < 0:
      raise GanjaxError(f'--config.{name} must be a number >= 0 (0: off), got {flat[name]!r}')
  for name, low, high, what in RANGES:
    if not _number(flat[name]) or not low <= flat[name] <= high:
      raise GanjaxError(f'--config.{name} is {what}: it must be in [{low:g}, {high:g}], got '
                        f'{flat[name]!r}')
  for name, low in (('reg.r1_every', 1), ('reg.lecam_start', 0), ('augment.adjust_every', 1),
                    ('reg.pl_every', 1), ('reg.pl_batch_shrink', 1),
                    ('sample_grid', 1), ('optimizer.g.warmup_steps', 0),
                    ('optimizer.g.decay_steps', 0), ('optimizer.d.warmup_steps', 0),
                    ('optimizer.d.decay_steps', 0)):
    if not isinstance(flat[name], int) or isinstance(flat[name], bool) or flat[name] < low:
      raise GanjaxError(f'--config.{name} must be an integer >= {low}, got {flat[name]!r}')
  for name in ('augment.kimg', 'loss.ls_a', 'loss.ls_b', 'loss.ls_c'):
    if not _number(flat[name]) or (name == 'augment.kimg' and flat[name] <= 0):
      raise GanjaxError(f'--config.{name} must be a number' + (' > 0' if 'kimg' in name else '')
                        + f', got {flat[name]!r}')
  policy = flat['augment.policy']
  try:
    if not isinstance(policy, str):
      raise ValueError('give the ops as one comma-separated string, e.g. color,translation')
    augment.parse_policy(policy)
  except ValueError as e:
    raise GanjaxError(f'--config.augment.policy={policy!r}: {e}') from None
  if flat['augment.adaptive'] and not policy:
    raise GanjaxError('--config.augment.adaptive=True adapts the strength of the ops in '
                      '--config.augment.policy, which is empty: set e.g. '
                      '--config.augment.policy=color,translation,cutout')
  if flat['augment.adaptive'] and flat['augment.p'] >= 1.0:
    raise GanjaxError(f'--config.augment.adaptive=True starts p at --config.augment.p='
                      f'{flat["augment.p"]!r} (full strength); ADA starts at 0: drop '
                      '--config.augment.p (its default is 0 here) or set a start below 1')
  if flat['reg.pl_weight'] and flat.get('model.name') != 'stylegan2':
    raise GanjaxError(f"--config.reg.pl_weight={flat['reg.pl_weight']!r}: path length "
                      "regularization differentiates StyleGAN2's ws; set "
                      "--config.model.name=stylegan2 or reg.pl_weight=0")
  if flat['reg.mode_seeking'] and flat['fake_labels'] == 'real':
    raise GanjaxError("--config.reg.mode_seeking pairs fakes under one sampled label; "
                      "--config.fake_labels=real gives each fake its real's: use one of them")
  if flat['loss.name'] == 'relativistic' and flat['d_batch'] != 'combined':
    raise GanjaxError("--config.loss.name=relativistic couples reals and fakes in one D "
                      "loss: it needs --config.d_batch=combined")
  for net in ('g', 'd'):
    warmup, decay = flat[f'optimizer.{net}.warmup_steps'], flat[f'optimizer.{net}.decay_steps']
    if decay and warmup >= decay:
      raise GanjaxError(f'--config.optimizer.{net}.warmup_steps={warmup} must be below its '
                        f'decay_steps={decay} (the step the rate reaches 0), or decay_steps=0')
  if flat['fakes_for_d'] == 'inference' and flat['updates'] == 'simultaneous':
    raise GanjaxError("--config.fakes_for_d=inference makes D's fakes in a pass of their "
                      "own; the simultaneous step shares G's training pass: use "
                      "--config.updates=alternating")


def validate_supervised(config):
  """validate() for the helper networks (task 'classifier' | 'dae')."""
  flat = flatten(config)
  for name in ('batch_size', 'num_steps', 'log_every', 'checkpoint_every', 'keep_checkpoints'):
    if not isinstance(flat.get(name), int) or flat[name] < 1:
      raise GanjaxError(f'--config.{name} must be a positive integer, got {flat.get(name)!r}')
  if not 0.0 <= flat.get('holdout', -1) < 1.0:
    raise GanjaxError(f'--config.holdout must be in [0, 1), got {flat.get("holdout")!r}')
  shift = flat.get('augment_shift', 0)
  if not isinstance(shift, int) or shift < 0:
    raise GanjaxError(f'--config.augment_shift must be a whole number of pixels >= 0, got {shift!r}')


def load(workdir):
  """The ConfigDict saved in WORKDIR/config.json."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise GanjaxError(f'no config.json in {workdir}: is it a ganjax workdir? '
                      'Train first with experiments.train --workdir=...')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def save_or_check(config, workdir, write=True):
  """Saves config.json for a new run, or checks a resumed run trains the same thing."""
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    saved = _effective(load(workdir))
    now = _effective(json.loads(config.to_json_best_effort()))
    diffs = sorted(k for k in set(saved) | set(now)
                   if k not in RUN_CONTROL and saved.get(k) != now.get(k))
    if diffs:
      shown = ', '.join(f'{k}: {saved.get(k)!r} -> {now.get(k)!r}' for k in diffs[:3])
      raise GanjaxError(f'{workdir} holds a run with a different config ({shown}); use a '
                        'new --workdir, or rerun with the saved config')
  if write:
    write_atomically(path, config.to_json_best_effort(indent=2))


def write_atomically(path, text):
  """Writes `text` to path.tmp, then renames it over `path`: a reader or a kill mid-write
  sees the old file or the new one, never half of one."""
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def save_classes(workdir, class_names):
  """Writes WORKDIR/classes.json, so generate can take --labels by name."""
  write_atomically(os.path.join(workdir, 'classes.json'), json.dumps(list(class_names)))


def load_classes(workdir):
  """The class names saved at training time ([] if none)."""
  path = os.path.join(workdir, 'classes.json')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)
