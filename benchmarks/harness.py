"""What the benchmark scripts share: the matmul ceiling, and one subprocess per contender
(so each peak RSS is that contender's own)."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def num_cores():
  """CPU cores this process may run on."""
  return len(os.sched_getaffinity(0))


def run_ceiling(args):
  """Best GFLOP/s of a jitted f32 2048x2048 matmul on this machine."""
  import jax
  import jax.numpy as jnp
  n = 2048
  a, b = jax.random.normal(jax.random.key(0), (2, n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  mm(a, b).block_until_ready()
  best = float('inf')
  for _ in range(args.ceiling_reps):
    t = time.perf_counter()
    mm(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return {'gflops': 2 * n**3 / best / 1e9, 'backend': jax.default_backend()}


def step_flops(exp, compiled=True):
  """XLA's cost-analysis FLOPs of one ganjax train step of Experiment `exp` (jitted alone),
  with int labels [k, B] for a conditional model. compiled=False: of the lowered program,
  before XLA's passes (no compile: seconds, not minutes; within 1% for cifar10_dcgan)."""
  import jax
  import jax.numpy as jnp
  k, b = exp.batches_per_step, exp.real_batch
  x = jax.ShapeDtypeStruct((k, b, *exp.image_shape), jnp.float32)
  labels = jax.ShapeDtypeStruct((k, b), jnp.int32) if exp.num_classes else None
  program = jax.jit(exp.step_fns().train_step).lower(
      exp.init_state() if compiled else exp.abstract_state(), x, labels)
  cost = (program.compile() if compiled else program).cost_analysis()
  return float((cost[0] if isinstance(cost, (list, tuple)) else cost)['flops'])


def child(args, runners):
  """Runs runners['run_' + args.only](args) here and writes its result (+ peak RSS) as JSON.
  JAX contenders get the CLI's XLA:CPU convolutions unless --cpu_convs=ynn."""
  if args.only not in ('torch', 'tf') and getattr(args, 'cpu_convs', 'eigen') == 'eigen':
    from ganjax import xla_cpu   # pylint: disable=g-import-not-at-top
    xla_cpu.prefer_eigen_convolutions()
  result = runners['run_' + args.only](args)
  result['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  with open(args.result, 'w') as f:
    json.dump(result, f)


def spawn(module, name, argv):
  """Runs `python -m module --only=name` in a fresh interpreter; returns its JSON result."""
  with tempfile.NamedTemporaryFile(suffix='.json') as out:
    cmd = [sys.executable, '-m', module, *argv, f'--only={name}', f'--result={out.name}']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
      sys.exit(f'{name} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}')
    with open(out.name) as f:
      return json.load(f)


def timed_steps(args, call, per_call=1):
  """Times call() (per_call steps, finished on return) until --steps steps or, after at
  least one call, --seconds: {'steps', 'secs'}. Big models get fewer timed steps."""
  steps, t = 0, time.perf_counter()
  while steps < args.steps and (not steps or time.perf_counter() - t < args.seconds):
    call()
    steps += per_call
  return {'steps': steps, 'secs': time.perf_counter() - t}
