r"""Scaling table: 1 device, 8 (simulated) devices, 8 vectorized seeds, plain PyTorch.

python -m benchmarks.scale --models=mnist_mlp,mnist_dcgan --steps=20 --json=runs/bench_scale.json

Per model and layout, one subprocess (its own XLA_FLAGS). 'vec8' trains 8 seeds in one
vmapped program on the same devices as '1dev'; its steps/s counts seed-steps (8 per
step), so vec8 / 1dev is the speed-up of `sweep --vectorize` over a sequential sweep of
the same 8 seeds. On a 2-core CPU the 8 simulated devices are overhead, not speed-up:
they split the same 2 cores. GFLOP/s uses XLA's cost analysis of one train step.
"""

import argparse
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import (ROOT, child, num_cores, run_ceiling, step_flops,  # noqa: --only
                                timed_steps)

MODELS = {'mnist_mlp': ('mnist_mlp', 0), 'mnist_dcgan': ('mnist_dcgan', 0),
          'cifar10_dcgan': ('cifar10_dcgan', 0), 'folder_dcgan64': ('folder_dcgan64', 64)}
LAYOUTS = {'1dev': 1, '8dev': 8, 'vec8': 1}
SEEDS = 8


def _config(name, args):
  module, size = MODELS[name]
  config = importlib.import_module(f'configs.{module}').get_config()
  config.data.image_size = size or config.data.image_size
  config.steps_per_dispatch = args.steps_per_dispatch or config.steps_per_dispatch
  return config


