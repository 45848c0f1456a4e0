"""train_and_evaluate(config, workdir): the outer loop, resumable from WORKDIR."""

import json
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from ganjax import evaluation, input_pipeline, run_config, sampling, state as state_lib
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.metric_writers import MetricWriter
from ganjax.parallel import check_batch, to_host

GRID_SIDE = 10  # samples/ grids are 10 x 10


class _StopFlag:
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


class _MetricsBuffer:
  """Collects per-chunk device metrics and fetches them later, without stalling the step."""

  def __init__(self, writer, bar):
    self.writer, self.bar, self.pending = writer, bar, []
    self.last_time, self.last_step = time.perf_counter(), None

  def add(self, end_step, metrics):
    for leaf in jax.tree.leaves(metrics):
      leaf.copy_to_host_async()
    self.pending.append((end_step, metrics))

  def flush(self, fetch):
    """Fetches pending metrics, fails on a non-finite loss, logs their mean."""
    if not self.pending:
      return
    rows = [(end, fetch(m)) for end, m in self.pending]
    self.pending = []
    for end, m in rows:
      bad = ~np.isfinite(m['d_loss']) | ~np.isfinite(m['g_loss'])
      if bad.any():
        step = end - len(bad) + int(np.argmax(bad)) + 1
        raise NonFiniteLoss(step, {k: float(v[np.argmax(bad)]) for k, v in m.items()})
    end = rows[-1][0]
    means = {k: float(np.mean(np.concatenate([m[k] for _, m in rows]))) for k in rows[0][1]}
    now = time.perf_counter()
    if self.last_step is not None and end > self.last_step:
      means['steps_per_sec'] = (end - self.last_step) / (now - self.last_time)
    self.last_time, self.last_step = now, end
    self.writer.write(end, means)
    self.bar.set_postfix({k: f'{v:.3g}' for k, v in means.items()}, refresh=False)


class Stopped(Exception):
  """SIGTERM/SIGINT stopped training after a checkpoint: the caller exits cleanly."""

  def __init__(self, signum, step):
    super().__init__(f'stopped by signal {signum} at step {step}')
    self.signum, self.step = signum, step


class NonFiniteLoss(Exception):
  """Raised inside the loop; turned into a GanjaxError after pending saves finish."""

  def __init__(self, step, values):
    super().__init__(step, values)
    self.step, self.values = step, values


class _Feeder:
  """Each chunk's input: indices into the device-resident dataset, or, for a streaming
  source (image folders), this process's rows decoded on the host one chunk ahead."""

  def __init__(self, exp, dataset):
    self.par, self.dataset = exp.par, dataset
    self.resident = isinstance(dataset, input_pipeline.Dataset)
    self.sampler = input_pipeline.IndexSampler(exp.config.seed, dataset.num_examples,
                                               exp.real_batch, exp.config.d_steps)
    self.data = exp.device_data(dataset) if self.resident else None
    self.conditional = bool(exp.num_classes)
    self._pool = None if self.resident else ThreadPoolExecutor(1)
    self._ahead = {}

  def get(self, step, n):
    """The chunk input for steps [step, step + n)."""
    if self.resident:
      return self.par.shard_steps(self.sampler.indices(step, n))
    self.prefetch(step, n)
    return self._ahead.pop((step, n)).result()

  def prefetch(self, step, n):
    """Starts decoding steps [step, step + n) in the background (streaming sources)."""
    if not self.resident and (step, n) not in self._ahead:
      self._ahead[(step, n)] = self._pool.submit(self._load, self.sampler.indices(step, n))

  def _load(self, idx):
    mine = idx[:, :, self.par.process_rows(idx.shape[2])]
    batch = {'images': self.dataset.load(mine)}
    if self.conditional:
      batch['labels'] = self.dataset.labels_at(mine)
    return self.par.assemble(batch, idx.shape[2])

  def close(self):
    if self._pool:
      self._pool.shutdown(cancel_futures=True)


def _next_boundary(step, config):
  every = (config.log_every, config.sample_every, config.checkpoint_every,
           config.get('eval_every', 0) or config.num_steps)
  nxt = min((step // e + 1) * e for e in every)
  return min(nxt, config.num_steps, step + config.steps_per_dispatch)


def _all_finite(tree):
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.floating)]
  return bool(to_host(jnp.all(jnp.stack(leaves))))


def train_and_evaluate(config, workdir):
  """Trains (or resumes) the run in `workdir` to config.num_steps; returns the final state."""
  is_main = jax.process_index() == 0
  exp = Experiment(config)
  check_batch(config.batch_size, exp.real_batch, exp.par.num_devices)
  dataset = exp.load_dataset()
  os.makedirs(workdir, exist_ok=True)
  run_config.save_or_check(config, workdir, write=is_main)
  if is_main:
    run_config.save_classes(workdir, dataset.class_names)
    logging.info('%s: %d examples of %s\n%s', config.data.name, dataset.num_examples,
                 dataset.image_shape, exp.summary())
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints)
  state, step = ckpt.restore(exp.abstract_state())
  if state is None:
    state, step = exp.init_state(), 0
  else:
    logging.info('resumed from the checkpoint at step %d in %s', step, ckpt.directory)
  if step >= config.num_steps:
    logging.info('already trained to step %d (num_steps=%d): nothing to do', step,
                  config.num_steps)
    ckpt.close()
    return state
  try:
    state, stopped = _train_loop(exp, dataset, workdir, ckpt, state, step, is_main)
  finally:
    ckpt.close()
  if stopped:
    raise Stopped(*stopped)
  return state


