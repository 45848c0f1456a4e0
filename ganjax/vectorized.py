"""Vectorized seeds: the runs of one grid point, all seeds in one jitted program.

The per-seed states are stacked on a leading axis and the chunk is `vmap`-ed over it; the
seed axis is replicated and each seed's batch sharded on 'data', as in a single run. Each
seed draws its own data order and keys exactly as it would alone, and keeps its own
workdir (config.json, checkpoints, samples, metrics, best), so the outputs look like a
sequential sweep's and each seed resumes or continues alone. The host loop is loop.py's,
as for a single run; the seeds share its chunks, its stops and its wall time.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from ganjax import loop, report, run_config, train, workdir_lock
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.parallel import AXIS, chunk_bodies, per_step_chunk, to_host


SEED_AXIS = 'seeds'


def compile_chunk(exp, unroll=False, resident=True):
  """vmap of Experiment exp's chunk over stacked states: (states [V,...], data, steps)
  -> (states, metrics [V,S]). resident: the dataset `data` is shared by every seed and
  steps are indices [V,S,k,B]; else steps are each seed's batches ({'images': uint8
  [V,S,k,B,H,W,C], 'labels': [V,S,k,B]}). unroll: one program per step
  (parallel.per_step_chunk)."""
  chunk, one = chunk_bodies(exp.step_fns(seed_axis=SEED_AXIS).train_step, resident)
  jitted = lambda f, *axes: jax.jit(
      jax.vmap(f, in_axes=(0, None, 0, *axes), axis_name=SEED_AXIS), donate_argnums=0,
      out_shardings=(exp.par.replicated, exp.par.replicated))
  return per_step_chunk(jitted(one, None), step_axis=1) if unroll else jitted(chunk)


def _assemble(par, local, batch):
  """This process's rows [V,S,k,b,...] of per-seed, per-step arrays -> global arrays
  [V,S,k,B,...] sharded on B over 'data' (the seed axis replicated)."""
  sharding = NamedSharding(par.mesh, P(None, None, None, AXIS))
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
      sharding, x, (*x.shape[:3], batch, *x.shape[4:])), local)


def _shard_indices(par, idx):
  """Global indices [V,S,k,B] (the same on every process) -> sharded on B over 'data'."""
  return _assemble(par, idx[..., par.process_rows(idx.shape[-1])], idx.shape[-1])


def _stack(states):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


@jax.jit
def _take(stacked, i):
  """Seed i's state of the stacked states: one program for every seed, not a slice per
  leaf each."""
  return jax.tree.map(lambda x: x[i], stacked)


class Seeds:
  """loop.py's layout of V seeds stacked on a leading axis of one jit program."""

  def __init__(self, exps):
    self.exps, self.size = exps, len(exps)
    self.par = exps[0].par if exps else None

  def compile(self, resident, unroll):
    return compile_chunk(self.exps[0], unroll, resident)

  def start(self, states):
    return self.par.replicate(to_host(_stack(states)))

  def stack(self, indices):
    return np.stack(indices)

  def assemble(self, local, batch):
    return _assemble(self.par, local, batch)

  def member(self, run_state, i):
    return _take(run_state, np.int32(i))

  canonical = member

  def metrics(self, metrics):
    host = to_host(metrics)
    return [{k: v[i] for k, v in host.items()} for i in range(self.size)]


def _check_group(configs):
  base = run_config.flatten(configs[0])
  for c in configs[1:]:
    diff = sorted(k for k, v in run_config.flatten(c).items() if k != 'seed' and base.get(k) != v)
    if diff:
      raise GanjaxError(f'--vectorize trains seeds of one grid point together; configs '
                        f'differ in {diff[:3]}')
  if configs[0].parallel != 'jit':
    raise GanjaxError(
        '--vectorize needs --config.parallel=jit: it vmaps the seeds inside the global jit '
        'program, where each device computes its rows of every seed\'s batch and XLA '
        'all-reduces each seed\'s gradients; pmap\'s step averages them itself (pmean over '
        '\'data\' on per-device state copies), and a vmap over seeds inside it (states '
        '[devices, seeds, ...]) is not built: use parallel=jit, or a sequential sweep')


def train_seeds(configs, workdirs, lock=True):
  """Trains configs (one grid point, different seeds) together; each in its own workdir,
  whose lock process 0 holds throughout unless lock=False."""
  _check_group(configs)
  with contextlib.ExitStack() as locks:
    for w in workdirs:
      locks.enter_context(workdir_lock.locked(w, lock and jax.process_index() == 0))
    _train_seeds(configs, workdirs)


def _train_seeds(configs, workdirs):
  is_main = jax.process_index() == 0
  clocks = [train.Clock()]   # one program: the seeds' wall time starts together
  clocks += [train.Clock(clocks[0].start) for _ in configs[1:]]
  exps = [Experiment(c) for c in configs]
  dataset = loop.prepare(exps, workdirs, is_main)
  ckpts = []
  try:
    for c, w in zip(configs, workdirs):
      ckpts.append(Checkpointer(w, keep=c.keep_checkpoints))
    restored = [loop.restore(e, ckpt, clock, is_main)
                for e, ckpt, clock in zip(exps, ckpts, clocks)]
    todo = [i for i, (c, (_, step)) in enumerate(zip(configs, restored))
            if not loop.finished(c, step, clocks[i], f'seed {c.seed}: ')]
    group = [[xs[i] for i in todo] for xs in (exps, workdirs, ckpts, clocks)]
    runs = loop.Runs(Seeds(group[0]), *group, is_main)
    _train_group(runs, dataset, [restored[i] for i in todo])
  finally:
    for ckpt in ckpts:
      ckpt.close()
    if hasattr(dataset, 'close'):
      dataset.close()


def _train_group(runs, dataset, restored):
  """Trains the seeds of `runs` from their restored (state, step) together, or one by one
  when they stand at different steps; writes each one's report."""
  steps = sorted({step for _, step in restored})
  if len(steps) > 1:
    logging.warning('seeds stand at different steps %s: training them one by one',
                    [step for _, step in restored])
    for exp, workdir, ckpt in zip(runs.exps, runs.workdirs, runs.ckpts):
      ckpt.close()
      train.train_and_evaluate(exp.config, workdir, lock=False)   # locked above
    return
  if not restored:
    return
  _, stopped = loop.train(runs, dataset, [state for state, _ in restored], steps[0])
  if stopped:
    raise train.Stopped(*stopped)
  for exp, workdir in zip(runs.exps, runs.workdirs):
    report.after_training(exp.config, workdir)
