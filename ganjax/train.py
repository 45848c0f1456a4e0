"""train_and_evaluate(config, workdir): the outer loop, resumable from WORKDIR."""

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from ganjax import hooks, input_pipeline, report, report_data, run_config, workdir_lock
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.metric_writers import MetricWriter
from ganjax.parallel import check_batch, to_host


class _Clock:
  """The run's wall time in seconds: train_seconds (everything but evaluations: data
  loading, init and compiles count, the user waits for them) and eval_seconds, both
  continued from the values a resumed run logged."""

  def __init__(self):
    self.start = time.perf_counter()
    self.train_base = self.eval_base = 0.0   # logged by the processes before this one
    self.evaluated = 0.0                     # this process's evaluations

  def resume(self, workdir, step):
    """Continues from the last metrics.jsonl row at or before `step` that has the times
    (rows past it were logged after that checkpoint, by a process that then stopped)."""
    path = os.path.join(workdir, 'metrics.jsonl')
    for row in reversed(report_data.read_metrics(path)['rows']):
      if row['step'] <= step and 'train_seconds' in row:
        self.train_base, self.eval_base = row['train_seconds'], row.get('eval_seconds', 0.0)
        return

  def times(self):
    """{'train_seconds', 'eval_seconds'} now."""
    elapsed = time.perf_counter() - self.start
    return {'train_seconds': self.train_base + elapsed - self.evaluated,
            'eval_seconds': self.eval_base + self.evaluated}

  @contextlib.contextmanager
  def evaluating(self):
    """Counts the time inside the block as evaluation, not training."""
    t = time.perf_counter()
    try:
      yield
    finally:
      self.evaluated += time.perf_counter() - t


class _EvalRows:
  """The writer the evaluator gets: holds its rows until the evaluation ends, then
  writes them with the clock's times (eval_seconds counting this evaluation)."""

  def __init__(self, writer):
    self.writer, self.rows = writer, []

  def write(self, step, scalars):
    self.rows.append((step, scalars))

  def flush(self, times):
    for step, scalars in self.rows:
      self.writer.write(step, {**scalars, **times})
    self.rows = []


def _agreed(flag):
  """Process 0's flag, on every process: each process has its own clock, and all must
  stop at the same step."""
  if jax.process_count() > 1:
    flag = bool(multihost_utils.broadcast_one_to_all(np.array(flag)))
  return bool(flag)


def _budget_spent(clock, budget_s, chunk_metrics):
  """Whether train_seconds, with the chunk just dispatched finished, reached budget_s."""
  jax.block_until_ready(chunk_metrics)   # the chunk's end, not its asynchronous dispatch
  return _agreed(clock.times()['train_seconds'] >= budget_s)


class _MetricsBuffer:
  """Collects per-chunk device metrics and fetches them later, without stalling the step."""

  def __init__(self, writer, bar, clock):
    self.writer, self.bar, self.clock, self.pending = writer, bar, clock, []
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
    self.writer.write(end, {**means, **self.clock.times()})
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
    self.sampler = exp.sampler(dataset.num_examples)
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


def _all_finite(tree):
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.floating)]
  return bool(to_host(jnp.all(jnp.stack(leaves))))