def _train_loop(exp, dataset, workdir, ckpt, state, step, is_main):
  config = exp.config
  feeder = _Feeder(exp, dataset)
  chunk_fn = exp.par.compile_chunk(exp.step_fns().train_step, resident=feeder.resident,
                                    unroll=config.get('unroll_steps', False))
  sample = _sampler_fn(exp, workdir, is_main)
  evaluate = _Evaluator(exp, dataset, workdir, is_main) if config.get('eval_every', 0) else None
  writer = MetricWriter(workdir, enabled=is_main)
  bar = tqdm(total=config.num_steps, initial=step, disable=not is_main, unit='step',
             dynamic_ncols=True, mininterval=1.0)
  metrics = _MetricsBuffer(writer, bar)
  stop = _StopFlag()
  run_state, saved, stopped = exp.par.to_mode(state), step, None

  def checkpoint(at):
    canonical = exp.par.to_canonical(run_state)
    if not _all_finite(canonical):
      raise NonFiniteLoss(at, {})
    ckpt.save(at, canonical)
    return at

  try:
    while step < config.num_steps:
      n = _next_boundary(step, config) - step
      run_state, chunk_metrics = chunk_fn(run_state, feeder.data, feeder.get(step, n))
      if step + n < config.num_steps:
        feeder.prefetch(step + n, _next_boundary(step + n, config) - step - n)
      step += n
      metrics.add(step, chunk_metrics)
      bar.update(n)
      done = step == config.num_steps
      if step % config.log_every == 0 or done:
        metrics.flush(exp.par.metrics_to_host)
      if step % config.sample_every == 0 or done:
        sample(run_state, step)
      if evaluate and (step % config.eval_every == 0 or done):
        metrics.flush(exp.par.metrics_to_host)
        evaluate(run_state, step, writer)
      stopping = stop.requested()
      if step % config.checkpoint_every == 0 or done or stopping:
        metrics.flush(exp.par.metrics_to_host)
        saved = checkpoint(step)
      if stopping and not done:
        logging.warning('stopped by signal %d at step %d; checkpoint saved in %s; rerun the '
                        'same command to resume', stop.signum, step, ckpt.directory)
        stopped = (stop.signum, step)
        break
  except NonFiniteLoss as e:
    ckpt.wait()
    shown = ', '.join(f'{k}={v:.4g}' for k, v in e.values.items()) or 'params'
    raise GanjaxError(
        f'non-finite loss at step {e.step} ({shown}); stopped without saving it. The last '
        f'good checkpoint is step {saved} in {ckpt.directory}: lower the learning rates, '
        'or rerun to resume from it') from None
  finally:
    feeder.close()
    if evaluate:
      evaluate.close()
    stop.restore()
    bar.close()
    writer.close()
  ckpt.wait()
  return exp.par.to_canonical(run_state), stopped


class _Evaluator:
  """eval_every: scores eval_samples images from fixed latents (EMA weights if kept),
  logs them, and keeps the best-scoring state in WORKDIR/best (with best.json)."""

  def __init__(self, exp, dataset, workdir, is_main):
    c, ev = exp.config, exp.config.eval
    self.exp, self.workdir, self.is_main = exp, workdir, is_main
    self.space = evaluation.feature_space(ev.features, c.data.name, classifier=ev.classifier,
                                          inception_weights=ev.inception_weights)
    self.ref = evaluation.reference_from(dataset, c.eval_samples, seed=c.seed)
    self.metric = ev.best_metric if ev.best_metric != 'auto' else self.space.prefix + 'fid'
    n = self.ref.n
    self.z = sampling.fixed_latents(c.seed + 1, n, c.model.latent_dim)
    self.labels = (np.arange(n) % exp.num_classes).astype(np.int32) if exp.num_classes else None
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
    images = sampling.generate_images(self.generate, host['p'], host['s'], self.z, self.labels)
    result = evaluation.evaluate(self.space, self.ref, images, self.labels)
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
        with open(self.best_path + '.tmp', 'w') as f:
          json.dump({'metric': self.metric, 'value': self.best, 'step': int(step),
                     'feature_space': self.space.name, 'n': result['n'], **result}, f, indent=2)
        os.replace(self.best_path + '.tmp', self.best_path)

  def close(self):
    self.ckpt.close()


def _sampler_fn(exp, workdir, is_main):
  """Returns sample(run_state, step): a 10x10 grid from fixed noise -> samples/."""
  n = GRID_SIDE * GRID_SIDE
  z = sampling.fixed_latents(exp.config.seed, n, exp.config.model.latent_dim)
  labels = None
  if exp.num_classes:  # one row per class, as many rows as fit
    labels = np.repeat(np.arange(GRID_SIDE) % exp.num_classes, GRID_SIDE).astype(np.int32)
  generate = sampling.make_generate_fn(exp.generator.clone(axis_name=None))

  def sample(run_state, step):
    if not is_main:
      return
    host = to_host({'p': state_lib.generator_params(run_state), 's': run_state.g_batch_stats})
    if exp.par.mode == 'pmap':
      host = jax.tree.map(lambda x: x[0], host)
    images = sampling.generate_images(generate, host['p'], host['s'], z, labels)
    path = os.path.join(workdir, 'samples', f'step_{step:0{len(str(exp.config.num_steps))}d}.png')
    sampling.save_png(sampling.grid(images, rows=GRID_SIDE), path,
                      scale=max(1, math.ceil(256 / (GRID_SIDE * images.shape[1]))))
  return sample
