"""What the device suite runs in its child processes (`python -m benchmarks.suite_child
--only=NAME --spec=JSON --result=FILE`, spawned by benchmarks/device_suite.py):
  probe      the chip and versions;
  contender  one throughput contender: the row's config and the runner that times it
             (dcgan.run_ganjax for every ganjax row; dcgan.run_torch, resnet.run_torch or
             official_speed.run_official for the PyTorch rows);
  fid        the FID-vs-time run (fid_vs_time.run), its rows appended to a file as they come.
A contender's spec names model, contender ('ganjax' | 'torch' | 'torch.compile'), batch,
precision ('bf16' | 'f32'), smoke, and the timing and recipe settings.
"""

import argparse
import importlib
import json
import os
import tempfile
import time

from benchmarks import dcgan, gpu_recipe, official_speed, resnet
from benchmarks.harness import step_flops

OFFICIAL = {'cifar10_stylegan2': 'stylegan2', 'cifar10_r3gan': 'r3gan'}
# --smoke widths: a few channels, so every row compiles and steps in seconds on a CPU.
SMOKE_SCALE = {'stylegan2': 1 / 64, 'r3gan': 1 / 96}


def shrink(config):
  """config at a few channels a layer and at most 2 D updates a step (--smoke), in place."""
  g, d = config.model.generator, config.model.discriminator
  config.d_steps = min(config.d_steps, 2)
  if config.model.name == 'radford':
    g.base_features = d.base_features = 4
  else:   # resnet / biggan: 4 blocks of equal width (the StudioGAN replicas need that)
    g.channels, d.channels = (16,) * len(g.channels), (16,) * len(d.channels)
  return config


def row_config(spec):
  """The ganjax config of a spec's row: the model's config (conditional as the official
  side for StyleGAN2 / R3GAN), its batch, the GPU recipe at its precision."""
  model, smoke = spec['model'], spec['smoke']
  if model in OFFICIAL:
    name = OFFICIAL[model]
    config = official_speed.ganjax_config(name, width_scale(spec), spec['batch'])
  else:
    config = importlib.import_module(f'configs.{model}').get_config()
    config = shrink(config) if smoke else config
  config.batch_size, config.report = spec['batch'], False
  config = gpu_recipe.apply(config, spec['precision'], spec['steps_per_dispatch'])
  config.unroll_steps = spec.get('unroll', False)   # True: the recipe rows' counterpoint
  return config


def width_scale(spec):
  """The official models' width: theirs on a GPU, a few channels for --smoke."""
  return SMOKE_SCALE[OFFICIAL[spec['model']]] if spec['smoke'] else 1.0


def model_flops(exp):
  """XLA's FLOPs of one train step (the lowered program: no second compile), or None
  where this JAX cannot count them (the row keeps its speed)."""
  try:
    return step_flops(exp, compiled=False)
  except Exception:   # pylint: disable=broad-except
    return None


def run_ganjax(spec):
  """dcgan.run_ganjax on the row's config; strict float32 matmuls for 'f32' rows on an
  accelerator (the PyTorch rows turn TF32 off too)."""
  import jax   # pylint: disable=g-import-not-at-top
  if jax.default_backend() != 'cpu' and spec['precision'] == 'f32':
    jax.config.update('jax_default_matmul_precision', 'float32')
  args = argparse.Namespace(warmup=spec['warmup'], steps=spec['steps'], seconds=spec['seconds'],
                            chunks_per_sync=spec['chunks_per_sync'],
                            host_fed=spec.get('host_fed', False))
  result = dcgan.run_ganjax(args, row_config(spec), flops=model_flops)
  result['device'] = jax.devices()[0].device_kind
  return result


def torch_args(spec):
  """The args the PyTorch runners read (torch_mode's and official_speed's)."""
  official = spec['model'] in OFFICIAL
  return argparse.Namespace(
      warmup=spec['torch_warmup'], steps=spec['steps'], seconds=spec['seconds'],
      torch_device='auto', torch_precision=spec['precision'],
      torch_compile=spec['contender'] == 'torch.compile',
      torch_compile_backend=spec['torch_compile_backend'],
      steps_per_sync=spec['steps_per_dispatch'] * spec['chunks_per_sync'], spec='',
      model=OFFICIAL.get(spec['model']), batch=spec['batch'], official_batch_gpu=0,
      width_scale=width_scale(spec) if official else 0,
      precision='mixed' if spec['precision'] == 'bf16' else 'f32', tf32=False,
      torch_threads=0, repeats=spec['repeats'], official_ops=spec['official_ops'],
      official_sg2=spec['official_sg2'], official_r3gan=spec['official_r3gan'])


