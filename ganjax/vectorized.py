"""Vectorized seeds: the runs of one grid point, all seeds in one jitted program.

The per-seed states are stacked on a leading axis and the chunk is `vmap`-ed over it; the
seed axis is replicated and each seed's batch sharded on 'data', as in a single run. Each
seed draws its own data order and keys exactly as it would alone, and keeps its own
workdir (config.json, checkpoints, samples, metrics, best), so the outputs look like a
sequential sweep's and each seed resumes or continues alone.
"""

import contextlib
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm import tqdm

from ganjax import hooks, input_pipeline, report, run_config, train, workdir_lock
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.metric_writers import MetricWriter
from ganjax.parallel import AXIS, chunk_bodies, per_step_chunk, to_host


SEED_AXIS = 'seeds'


def compile_chunk(exp, unroll=False):
  """vmap of Experiment exp's chunk over stacked states: (states [V,...], data, indices
  [V,S,k,B]) -> (states, metrics [V,S]); the dataset `data` is shared by every seed.
  unroll: one program per step (parallel.per_step_chunk)."""
  chunk, one = chunk_bodies(exp.step_fns(seed_axis=SEED_AXIS).train_step)
  jitted = lambda f, *axes: jax.jit(
      jax.vmap(f, in_axes=(0, None, 0, *axes), axis_name=SEED_AXIS), donate_argnums=0,
      out_shardings=(exp.par.replicated, exp.par.replicated))
  return per_step_chunk(jitted(one, None), step_axis=1) if unroll else jitted(chunk)


def _shard_indices(par, idx):
  """Global indices [V,S,k,B] (the same on every process) -> sharded on B over 'data'."""
  rows = par.process_rows(idx.shape[-1])
  sharding = NamedSharding(par.mesh, P(None, None, None, AXIS))
  return jax.make_array_from_process_local_data(sharding, idx[..., rows], idx.shape)


def _stack(states):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def _check_group(configs):
  base = run_config.flatten(configs[0])
  for c in configs[1:]:
    diff = sorted(k for k, v in run_config.flatten(c).items() if k != 'seed' and base.get(k) != v)
    if diff:
      raise GanjaxError(f'--vectorize trains seeds of one grid point together; configs '
                        f'differ in {diff[:3]}')
  if configs[0].parallel != 'jit':
    raise GanjaxError("--vectorize needs --config.parallel=jit (vmap inside one global "
                      "program); use a sequential sweep for pmap")
  if configs[0].get('time_budget', 0.0):
    raise GanjaxError('--vectorize trains to num_steps and keeps no training clock: run a '
                      'sweep with --config.time_budget without --vectorize')
  if configs[0].data.name == input_pipeline.FOLDER:
    raise GanjaxError('--vectorize keeps the dataset on the devices; image folders stream: '
                      'run this sweep without --vectorize')


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
  exps = [Experiment(c) for c in configs]
  exp = exps[0]
  dataset = exp.load_dataset()
  states, steps, ckpts = [], [], []
  for e, c, w in zip(exps, configs, workdirs):
    os.makedirs(w, exist_ok=True)
    run_config.save_or_check(c, w, write=is_main)
    if is_main:
      run_config.save_classes(w, dataset.class_names)
    ckpt = Checkpointer(w, keep=c.keep_checkpoints)
    state, step = ckpt.restore(e.abstract_state())
    states.append(e.init_state() if state is None else state)
    steps.append(step or 0)
    ckpts.append(ckpt)
  todo = [i for i, s in enumerate(steps) if s < configs[i].num_steps]
  try:
    if len(set(steps[i] for i in todo)) > 1:
      logging.warning('seeds stand at different steps %s: training them one by one', steps)
      for i in todo:
        ckpts[i].close()
        train.train_and_evaluate(configs[i], workdirs[i], lock=False)   # locked above
      return
    if todo:
      _loop([exps[i] for i in todo], dataset, [workdirs[i] for i in todo],
            [ckpts[i] for i in todo], [states[i] for i in todo], steps[todo[0]], is_main)
      for i in todo:
        report.after_training(configs[i], workdirs[i])
  finally:
    for ckpt in ckpts:
      ckpt.close()
    if hasattr(dataset, 'close'):
      dataset.close()


def _loop(exps, dataset, workdirs, ckpts, states, step, is_main):
  exp, config = exps[0], exps[0].config
  arrays = {'images': dataset.images}
  if exp.num_classes:
    arrays['labels'] = dataset.condition_ids
  data = exp.par.put_data(arrays)
  samplers = [e.sampler(len(dataset.images)) for e in exps]
  chunk = compile_chunk(exp, config.get('unroll_steps', False))
  stacked = exp.par.replicate(to_host(_stack(states)))
  sample = [hooks.sampler_fn(e, w, is_main) for e, w in zip(exps, workdirs)]
  evaluate = [hooks.Evaluator(e, dataset, w, is_main) if config.get('eval_every', 0)
              else None for e, w in zip(exps, workdirs)]
  writers = [MetricWriter(w, enabled=is_main) for w in workdirs]
  bar = tqdm(total=config.num_steps, initial=step, disable=not is_main, unit='step',
             desc=f'{len(exps)} seeds', dynamic_ncols=True, mininterval=1.0)
  stop, pending, last = hooks.StopFlag(), [], (time.perf_counter(), step)
  seed_state = lambda i: jax.tree.map(lambda x: x[i], stacked)
  try:
    while step < config.num_steps:
      n = hooks.next_boundary(step, config) - step
      idx = np.stack([s.indices(step, n) for s in samplers])
      stacked, metrics = chunk(stacked, data, _shard_indices(exp.par, idx))
      step += n
      pending.append(metrics)
      bar.update(n)
      done = step == config.num_steps
      if step % config.log_every == 0 or done:
        host = {k: np.concatenate([to_host(m)[k] for m in pending], axis=1)
                for k in pending[0]}
        pending = []
        rate = (step - last[1]) / (time.perf_counter() - last[0])
        last = (time.perf_counter(), step)
        for i, w in enumerate(writers):
          values = {k: float(v[i].mean()) for k, v in host.items()}
          if not all(np.isfinite(list(values.values()))):
            raise GanjaxError(f'non-finite loss for seed {exps[i].config.seed} at step {step} '
                              f'({values}); stopped without saving it: lower the learning '
                              'rates, or rerun to resume from the last checkpoint')
          w.write(step, {**values, 'steps_per_sec': rate})
        bar.set_postfix(steps_per_sec=f'{rate:.2f}')
      if step % config.sample_every == 0 or done:
        for i, fn in enumerate(sample):
          fn(seed_state(i), step)
      if config.get('eval_every', 0) and (step % config.eval_every == 0 or done):
        for i, ev in enumerate(evaluate):
          ev(seed_state(i), step, writers[i])
      stopping = stop.requested()
      if step % config.checkpoint_every == 0 or done or stopping:
        for i, ckpt in enumerate(ckpts):
          ckpt.save(step, seed_state(i))
      if stopping and not done:
        for ckpt in ckpts:
          ckpt.wait()
        raise train.Stopped(stop.signum, step)
    for ckpt in ckpts:
      ckpt.wait()
  finally:
    stop.restore()
    bar.close()
    for w in writers:
      w.close()
    for ev in evaluate:
      if ev:
        ev.close()
