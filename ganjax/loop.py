"""The host loop: chunks of steps, then logs, samples, evaluations and checkpoints.

One loop trains a single run (train.py) or the V seeds of one grid point stacked on a
leading axis in one program (vectorized.py). What differs between the two is a layout
object (train.OneRun or vectorized.Seeds):

  compile(resident, unroll) -> chunk(run_state, data, steps) -> (run_state, metrics)
  start(states)             canonical states, one per run -> the chunk's run_state
  stack(indices)            per-run host indices [S,k,B] -> [S,k,B] or [V,S,k,B]
  assemble(local, batch)    this process's rows [..., b, ...] of those, or of the images
                            and labels they pick -> the chunk's input (B sharded)
  member(run_state, i)      run i's state, as grid_writer and Evaluator take it
  canonical(run_state, i)   run i's canonical state (what checkpoints hold)
  metrics(metrics)          chunk metrics -> [{name: [S]}] on the host, one per run

Writers, checkpointers, sample grids, evaluators and clocks are per run (lists of length
1 for a single run). Runs trained together share the program, so they share its chunks,
its stops (signal, time budget, a non-finite loss) and its wall time.
"""

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from tqdm import tqdm

from ganjax import hooks, input_pipeline, run_config
from ganjax.errors import GanjaxError
from ganjax.metric_writers import MetricWriter
from ganjax.parallel import check_batch, to_host


@dataclasses.dataclass
class Runs:
  """What the loop trains: a layout and, per run, its Experiment, workdir, Checkpointer
  and train.Clock."""
  layout: Any
  exps: list
  workdirs: list
  ckpts: list
  clocks: list
  is_main: bool

  def of(self, i):
    """' of seed S' naming run i in messages about a group; '' for a single run."""
    return f' of seed {self.exps[i].config.seed}' if len(self.exps) > 1 else ''


class NonFiniteLoss(Exception):
  """Raised inside the loop; turned into a GanjaxError after pending saves finish."""

  def __init__(self, step, values, run=0):
    super().__init__(step, values, run)
    self.step, self.values, self.run = step, values, run


def prepare(exps, workdirs, is_main):
  """Checks the batch, loads the data and writes each run's config.json and classes
  (process 0); returns the dataset. exps: one per run, all of one grid point."""
  exp = exps[0]
  # pmap gives each device its rows of the path length batch (jit shards it unevenly).
  reg = exp.step_config().reg
  pl_rows = reg.pl_weight and exp.par.axis_name is not None
  check_batch(exp.config.batch_size, exp.real_batch, exp.par.num_devices,
              exp.config.batch_size // reg.pl_batch_shrink if pl_rows else 0,
              pairs=bool(reg.mode_seeking))
  dataset = exp.load_dataset()
  for e, workdir in zip(exps, workdirs):
    os.makedirs(workdir, exist_ok=True)
    run_config.save_or_check(e.config, workdir, write=is_main)
  if is_main:
    for warning in exp.warnings():
      logging.warning('%s', warning)
    for workdir in workdirs:
      run_config.save_classes(workdir, dataset.class_names)
    logging.info('%s: %d examples of %s\n%s', exp.config.data.name, dataset.num_examples,
                 dataset.image_shape, exp.summary())
  return dataset


def restore(exp, ckpt, clock, is_main):
  """(state, step) of the newest checkpoint that reads back, the clock continued from the
  times it logged; the initial state at step 0 when there is none."""
  state, step = ckpt.restore(exp.abstract_state())
  if state is None:
    return exp.init_state(), 0
  logging.info('resumed from the checkpoint at step %d in %s', step, ckpt.directory)
  if is_main:
    clock.resume(ckpt.workdir, step)
  return state, step


