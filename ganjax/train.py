"""train_and_evaluate(config, workdir): one run, resumable from WORKDIR, through loop.py."""

import contextlib
import os
import time

import jax

from ganjax import loop, report, workdir_lock
from ganjax.report import data as report_data
from ganjax.checkpoint import Checkpointer
from ganjax.experiment import Experiment


class Clock:
  """The run's wall time in seconds: train_seconds (everything but evaluations: data
  loading, init and compiles count, the user waits for them) and eval_seconds, both
  continued from the values a resumed run logged. Seeds trained in one program share a
  `start`, and each waits while another evaluates."""

  def __init__(self, start=None):
    self.start = time.perf_counter() if start is None else start
    self.train_base = self.eval_base = 0.0   # logged by the processes before this one
    self.evaluated = 0.0                     # this process's evaluations of this run
    self.waited = 0.0                        # ... and of the runs trained with it

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
    return {'train_seconds': self.train_base + elapsed - self.evaluated - self.waited,
            'eval_seconds': self.eval_base + self.evaluated}

  @contextlib.contextmanager
  def evaluating(self, others=()):
    """Counts the time inside the block as this run's evaluation, not training; and, for
    the clocks `others` (runs trained in the same program), as neither."""
    t = time.perf_counter()
    try:
      yield
    finally:
      spent = time.perf_counter() - t
      self.evaluated += spent
      for clock in others:
        clock.waited += spent


class Stopped(Exception):
  """SIGTERM/SIGINT stopped training after a checkpoint: the caller exits cleanly."""

  def __init__(self, signum, step):
    super().__init__(f'stopped by signal {signum} at step {step}')
    self.signum, self.step = signum, step


class OneRun:
  """loop.py's layout of a single run: the state in its parallel mode's form."""

  def __init__(self, exp):
    self.exp, self.par = exp, exp.par

  def compile(self, resident, unroll):
    return self.par.compile_chunk(self.exp.step_fns().train_step, resident=resident,
                                  unroll=unroll)

  def start(self, states):
    return self.par.to_mode(states[0])

  def stack(self, indices):
    return indices[0]

  def assemble(self, local, batch):
    return self.par.assemble(local, batch)

  def member(self, run_state, i):
    del i
    return run_state

  def canonical(self, run_state, i):
    del i
    return self.par.to_canonical(run_state)

  def metrics(self, metrics):
    return [self.par.metrics_to_host(metrics)]


def train_and_evaluate(config, workdir, lock=True):
  """Trains (or resumes) the run in `workdir` to config.num_steps, or until its training
  wall time reaches config.time_budget minutes; returns the final state. Process 0 holds
  the workdir's lock (workdir_lock) throughout unless lock=False."""
  with workdir_lock.locked(workdir, lock and jax.process_index() == 0):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir):
  clock = Clock()
  is_main = jax.process_index() == 0
  exp = Experiment(config)
  dataset = loop.prepare([exp], [workdir], is_main)
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints)
  try:
    state, step = loop.restore(exp, ckpt, clock, is_main)
    if loop.finished(config, step, clock):
      return state
    runs = loop.Runs(OneRun(exp), [exp], [workdir], [ckpt], [clock], is_main)
    run_state, stopped = loop.train(runs, dataset, [state], step)
  finally:
    ckpt.close()
  if stopped:
    raise Stopped(*stopped)
  report.after_training(config, workdir)
  return runs.layout.canonical(run_state, 0)
