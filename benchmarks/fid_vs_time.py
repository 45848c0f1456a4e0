r"""CIFAR-10 FID against training wall time on one device (the device suite's FID part):
a recipe trained with the GPU recipe on the carried training subset, its Inception FID
of N samples against the full training set's statistics every `every_s` seconds of
training.

The recipe: configs/cifar10_sngan.py (SNGAN, hinge, n_dis 5, batch 64) unless the spec
names another (--fid_recipe). Of the CIFAR-10 configs, SNGAN is the one that trains
furthest in minutes: BigGAN's step costs twice SNGAN's (README, H200: 37 vs 70 steps/s in
bf16) and it samples from an EMA of decay 0.9999 (10k steps to forget its start);
StyleGAN2-ADA's and R3GAN's recipes reach the better published FIDs, but over 20-100M
images, hours of a GPU, with EMAs and schedules set for that length. Default overrides
(--fid_overrides): DiffAugment (augment.policy=color,translation,cutout at p=1), since
the carry holds a tenth of CIFAR-10 (the DiffAugment paper's 10% regime, where SNGAN-style
D's overfit within minutes of steps without it).

The clock: training seconds from the first chunk's dispatch (its compile included, as a
user waits for it), evaluations excluded. The host keeps one chunk in flight (it waits
for the chunk before the one it just dispatched), so the device does not idle on the
host's clock checks. Samples: fixed latents (sampling.fixed_latents, seed 0), balanced
labels for a conditional recipe, G's EMA where the recipe keeps one; features through the
carried float16-stored Inception (upcast to float32); FID in float64 against the carried
mu and Sigma.
"""

import ast
import importlib
import time

import numpy as np

from benchmarks import device_carry, gpu_recipe
from benchmarks.suite_child import shrink

DEFAULT_OVERRIDES = 'augment.policy=color,translation,cutout'


def overrides(text):
  """'a.b=v;c=w' -> {'a.b': v, 'c': w}, each value a Python literal or else a string."""
  out = {}
  for item in filter(None, (part.strip() for part in text.split(';'))):
    key, _, value = item.partition('=')
    try:
      out[key.strip()] = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
      out[key.strip()] = value.strip()
  return out


def recipe_config(spec):
  """The FID run's config: the recipe, --smoke's widths, its overrides, the GPU recipe."""
  config = importlib.import_module(f'configs.{spec["recipe"]}').get_config()
  config = shrink(config) if spec['smoke'] else config
  config.report = False
  config.batch_size = spec.get('batch') or config.batch_size
  config.update_from_flattened_dict(overrides(spec.get('overrides', '')))
  return gpu_recipe.apply(config, spec['precision'], spec['steps_per_dispatch'])


class Trainer:
  """The recipe's compiled chunk over the carried images, resident on the device."""

  def __init__(self, config, carry):
    from ganjax.experiment import Experiment   # pylint: disable=g-import-not-at-top
    self.exp = exp = Experiment(config)
    arrays = {'images': carry.images}
    if exp.num_classes:
      arrays['labels'] = carry.labels
    self.data = exp.par.put_data(arrays)
    self.sampler = exp.sampler(len(carry.images))
    self.chunk = exp.par.compile_chunk(exp.step_fns().train_step, resident=True, unroll=False)
    self.state = exp.par.to_mode(exp.init_state())
    self.steps, self.s = 0, config.steps_per_dispatch

  def dispatch(self):
    """Queues one chunk of S steps; returns its metrics (not waited for)."""
    idx = self.exp.par.shard_steps(self.sampler.indices(self.steps, self.s))
    self.state, metrics = self.chunk(self.state, self.data, idx)
    self.steps += self.s
    return metrics

  def train_for(self, seconds):
    """Runs chunks until `seconds` of wall time have passed (one chunk in flight); returns
    the seconds it took, after the last chunk finished."""
    import jax   # pylint: disable=g-import-not-at-top
    start, previous = time.perf_counter(), None
    while time.perf_counter() - start < seconds or previous is None:
      metrics = self.dispatch()
      if previous is not None:
        jax.block_until_ready(previous)
      previous = metrics
    jax.block_until_ready((self.state, previous))
    return time.perf_counter() - start


def sample_features(trainer, inception_vars, n, batch, seed=0):
  """Inception features [n, 2048] of n samples of the trainer's G (EMA if kept)."""
  from ganjax import sampling, state as gstate   # pylint: disable=g-import-not-at-top
  from ganjax.metrics import inception   # pylint: disable=g-import-not-at-top
  exp = trainer.exp
  st = exp.par.to_canonical(trainer.state)
  z = sampling.fixed_latents(seed, n, exp.config.model.latent_dim)
  labels = sampling.mixed_labels(seed, n, exp.num_classes) if exp.num_classes else None
  images = sampling.generate_images(sampling.make_generate_fn(exp.generator),
                                    gstate.generator_params(st), st.g_batch_stats, z,
                                    labels, chunk=batch)
  return inception.extract(inception_vars, images, batch_size=batch)


def evaluate(trainer, carry, spec):
  """FID of spec['samples'] samples against the carried reference, and its seconds."""
  from ganjax.metrics import stats   # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  feats = sample_features(trainer, carry.variables, spec['samples'], spec['eval_batch'])
  fid = stats.frechet_distance(*stats.feature_stats(feats), carry.mu, carry.sigma)
  return fid, time.perf_counter() - start


def marks(spec):
  """Training seconds at which to evaluate: every every_s up to minutes x 60."""
  total, every = spec['minutes'] * 60, spec['every_s']
  out = list(np.arange(every, total + 1e-9, every)) or [total]
  return [float(m) for m in out]


def run(spec, emit):
  """Trains and evaluates until the last mark or spec['deadline_s'] seconds from now,
  calling emit(row) after each evaluation (and once with the setup's row first)."""
  begin = time.perf_counter()
  carry = device_carry.unpack(spec['carry'])
  config = recipe_config(spec)
  trainer = Trainer(config, carry)
  per_step = trainer.exp.batches_per_step * trainer.exp.real_batch
  emit({'kind': 'setup', 'recipe': spec['recipe'], 'images': len(carry.images),
        'reference_n': carry.n_reference, 'batch': config.batch_size,
        'steps_per_dispatch': config.steps_per_dispatch, 'dtype': config.model.dtype,
        'overrides': spec.get('overrides', ''), 'carry': carry.manifest,
        'setup_s': time.perf_counter() - begin})
  clock, eval_guess = 0.0, spec['eval_guess_s']
  for mark in marks(spec):
    left = spec['deadline_s'] - (time.perf_counter() - begin) - eval_guess
    if left <= 1:
      break
    clock += trainer.train_for(min(mark - clock, left))
    fid, eval_s = evaluate(trainer, carry, spec)
    eval_guess = max(eval_guess, eval_s)
    emit({'kind': 'eval', 'mark_s': mark, 'train_s': clock, 'g_steps': trainer.steps,
          'kimg_real': trainer.steps * per_step / 1000, 'fid': fid, 'samples': spec['samples'],
          'eval_s': eval_s, 'wall_s': time.perf_counter() - begin})
    if mark - clock > 1:   # the deadline cut this segment short
      break