def finished(config, step, clock, name=''):
  """Whether a run at `step` has nothing to train: num_steps reached, or the time budget
  already spent (says which, prefixed by `name`)."""
  budget = config.get('time_budget', 0.0)
  if step >= config.num_steps:
    logging.info('%salready trained to step %d (num_steps=%d): nothing to do', name, step,
                 config.num_steps)
    return True
  if budget and _agreed(clock.train_base >= 60 * budget):
    logging.info('%stime budget of %g min already spent at step %d (train_seconds %.1f): '
                 'nothing to do; raise --config.time_budget to train on', name, budget, step,
                 clock.train_base)
    return True
  return False


def _agreed(flag):
  """Process 0's flag, on every process: each process has its own clock, and all must
  stop at the same step."""
  if jax.process_count() > 1:
    flag = bool(multihost_utils.broadcast_one_to_all(np.array(flag)))
  return bool(flag)


def _budget_spent(runs, step, chunk_metrics):
  """Whether train_seconds, with the chunk just dispatched finished, reached the time
  budget (any run's: runs trained together share the program and stop together)."""
  budget = runs.exps[0].config.get('time_budget', 0.0)
  if not budget:
    return False
  jax.block_until_ready(chunk_metrics)   # the chunk's end, not its asynchronous dispatch
  seconds = max(c.times()['train_seconds'] for c in runs.clocks)
  if not _agreed(seconds >= 60 * budget):
    return False
  together = (f'; its {len(runs.clocks)} seeds stop together (they train in one program)'
              if len(runs.clocks) > 1 else '')
  logging.info('time budget of %g min reached at step %d (train_seconds %.1f)%s', budget,
               step, seconds, together)
  return True


@jax.jit
def _finite(tree):
  """Whether every float leaf of `tree` is finite: one program, not one per leaf."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.floating)]
  return jnp.all(jnp.stack(leaves))


def _all_finite(tree):
  return bool(to_host(_finite(tree)))


def _first_non_finite(rows):
  """NonFiniteLoss at the earliest non-finite d_loss or g_loss of rows [(end step,
  [{name: [S]} per run])] (the lowest run at that step), or None."""
  for end, per_run in rows:
    found = []
    for i, m in enumerate(per_run):
      bad = ~np.isfinite(m['d_loss']) | ~np.isfinite(m['g_loss'])
      if bad.any():
        j = int(np.argmax(bad))
        found.append(NonFiniteLoss(end - len(bad) + j + 1,
                                   {k: float(v[j]) for k, v in m.items()}, i))
    if found:
      return min(found, key=lambda e: e.step)
  return None


class _MetricsBuffer:
  """Collects per-chunk device metrics and fetches them later, without stalling the step;
  then writes each run's means with its clock's times."""

  def __init__(self, writers, clocks, bar):
    self.writers, self.clocks, self.bar, self.pending = writers, clocks, bar, []
    self.last_time, self.last_step = time.perf_counter(), None

  def add(self, end_step, metrics):
    for leaf in jax.tree.leaves(metrics):
      leaf.copy_to_host_async()
    self.pending.append((end_step, metrics))

  def flush(self, fetch):
    """Fetches pending metrics (fetch: device metrics -> one dict per run), fails on a
    non-finite loss, logs their means."""
    if not self.pending:
      return
    rows = [(end, fetch(m)) for end, m in self.pending]
    self.pending = []
    bad = _first_non_finite(rows)
    if bad:
      raise bad
    end, now, rate = rows[-1][0], time.perf_counter(), {}
    if self.last_step is not None and end > self.last_step:
      rate['steps_per_sec'] = (end - self.last_step) / (now - self.last_time)
    self.last_time, self.last_step = now, end
    for i, (writer, clock) in enumerate(zip(self.writers, self.clocks)):
      means = {k: float(np.mean(np.concatenate([m[i][k] for _, m in rows])))
               for k in rows[0][1][i]}
      means.update(rate)
      writer.write(end, {**means, **clock.times()})
      if i == 0:
        self.bar.set_postfix({k: f'{v:.3g}' for k, v in means.items()}, refresh=False)


class _EvalRows:
  """The writer an evaluator gets: holds its rows until the evaluation ends, then
  writes them with the clock's times (eval_seconds counting this evaluation)."""

  def __init__(self, writer):
    self.writer, self.rows = writer, []

  def write(self, step, scalars):
    self.rows.append((step, scalars))

  def flush(self, times):
    for step, scalars in self.rows:
      self.writer.write(step, {**scalars, **times})
    self.rows = []