def run_layout(args):
  """steps/s of the training chunk for one layout ('1dev', '8dev' or 'vec8')."""
  import jax
  import jax.numpy as jnp
  from ganjax import input_pipeline, vectorized
  from ganjax.experiment import Experiment
  from ganjax.parallel import to_host
  config = _config(args.models, args)
  exp = Experiment(config)
  k, s, b = exp.batches_per_step, config.steps_per_dispatch, exp.real_batch
  n = 4 * config.batch_size
  images = np.random.default_rng(0).integers(0, 256, (n, *exp.image_shape), dtype=np.uint8)
  data = exp.par.put_data({'images': images})
  fns = exp.step_fns()
  unroll = config.get('unroll_steps', False)
  seeds = SEEDS if args.layout == 'vec8' else 1
  samplers = [input_pipeline.IndexSampler(i, n, b, k) for i in range(seeds)]
  if args.layout == 'vec8':
    chunk = vectorized.compile_chunk(exp, unroll)
    states = []
    for i in range(seeds):
      config.seed = i
      states.append(Experiment(config).init_state())
    state = exp.par.replicate(to_host(jax.tree.map(lambda *x: jnp.stack(x), *states)))
    feed = lambda done: vectorized._shard_indices(  # pylint: disable=protected-access
        exp.par, np.stack([sm.indices(done, s) for sm in samplers]))
  else:
    chunk = exp.par.compile_chunk(fns.train_step, resident=True, unroll=unroll)
    state = exp.par.to_mode(exp.init_state())
    feed = lambda done: exp.par.shard_steps(samplers[0].indices(done, s))
  done = 0

  def run(chunks):
    nonlocal state, done
    for _ in range(chunks):
      state, metrics = chunk(state, data, feed(done))
      done += s
    jax.block_until_ready((state, metrics))

  t = time.perf_counter()
  run(max(1, -(-args.warmup // s)))
  first, timed = time.perf_counter() - t, timed_steps(args, lambda: run(1), s)
  return {'steps_per_sec': seeds * timed['steps'] / timed['secs'], 'steps': timed['steps'],
          'seeds': seeds, 'batch': config.batch_size,
          'devices': exp.par.num_devices, 'first_call_s': first,
          'flops_per_step': step_flops(exp)}


def run_torch(args):
  """The plain PyTorch loop of the same model (benchmarks.mlp_gan / benchmarks.dcgan)."""
  if args.models == 'mnist_mlp':
    from benchmarks import mlp_gan   # pylint: disable=g-import-not-at-top
    return mlp_gan.run_torch(argparse.Namespace(steps=args.steps, warmup=args.warmup))
  from benchmarks import dcgan   # pylint: disable=g-import-not-at-top
  ns = argparse.Namespace(models=[args.models], steps=args.steps, warmup=args.warmup, batch=0,
                          steps_per_dispatch=0, conv_impl='', seconds=args.seconds)
  return dcgan.run_torch(ns)


def _spawn(name, layout, argv, devices):
  env = {**os.environ, 'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
  with tempfile.NamedTemporaryFile(suffix='.json') as out:
    cmd = [sys.executable, '-m', 'benchmarks.scale', *argv, f'--only={name}',
           f'--layout={layout}', f'--result={out.name}']
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
      sys.exit(f'{name} {layout} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}')
    with open(out.name) as f:
      return json.load(f)


def main():
  """Prints (and saves) steps/s, images/s, GFLOP/s and % of the matmul ceiling per layout."""
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default='mnist_mlp,mnist_dcgan,cifar10_dcgan,folder_dcgan64')
  p.add_argument('--steps', type=int, default=20, help='timed steps (whole chunks)')
  p.add_argument('--seconds', type=float, default=120,
                 help='stop timing a layout after this long (at least one chunk)')
  p.add_argument('--warmup', type=int, default=2, help='untimed steps first (compiles)')
  p.add_argument('--steps_per_dispatch', type=int, default=0, help='S of every config')
  p.add_argument('--ceiling_reps', type=int, default=10)
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--cpu_convs', choices=('eigen', 'ynn'), default='eigen',
                 help="XLA:CPU's convolutions: eigen (what experiments/ sets) or ynn (XLA's "
                 'default)')
  p.add_argument('--only', choices=('ceiling', 'layout', 'torch'), help=argparse.SUPPRESS)
  p.add_argument('--layout', default='1dev', help=argparse.SUPPRESS)
  p.add_argument('--result', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.only:
    return child(args, globals())
  models = args.models.split(',')
  if set(models) - set(MODELS):
    p.error(f'unknown --models {sorted(set(models) - set(MODELS))}; use {list(MODELS)}')
  passed = [f'--{a}={getattr(args, a)}'
            for a in ('steps', 'seconds', 'warmup', 'steps_per_dispatch', 'ceiling_reps',
                      'cpu_convs')]
  command = shlex.join(['python', '-m', 'benchmarks.scale', *sys.argv[1:]])
  peak = _spawn('ceiling', '1dev', passed + [f'--models={models[0]}'], 1)['gflops']
  print(f'command: {command}\n{num_cores()} cores; f32 matmul ceiling {peak:.1f} GFLOP/s; '
        f'{args.steps} timed steps after {args.warmup} warmup')
  head = (f'{"model":16s}{"layout":>8s}{"devices":>8s}{"seed-steps/s":>13s}{"images/s":>10s}'
          f'{"GFLOP/s":>9s}{"%peak":>7s}{"vs 1dev":>9s}')
  print(head + '\n' + '-' * len(head), flush=True)
  rows = []
  for model in models:
    argv = passed + [f'--models={model}']
    res = {lay: _spawn('layout', lay, argv, dev) for lay, dev in LAYOUTS.items()}
    res['torch'] = _spawn('torch', 'torch', argv, 1)
    base, flops = res['1dev']['steps_per_sec'], res['1dev']['flops_per_step']
    for layout, r in res.items():
      sps, batch = r['steps_per_sec'], res['1dev']['batch']
      row = {'model': model, 'layout': layout, 'devices': r.get('devices', 1),
             'steps_per_sec': sps, 'images_per_sec': sps * batch,
             'gflops': sps * flops / 1e9, 'vs_1dev': sps / base, 'raw': r}
      row['pct_ceiling'] = 100 * row['gflops'] / peak
      rows.append(row)
      print(f'{model:16s}{layout:>8s}{row["devices"]:8d}{sps:13.2f}{sps * batch:10.1f}'
            f'{row["gflops"]:9.1f}{row["pct_ceiling"]:6.1f}%{row["vs_1dev"]:8.2f}x', flush=True)
  print('seed-steps/s: train steps per second summed over seeds (vec8: 8 seeds at once); '
        'vs 1dev = the speed-up over training one seed after another on 1 device')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'ceiling_gflops': peak, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
  main()
