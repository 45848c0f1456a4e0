"""What the training loop does between chunks: stop on a signal, find the next chunk
boundary, draw sample grids, evaluate and keep the best state. Per run: loop.py calls
them for a single run (train.py) and for each of vectorized seeds (vectorized.py)."""

import json
import os
import signal

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from ganjax import evaluation, run_config, sampling, state as state_lib
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError, describe_os_error
from ganjax.parallel import to_host



class StopFlag:
  """Set by SIGTERM/SIGINT; the loop saves and exits cleanly at the next chunk."""

  def __init__(self):
    self.signum = None
    self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}

  def _handle(self, signum, frame):
    del frame
    self.signum = signum
    signal.signal(signum, self._old[signum])  # a second signal acts as usual

  def requested(self):
    flag = self.signum is not None
    if jax.process_count() > 1:  # every process must agree to stop at the same step
      flag = bool(np.any(multihost_utils.process_allgather(np.array(flag))))
    return flag

  def restore(self):
    for s, handler in self._old.items():
      signal.signal(s, handler)


def next_boundary(step, config):
  """The step the next chunk ends at: the next log / sample / checkpoint / eval step,
  num_steps, or steps_per_dispatch ahead, whichever comes first."""
  every = (config.log_every, config.sample_every, config.checkpoint_every,
           config.get('eval_every', 0) or config.num_steps)
  nxt = min((step // e + 1) * e for e in every)
  return min(nxt, config.num_steps, step + config.steps_per_dispatch)


class Evaluator:
  """eval_every: scores eval_samples images from fixed latents (EMA weights if kept),
  logs them, and keeps the best-scoring state in WORKDIR/best (with best.json)."""

  def __init__(self, exp, dataset, workdir, is_main):
    c, ev = exp.config, exp.config.eval
    self.exp, self.workdir, self.is_main = exp, workdir, is_main
    self.space = evaluation.feature_space(ev.features, c.data.name, classifier=ev.classifier,
                                          inception_weights=ev.inception_weights,
                                          cache_dir=evaluation.feature_cache_dir(c.data))
    # cluster ids are not the classifier's classes: no label accuracy for them
    self.scored_labels = not exp.clusters
    unseen = evaluation.load_unseen(c.data, c.eval_samples, c.seed,
                                    ev.get('unseen_split', 'auto'), self.scored_labels)
    self.ref = evaluation.reference_from(dataset, c.eval_samples, seed=c.seed,
                                         with_labels=self.scored_labels, unseen=unseen)
    self.metric = ev.best_metric if ev.best_metric != 'auto' else self.space.prefix + 'fid'
    n = self.ref.n
    self.z = sampling.fixed_latents(c.seed + 1, n, c.model.latent_dim)
    self.labels = (np.arange(n) % exp.label_classes).astype(np.int32) if exp.num_classes else None
    self.g_labels = exp.condition_ids(self.labels, self.z)
    self.generate = sampling.make_generate_fn(exp.generator.clone(axis_name=None))
    self.best_path = os.path.join(workdir, 'best.json')
    self.best = None
    if os.path.exists(self.best_path):
      with open(self.best_path) as f:
        saved = json.load(f)
      if saved.get('metric') == self.metric and saved.get('feature_space') == self.space.name:
        self.best = saved['value']
    self.ckpt = Checkpointer(workdir, keep=1, subdir='best')

  def __call__(self, run_state, step, writer):
    canonical = self.exp.par.to_canonical(run_state)
    host = to_host({'p': state_lib.generator_params(canonical), 's': canonical.g_batch_stats})
    images = sampling.generate_images(self.generate, host['p'], host['s'], self.z,
                                      self.g_labels)
    result = evaluation.evaluate(self.space, self.ref, images,
                                 self.labels if self.scored_labels else None)
    scores = result['metrics']
    if self.metric not in scores:
      raise GanjaxError(f'--config.eval.best_metric={self.metric!r} is not computed in the '
                        f'{self.space.name} space; choose one of {sorted(scores)}')
    writer.write(step, {f'eval/{k}': v for k, v in scores.items()})
    logging.info('step %d eval (n=%d): %s', step, result['n'],
                 ', '.join(f'{k} {v:.4g}' for k, v in scores.items()))
    if evaluation.is_better(self.metric, scores[self.metric], self.best):
      self.best = scores[self.metric]
      self.ckpt.save(step, canonical)
      self.ckpt.wait()
      if self.is_main:
        run_config.write_atomically(self.best_path, json.dumps(
            {'metric': self.metric, 'value': self.best, 'step': int(step),
             'feature_space': self.space.name, 'n': result['n'], **result}, indent=2))

  def close(self):
    self.ckpt.close()


def grid_writer(exp, workdir, is_main):
  """Returns write_grid(run_state, step): a sample_grid x sample_grid grid of samples (10
  x 10 unless the config says) from fixed noise -> WORKDIR/samples/step_N.png. ("Sampler"
  is only the index sampler of real batches, input_pipeline.IndexSampler.)"""
  side = exp.config.get('sample_grid', 10)
  n = side * side
  z = sampling.fixed_latents(exp.config.seed, n, exp.config.model.latent_dim)
  labels = None
  if exp.clusters:  # a mix, as the unconditional G it stands in for is sampled
    labels = sampling.mixed_labels(exp.config.seed, n, exp.num_classes)
  elif exp.num_classes:  # one row per class, as many rows as fit
    labels = sampling.class_rows(side, exp.label_classes)
  labels = exp.condition_ids(labels, z)
  generate = sampling.make_generate_fn(exp.generator.clone(axis_name=None))
  warned = []

  def write_grid(run_state, step):
    if not is_main:
      return
    host = to_host({'p': state_lib.generator_params(run_state), 's': run_state.g_batch_stats})
    if exp.par.mode == 'pmap':
      host = jax.tree.map(lambda x: x[0], host)
    images = sampling.generate_images(generate, host['p'], host['s'], z, labels)
    path = os.path.join(workdir, 'samples', f'step_{step:0{len(str(exp.config.num_steps))}d}.png')
    try:
      sampling.save_png(sampling.grid(images, rows=side), path,
                        scale=sampling.grid_scale(side, images.shape[1]))
    except OSError as e:
      # A grid is only a view of the state: `generate` redraws it from any checkpoint
      # (same fixed noise), so a full or read-only disk costs no training here; if the
      # disk stays full, the next checkpoint save stops the run with its own message.
      if not warned:
        warned.append(step)
        logging.warning('cannot write sample grid %s: %s; training goes on (later '
                        'grids that fail are not reported)', path, describe_os_error(e))
  return write_grid