class _Feeder:
  """Each chunk's input: indices into the device-resident dataset, or, for a streaming
  source (image folders), this process's rows decoded on the host one chunk ahead. Each
  run draws its own order (Experiment.sampler of its seed)."""

  def __init__(self, runs, dataset):
    exp = runs.exps[0]
    self.par, self.layout, self.dataset = exp.par, runs.layout, dataset
    self.resident = isinstance(dataset, input_pipeline.Dataset)
    self.samplers = [e.sampler(dataset.num_examples) for e in runs.exps]
    self.data = exp.device_data(dataset) if self.resident else None
    self.conditional = bool(exp.num_classes)
    self._pool = None if self.resident else ThreadPoolExecutor(1)
    self._ahead = {}

  def _indices(self, step, n):
    return self.layout.stack([s.indices(step, n) for s in self.samplers])

  def get(self, step, n):
    """The chunk input for steps [step, step + n)."""
    if self.resident:
      idx = self._indices(step, n)
      return self.layout.assemble(self._mine(idx), idx.shape[-1])
    self.prefetch(step, n)
    return self._ahead.pop((step, n)).result()

  def prefetch(self, step, n):
    """Starts decoding steps [step, step + n) in the background (streaming sources)."""
    if not self.resident and (step, n) not in self._ahead:
      self._ahead[(step, n)] = self._pool.submit(self._load, self._indices(step, n))

  def _mine(self, idx):
    """This process's rows of global indices [..., B] (its devices' part of B)."""
    return idx[..., self.par.process_rows(idx.shape[-1])]

  def _load(self, idx):
    mine = self._mine(idx)
    batch = {'images': self.dataset.load(mine)}
    if self.conditional:
      batch['labels'] = self.dataset.labels_at(mine)
    return self.layout.assemble(batch, idx.shape[-1])

  def close(self):
    if self._pool:
      self._pool.shutdown(cancel_futures=True)


class _Outputs:
  """Per run: sample grids, evaluator, metric writer; and the progress bar and metrics
  buffer; what the loop does between chunks."""

  def __init__(self, runs, dataset, step):
    self.runs, self.config = runs, runs.exps[0].config
    self.grids = [hooks.grid_writer(e, w, runs.is_main)
                    for e, w in zip(runs.exps, runs.workdirs)]
    self.evaluators = []
    if self.config.get('eval_every', 0):
      for i, (e, w) in enumerate(zip(runs.exps, runs.workdirs)):
        # Evaluation's set-up (its network, the reference) is evaluation time: a run
        # with eval off must not look slower to train than the same run with eval on.
        with self._evaluating(i):
          self.evaluators.append(hooks.Evaluator(e, dataset, w, runs.is_main))
    self.writers = [MetricWriter(w, enabled=runs.is_main) for w in runs.workdirs]
    self.eval_rows = [_EvalRows(w) for w in self.writers]
    group = len(runs.exps)
    self.bar = tqdm(total=self.config.num_steps, initial=step, disable=not runs.is_main,
                    unit='step', desc=f'{group} seeds' if group > 1 else None,
                    dynamic_ncols=True, mininterval=1.0)
    self.metrics = _MetricsBuffer(self.writers, runs.clocks, self.bar)

  def _evaluating(self, i):
    """Run i's clock counting the block as its evaluation; the other runs' clocks count
    it as neither (they wait: runs trained together share one program)."""
    return self.runs.clocks[i].evaluating(others=[
        c for j, c in enumerate(self.runs.clocks) if j != i])

  def flush(self):
    self.metrics.flush(self.runs.layout.metrics)

  def after_chunk(self, run_state, step, done):
    """Logs, samples and evaluates at their steps (and at the last one)."""
    c, layout = self.config, self.runs.layout
    if step % c.log_every == 0 or done:
      self.flush()
    if step % c.sample_every == 0 or done:
      for i, write_grid in enumerate(self.grids):
        write_grid(layout.member(run_state, i), step)
    if self.evaluators and (step % c.eval_every == 0 or done):
      self.flush()
      for i, (evaluate, rows) in enumerate(zip(self.evaluators, self.eval_rows)):
        with self._evaluating(i):
          evaluate(layout.member(run_state, i), step, rows)
        rows.flush(self.runs.clocks[i].times())

  def close(self):
    for evaluate in self.evaluators:
      evaluate.close()
    self.bar.close()
    for writer in self.writers:
      writer.close()