def train_and_evaluate(config, workdir, lock=True):
  """Trains (or resumes) the run in `workdir` to config.num_steps, or until its training
  wall time reaches config.time_budget minutes; returns the final state. Process 0 holds
  the workdir's lock (workdir_lock) throughout unless lock=False."""
  with workdir_lock.locked(workdir, lock and jax.process_index() == 0):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir):
  clock = _Clock()
  is_main = jax.process_index() == 0
  exp = Experiment(config)
  check_batch(config.batch_size, exp.real_batch, exp.par.num_devices)
  dataset = exp.load_dataset()
  os.makedirs(workdir, exist_ok=True)
  run_config.save_or_check(config, workdir, write=is_main)
  if is_main:
    for warning in exp.warnings():
      logging.warning('%s', warning)
    run_config.save_classes(workdir, dataset.class_names)
    logging.info('%s: %d examples of %s\n%s', config.data.name, dataset.num_examples,
                 dataset.image_shape, exp.summary())
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints)
  state, step = ckpt.restore(exp.abstract_state())
  if state is None:
    state, step = exp.init_state(), 0
  else:
    logging.info('resumed from the checkpoint at step %d in %s', step, ckpt.directory)
    if is_main:
      clock.resume(workdir, step)
  budget = config.get('time_budget', 0.0)
  if step >= config.num_steps or (budget and _agreed(clock.train_base >= 60 * budget)):
    if step >= config.num_steps:
      logging.info('already trained to step %d (num_steps=%d): nothing to do', step,
                   config.num_steps)
    else:
      logging.info('time budget of %g min already spent at step %d (train_seconds %.1f): '
                   'nothing to do; raise --config.time_budget to train on', budget, step,
                   clock.train_base)
    ckpt.close()
    return state
  try:
    state, stopped = _train_loop(exp, dataset, workdir, ckpt, state, step, is_main, clock)
  finally:
    ckpt.close()
  if stopped:
    raise Stopped(*stopped)
  report.after_training(config, workdir)
  return state


def _train_loop(exp, dataset, workdir, ckpt, state, step, is_main, clock):
  config = exp.config
  budget = config.get('time_budget', 0.0)
  feeder = _Feeder(exp, dataset)
  chunk_fn = exp.par.compile_chunk(exp.step_fns().train_step, resident=feeder.resident,
                                    unroll=config.get('unroll_steps', False))
  sample = hooks.sampler_fn(exp, workdir, is_main)
  evaluate = None
  if config.get('eval_every', 0):
    # Evaluation's set-up (its network, the reference) is evaluation time: a run with
    # eval off must not look slower to train than the same run with eval on.
    with clock.evaluating():
      evaluate = hooks.Evaluator(exp, dataset, workdir, is_main)
  writer = MetricWriter(workdir, enabled=is_main)
  eval_rows = _EvalRows(writer)
  bar = tqdm(total=config.num_steps, initial=step, disable=not is_main, unit='step',
             dynamic_ncols=True, mininterval=1.0)
  metrics = _MetricsBuffer(writer, bar, clock)
  stop = hooks.StopFlag()
  run_state, saved, stopped = exp.par.to_mode(state), step, None

  def checkpoint(at):
    canonical = exp.par.to_canonical(run_state)
    if not _all_finite(canonical):
      raise NonFiniteLoss(at, {})
    ckpt.save(at, canonical)
    return at

  try:
    while step < config.num_steps:
      n = hooks.next_boundary(step, config) - step
      run_state, chunk_metrics = chunk_fn(run_state, feeder.data, feeder.get(step, n))
      if step + n < config.num_steps:
        feeder.prefetch(step + n, hooks.next_boundary(step + n, config) - step - n)
      step += n
      metrics.add(step, chunk_metrics)
      bar.update(n)
      # The budget ends the run as num_steps would, at this chunk's end; the chunks
      # themselves follow num_steps alone, so a resumed run still matches bit for bit.
      over = bool(budget) and _budget_spent(clock, 60 * budget, chunk_metrics)
      if over:
        logging.info('time budget of %g min reached at step %d (train_seconds %.1f)',
                     budget, step, clock.times()['train_seconds'])
      done = step == config.num_steps or over
      if step % config.log_every == 0 or done:
        metrics.flush(exp.par.metrics_to_host)
      if step % config.sample_every == 0 or done:
        sample(run_state, step)
      if evaluate and (step % config.eval_every == 0 or done):
        metrics.flush(exp.par.metrics_to_host)
        with clock.evaluating():
          evaluate(run_state, step, eval_rows)
        eval_rows.flush(clock.times())
      stopping = stop.requested()
      if step % config.checkpoint_every == 0 or done or stopping:
        metrics.flush(exp.par.metrics_to_host)
        saved = checkpoint(step)
      if stopping and not done:
        logging.warning('stopped by signal %d at step %d; checkpoint saved in %s; rerun the '
                        'same command to resume', stop.signum, step, ckpt.directory)
        stopped = (stop.signum, step)
        break
      if over:
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