def run_torch(spec):
  """The row's PyTorch loop: StyleGAN2 / R3GAN as the official code (its own mixed
  precision for 'bf16'), the others as dcgan's / resnet's plain loops under torch_mode."""
  import torch   # pylint: disable=g-import-not-at-top
  args = torch_args(spec)
  if spec['model'] in OFFICIAL:
    args.steps = max(1, spec['official_steps'])
    result = official_speed.run_official(args)
  else:
    runner = resnet.run_torch if spec['model'] in resnet.MODELS else dcgan.run_torch
    result = runner(args, row_config(spec))
    result['device'] = torch.cuda.get_device_name() if result['device'].startswith(
        'cuda') else 'cpu'
  result['warmup_s'] = result.get('warmup_s', result.get('first_call_s'))
  return result


def run_contender(spec):
  """The contender's result: steps_per_sec, first_call_s / warmup_s, params, device."""
  return run_ganjax(spec) if spec['contender'] == 'ganjax' else run_torch(spec)


def run_probe(spec):
  """The chip and versions: JAX's device, torch's CUDA device, a bf16 matmul's rate."""
  import importlib.metadata   # pylint: disable=g-import-not-at-top
  import jax   # pylint: disable=g-import-not-at-top
  import torch   # pylint: disable=g-import-not-at-top
  names = ('jax', 'jaxlib', 'flax', 'optax', 'torch')
  versions = ', '.join(f'{n} {importlib.metadata.version(n)}' for n in names)
  out = {'device': jax.devices()[0].device_kind, 'jax_platform': jax.default_backend(),
         'torch_cuda': torch.cuda.is_available(), 'versions': versions}
  if torch.cuda.is_available() and not spec['smoke']:
    out['torch_device'] = torch.cuda.get_device_name()
    a, b = torch.randn(2, 8192, 8192, device='cuda', dtype=torch.bfloat16)
    for _ in range(3):
      a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
      a @ b
    torch.cuda.synchronize()
    out['bf16_matmul_tflops'] = 10 * 2 * 8192 ** 3 / (time.perf_counter() - t) / 1e12
  return out


def run_fid(spec):
  """fid_vs_time.run, each row appended to spec['progress'] as it comes; --smoke packs
  a tiny carry of random images first (device_carry.tiny) and trains on that."""
  from benchmarks import device_carry, fid_vs_time   # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp, open(spec['progress'], 'a') as out:
    if spec['smoke']:
      spec = dict(spec, carry=tmp)
      device_carry.tiny(tmp, batch=spec['eval_batch'])

    def emit(row):
      out.write(json.dumps(row, default=float) + '\n')
      out.flush()
    fid_vs_time.run(spec, emit)
  return {'done': True}


def smoke_process(fast_compile):
  """--smoke's children: one core (modest on a shared machine; torch's OpenMP threads
  also wait for descheduled ones there, which made a tiny SNGAN step 36x slower at 2
  threads), XLA:CPU's Eigen convolutions as the CLI's, and with fast_compile the tests'
  XLA settings (half the compile time), before JAX starts."""
  os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
  if fast_compile:
    os.environ.setdefault('XLA_FLAGS', '--xla_cpu_use_fusion_emitters=false')
    os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
  from ganjax import xla_cpu   # pylint: disable=g-import-not-at-top
  xla_cpu.prefer_eigen_convolutions()


def child(args):
  """--only=NAME: runs it on --spec and writes its result to --result."""
  spec = json.loads(args.spec)
  if args.only == 'contender' and spec['contender'] != 'ganjax' and spec['model'] in OFFICIAL:
    official = torch_args(spec)   # a missing checkout fails here, before JAX or torch load
    official_speed.check_official(official_speed.checkout(official), official.model)
  if spec.get('smoke'):
    smoke_process(spec.get('fast_compile', True))
  runner = {'probe': run_probe, 'contender': run_contender, 'fid': run_fid}[args.only]
  result = runner(spec)
  with open(args.result, 'w') as f:
    json.dump(result, f, default=str)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--only', choices=('probe', 'contender', 'fid'), required=True)
  p.add_argument('--spec', default='{}', help='JSON from benchmarks/device_suite.py')
  p.add_argument('--result', required=True, help='where the result goes (JSON)')
  child(p.parse_args())


if __name__ == '__main__':
  main()