def _save(runs, run_state, step):
  """Saves every run's state at `step`, none unless all are finite; returns step."""
  states = [runs.layout.canonical(run_state, i) for i in range(len(runs.ckpts))]
  for i, state in enumerate(states):
    if not _all_finite(state):
      raise NonFiniteLoss(step, {}, i)
  for ckpt, state in zip(runs.ckpts, states):
    ckpt.save(step, state)
  return step


def _non_finite_error(runs, e, saved):
  shown = ', '.join(f'{k}={v:.4g}' for k, v in e.values.items()) or 'params'
  return GanjaxError(
      f'non-finite loss{runs.of(e.run)} at step {e.step} ({shown}); stopped without saving '
      f'it. The last good checkpoint is step {saved} in {runs.ckpts[e.run].directory}: '
      'lower the learning rates, or rerun to resume from it')


def train(runs, dataset, states, step):
  """Trains `runs` from canonical `states` (one per run) at `step` to num_steps, or until
  the time budget is spent; returns (the chunk's final run_state, None or (signum, step)
  when a signal stopped it after a checkpoint)."""
  config = runs.exps[0].config
  feeder = _Feeder(runs, dataset)
  chunk_fn = runs.layout.compile(feeder.resident, config.get('unroll_steps', False))
  out = _Outputs(runs, dataset, step)
  stop = hooks.StopFlag()
  run_state, saved, stopped = runs.layout.start(states), step, None
  try:
    while step < config.num_steps:
      n = hooks.next_boundary(step, config) - step
      run_state, chunk_metrics = chunk_fn(run_state, feeder.data, feeder.get(step, n))
      if step + n < config.num_steps:
        feeder.prefetch(step + n, hooks.next_boundary(step + n, config) - step - n)
      step += n
      out.metrics.add(step, chunk_metrics)
      out.bar.update(n)
      # The budget ends the run as num_steps would, at this chunk's end; the chunks
      # themselves follow num_steps alone, so a resumed run still matches bit for bit.
      over = _budget_spent(runs, step, chunk_metrics)
      done = step == config.num_steps or over
      out.after_chunk(run_state, step, done)
      stopping = stop.requested()
      if step % config.checkpoint_every == 0 or done or stopping:
        out.flush()
        saved = _save(runs, run_state, step)
      if stopping and not done:
        logging.warning('stopped by signal %d at step %d; checkpoint saved in %s; rerun the '
                        'same command to resume', stop.signum, step,
                        ', '.join(c.directory for c in runs.ckpts))
        stopped = (stop.signum, step)
        break
      if over:
        break
  except NonFiniteLoss as e:
    for ckpt in runs.ckpts:
      ckpt.wait()
    raise _non_finite_error(runs, e, saved) from None
  finally:
    feeder.close()
    out.close()
    stop.restore()
  for ckpt in runs.ckpts:
    ckpt.wait()
  return run_state, stopped
