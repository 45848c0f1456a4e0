r"""StyleGAN2-ADA's and R3GAN's training step in ganjax and in the official PyTorch code,
side by side: the same networks (parameter counts checked), batch and phases.

python -m benchmarks.official_speed --json=runs/bench_official_speed.json   # CPU: 32 channels
python -m benchmarks.official_speed --torch_threads=1 --repeats=3   # a busy CPU
python -m benchmarks.official_speed --models=r3gan --width_scale=0.25 --steps=16
python -m benchmarks.official_speed --official_sg2=runs/official_gpu/sg2ada \
    --official_r3gan=runs/official_gpu/r3gan --steps=32 --json=runs/official_speed_gpu.json
    # on a GPU: full width, batch 64, f32 and mixed precision

For a GPU machine without network (the device tool: carry=["runs/official_gpu"], 1.1 MB):
  mkdir -p runs/official_gpu/whl && cp -r /tmp/sg2ada_official runs/official_gpu/sg2ada \
    && rm -rf runs/official_gpu/sg2ada/docs && cp -r /tmp/r3gan_official runs/official_gpu/r3gan \
    && python -m pip download --no-deps --only-binary=:all: -d runs/official_gpu/whl \
       ml_collections==1.1.0
then, there: pip install --no-index --no-deps --target /tmp/site runs/official_gpu/whl/*.whl
&& PYTHONPATH=/tmp/site python3 -m benchmarks.official_speed --official_sg2=... (as above)
--repeats=2 --json=$OUT/official_speed.json (about 6-9 minutes: nvcc builds the official ops).

The official code is read from plain checkouts (not in this repo): --official_sg2 of
NVlabs/stylegan2-ada-pytorch at ganjax.models.stylegan2.OFFICIAL_COMMIT, --official_r3gan
of brownvc/R3GAN at benchmarks.r3gan_fixture.COMMIT (e.g. `git --git-dir=MIRROR archive
COMMIT | tar -x -C DIR`). On CPU their custom CUDA ops fall back to the reference PyTorch
code; on a GPU they build with nvcc on first use (the notes say whether they did).

StyleGAN2: train.py --cfg=cifar, conditional, 32x32 (z, w 512, a 2-layer mapping, 'orig'
D, mbstd groups of 32, conv_clamp 256, Adam(0.0025, (0, 0.99), eps 1e-8), r1_gamma 0.01,
pl_weight 0, no style mixing, EMA 500 kimg ramped at 0.05), channel_base 32768 and
channel_max 512 times --width_scale. Official: training_loop.py's phases Gmain, Greg
(G_reg_interval 4: nothing to do at pl_weight 0, but an Adam step), Dmain, Dreg (every
16th step), each Adam at lr x c and betas ^ c (c = k / (k + 1)), then G_ema. ganjax:
configs/cifar10_stylegan2.py through Experiment's jitted train step (its D_reg phase every
16th D update). Its --steps are rounded up to a multiple of 16, so every timed window
holds steps / 16 R1 updates on both sides.
R3GAN: train.py --preset=CIFAR10 --cond=1, widths 768 and cardinality 96 (16 channels a
group) times --width_scale, 2 blocks a stage; official: its training_loop.py's D then G
phase (R3GANLoss: RpGAN + R1 + R2 every step, the cosine schedules of lr, beta2, gamma
and the EMA at the step's kimg), then G_ema; ganjax: configs/cifar10_r3gan.py.
Both sides: synthetic uint8 images and labels resident on the device (no data loader on
either side), no augmentation (the configs' ADA and x-flips off, no official AugmentPipe:
the networks, losses, penalties and optimizers are what is timed), G's EMA on, batch
--batch on one device. The official side runs one round of --batch unless
--official_batch_gpu splits it (--cfg=cifar's default is batch_gpu 32 of 64 on any
number of GPUs: its mbstd groups are then of 32, ganjax's of min(32, batch)).

Precisions: 'f32' everywhere: the official loops set allow_tf32 False and ganjax then
runs with jax_default_matmul_precision 'float32' (--tf32 lets both use TF32). On a GPU,
also 'mixed': the official code's own mixed precision, StyleGAN2's fp16 (num_fp16_res 4,
all four resolutions at 32x32, as --cfg=cifar) and R3GAN's bfloat16 FP16Stages (the last
3 stages of G, the first 3 of D), against ganjax's model.dtype='bfloat16' where the model
has it (R3GAN: every layer; StyleGAN2: the convs of the same top-4-resolution blocks).

Each contender runs in its own subprocess (--only=NAME): its own threads, memory and
peak (RSS on CPU, the framework's peak device allocation on a GPU). images/s = batch x
steps/s; sec/kimg = 1000 / images/s (the official log.txt's figure). The run exits 1 if
the official and ganjax parameter counts differ or a contender failed (its row is '-').
On a CPU shared with other work, torch's OpenMP threads wait for descheduled ones: the
official StyleGAN2 step (1/16 width, batch 16) took 40-73 s per 16 steps at 2 threads and
3.5 s at 1 (2 cores, load average 4-6). There, --torch_threads=1 --repeats=3 (the fastest
of 3 windows) give steadier rows.
Anchor: the official README.md ('Expected training time', V100s, --cfg=auto) has no
--cfg=cifar row; its smallest is 128x128 on 1 GPU, 12.8-13.7 sec/kimg.
"""

import argparse
import copy
import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

from benchmarks.harness import ROOT, num_cores

MODELS = ('stylegan2', 'r3gan')
CLASSES, SIDE, Z_SG2 = 10, 32, 512
DATA_BATCHES = 4   # random images resident: 4 x batch
MIXED = {'stylegan2': ('fp16 (official)', 'bf16'), 'r3gan': ('bf16 stages (official)', 'bf16')}
G_REG, D_REG = 4, 16   # StyleGAN2's lazy intervals (training_loop.py defaults)
# --width_scale's CPU defaults: 32 channels (StyleGAN2: all four resolutions; R3GAN: every
# stage), about 1-3 s a step at batch 16 on 2 cores.
CPU_WIDTH = {'stylegan2': 1 / 16, 'r3gan': 1 / 24}


def widths(model, scale):
  """The networks' width settings at `scale` x the official ones."""
  if model == 'stylegan2':
    return {'channel_base': int(32768 * scale), 'channel_max': max(1, int(512 * scale))}
  width = int(round(768 * scale))
  if width < 8 or width % 8:
    raise SystemExit(f'--width_scale={scale}: R3GAN width {width} must be a multiple of 8')
  return {'width': width, 'cardinality': width // 8}   # 2x expanded, 16 channels a group


def ganjax_config(model, scale, batch, precision='f32'):
  """configs/cifar10_{model}.py (conditional) at `scale` width, batch `batch`."""
  if model == 'stylegan2':
    from configs import cifar10_stylegan2   # pylint: disable=g-import-not-at-top
    c = cifar10_stylegan2.get_config(conditional=True)
    c.model.generator.update(widths(model, scale))
    c.model.discriminator.update(widths(model, scale))
  else:
    from configs import cifar10_r3gan   # pylint: disable=g-import-not-at-top
    c, w = cifar10_r3gan.get_config(conditional=True), widths(model, scale)
    for net in (c.model.generator, c.model.discriminator):
      net.update(widths=(w['width'],) * 4, cardinality=(w['cardinality'],) * 4)
    c.model.discriminator.embed_dim = w['width']   # ConditionEmbeddingDimension: widths[0]
  c.batch_size, c.report = batch, False
  c.augment.update(policy='', adaptive=False)   # no augmentation: as the official side here
  if 'xflip' in c.data:
    c.data.xflip = False   # a loader's mirroring: no step cost, off like the official one
  if precision != 'f32':
    c.model.dtype = 'bfloat16'
  return c


def has_dtype(model):
  """Whether ganjax's port of `model` takes model.dtype (build_models drops it if not)."""
  from ganjax.models import MODELS as REGISTRY   # pylint: disable=g-import-not-at-top
  return all('dtype' in cls.__dataclass_fields__ for cls in REGISTRY[model])


def timed_windows(run, steps, repeats):
  """Seconds of run(steps) (finished on return), `repeats` times in a row."""
  secs = []
  for _ in range(max(1, repeats)):
    t = time.perf_counter()
    run(steps)
    secs.append(time.perf_counter() - t)
  return secs


def run_ganjax(args, devices=None):
  """Experiment(ganjax_config).par.compile_chunk(train_step) on resident random uint8
  images and labels: --warmup steps (the first compiles), then --repeats windows of
  --steps, one wait at the end of each. devices: the Experiment's (default: the first device)."""
  import jax   # pylint: disable=g-import-not-at-top
  from ganjax import input_pipeline   # pylint: disable=g-import-not-at-top
  from ganjax.experiment import Experiment   # pylint: disable=g-import-not-at-top
  if jax.default_backend() != 'cpu' and args.precision == 'f32' and not args.tf32:
    jax.config.update('jax_default_matmul_precision', 'float32')
  config = ganjax_config(args.model, args.width_scale, args.batch, args.precision)
  if args.steps_per_dispatch:
    config.steps_per_dispatch = args.steps_per_dispatch
  exp = Experiment(config, devices=devices or jax.devices()[:1])
  k, s, b = exp.batches_per_step, config.steps_per_dispatch, exp.real_batch
  n = DATA_BATCHES * b
  rng = np.random.default_rng(0)
  data = exp.par.put_data({'images': rng.integers(0, 256, (n, *exp.image_shape), np.uint8),
                           'labels': rng.integers(0, CLASSES, n).astype(np.int32)})
  chunk = exp.par.compile_chunk(exp.step_fns().train_step, resident=True,
                                unroll=config.get('unroll_steps', False))
  sampler, box = input_pipeline.IndexSampler(config.seed, n, b, k), {'done': 0}
  box['state'] = exp.par.to_mode(exp.init_state())

  def run(steps):
    for _ in range(-(-steps // s)):
      box['state'], metrics = chunk(box['state'], data,
                                    exp.par.shard_steps(sampler.indices(box['done'], s)))
      box['done'] += s
    jax.block_until_ready((box['state'], metrics))

  first, = timed_windows(run, max(1, args.warmup), 1)
  secs, steps = timed_windows(run, args.steps, args.repeats), -(-args.steps // s) * s
  count = lambda tree: int(sum(x.size for x in jax.tree.leaves(tree)))
  dev = jax.devices()[0]
  peak = (dev.memory_stats() or {}).get('peak_bytes_in_use', 0) if dev.platform != 'cpu' else 0
  return {'steps_per_sec': steps / min(secs), 'steps': steps, 'first_call_s': first,
          'windows_s': secs, 'batch': config.batch_size, 'g_params': count(box['state'].g_params),
          'd_params': count(box['state'].d_params), 'device_peak_mib': peak / 2**20,
          'device': dev.device_kind, 'platform': dev.platform}


def checkout(args):
  """The official checkout args.model reads: --official_sg2 or --official_r3gan."""
  return args.official_sg2 if args.model == 'stylegan2' else args.official_r3gan


def check_official(path, model):
  """The absolute path of the official `model` checkout at `path`; a one-line exit where
  there is none (before torch is imported: a missing checkout fails in milliseconds)."""
  path = os.path.abspath(path)
  if not os.path.isdir(os.path.join(path, 'training')):
    raise SystemExit(f'no official {model} checkout at {path} (see the module docstring)')
  return path


def official_path(path, model):
  """Puts the official checkout `path` first on sys.path (R3GAN's network files checked
  against benchmarks.r3gan_fixture.COMMIT; pkg_resources shimmed where setuptools lacks it)."""
  path = check_official(path, model)
  if model == 'r3gan':
    from benchmarks import r3gan_fixture   # pylint: disable=g-import-not-at-top
    r3gan_fixture.import_official(path)
  else:
    sys.path.insert(0, path)


def one_hot(labels):
  import torch   # pylint: disable=g-import-not-at-top
  return torch.nn.functional.one_hot(labels, CLASSES).float()


def data_source(batch, device):
  """reals(): ([B, 3, 32, 32] in [-1, 1], one-hot c) drawn from resident random uint8
  images, converted as training_loop.py converts a loader batch."""
  import torch   # pylint: disable=g-import-not-at-top
  n = DATA_BATCHES * batch
  images = torch.randint(0, 256, (n, 3, SIDE, SIDE), dtype=torch.uint8, device=device)
  labels = torch.randint(0, CLASSES, (n,), device=device)

  def reals():
    idx = torch.randint(0, n, (batch,), device=device)
    return images[idx].to(torch.float32) / 127.5 - 1, one_hot(labels[idx])
  return reals


def ema_update(g_ema, g, beta):
  """training_loop.py's 'Gema': parameters lerp to G by 1 - beta, buffers copied."""
  import torch   # pylint: disable=g-import-not-at-top
  with torch.no_grad():
    for p_ema, p in zip(g_ema.parameters(), g.parameters()):
      p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(g_ema.buffers(), g.buffers()):
      b_ema.copy_(b)


def official_stylegan2(args, device):
  """(step(), G, D, ops) of stylegan2-ada-pytorch's training_loop.py for --cfg=cifar."""
  import torch   # pylint: disable=g-import-not-at-top
  from torch_utils import misc   # pylint: disable=g-import-not-at-top,import-error
  from training.loss import StyleGAN2Loss   # pylint: disable=g-import-not-at-top,import-error
  from training import networks   # pylint: disable=g-import-not-at-top,import-error
  w, fp16 = widths('stylegan2', args.width_scale), 4 if args.precision == 'mixed' else 0
  common = dict(c_dim=CLASSES, img_resolution=SIDE, img_channels=3)
  G = networks.Generator(z_dim=Z_SG2, w_dim=512, mapping_kwargs=dict(num_layers=2), **common,
                         synthesis_kwargs=dict(**w, num_fp16_res=fp16, conv_clamp=256))
  D = networks.Discriminator(architecture='orig', **w, num_fp16_res=fp16, conv_clamp=256,
                             block_kwargs={}, mapping_kwargs={}, **common,
                             epilogue_kwargs=dict(mbstd_group_size=32))
  G, D = (net.train().requires_grad_(False).to(device) for net in (G, D))
  G_ema = copy.deepcopy(G).eval()
  loss = StyleGAN2Loss(device=device, G_mapping=G.mapping, G_synthesis=G.synthesis, D=D,
                       r1_gamma=0.01, pl_weight=0, style_mixing_prob=0)
  phases = []
  for name, module, interval in (('G', G, G_REG), ('D', D, D_REG)):
    c = interval / (interval + 1)   # lazy regularization's mb_ratio
    opt = torch.optim.Adam(module.parameters(), lr=0.0025 * c, betas=[0 ** c, 0.99 ** c], eps=1e-8)
    phases += [types.SimpleNamespace(name=name + 'main', module=module, opt=opt, interval=1),
               types.SimpleNamespace(name=name + 'reg', module=module, opt=opt,
                                     interval=interval)]
  reals, b, bg = data_source(args.batch, device), args.batch, args.official_batch_gpu or args.batch
  at = {'batch_idx': 0, 'nimg': 0}

  def step():
    real_img, real_c = (x.split(bg) for x in reals())
    gen_z = [z.split(bg) for z in torch.randn([len(phases) * b, Z_SG2], device=device).split(b)]
    gen_c = one_hot(torch.randint(0, CLASSES, (len(phases) * b,), device=device))
    for phase, phase_z, phase_c in zip(phases, gen_z, [c.split(bg) for c in gen_c.split(b)]):
      if at['batch_idx'] % phase.interval != 0:
        continue
      phase.opt.zero_grad(set_to_none=True)
      phase.module.requires_grad_(True)
      for i, args_i in enumerate(zip(real_img, real_c, phase_z, phase_c)):
        loss.accumulate_gradients(phase.name, *args_i, sync=i == len(real_img) - 1,
                                  gain=phase.interval)
      phase.module.requires_grad_(False)
      for param in phase.module.parameters():
        if param.grad is not None:
          misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
      phase.opt.step()
    ema_nimg = min(500 * 1000, at['nimg'] * 0.05)   # ema_kimg 500, ema_rampup 0.05
    ema_update(G_ema, G, 0.5 ** (b / max(ema_nimg, 1e-8)))
    at['nimg'] += b
    at['batch_idx'] += 1
  return step, G, D, ('bias_act', 'upfirdn2d')


def cosine(cur_nimg, base_value, final_value, total_nimg=2e7):
  """R3GAN's training_loop.cosine_decay_with_warmup without warmup or hold (the presets')."""
  decay = 0.5 * (1 + np.cos(np.pi * cur_nimg / float(total_nimg)))
  return float(final_value if cur_nimg > total_nimg
               else base_value + (1 - decay) * (final_value - base_value))


def official_r3gan_nets(args, device):
  """R3GAN's training.networks G and D for --preset=CIFAR10 --cond=1 at --width_scale."""
  from training import networks   # pylint: disable=g-import-not-at-top,import-error
  w = widths('r3gan', args.width_scale)
  fp16 = [-1, -2, -3] if args.precision == 'mixed' else []
  stages = dict(CardinalityPerStage=[w['cardinality']] * 4, BlocksPerStage=[2] * 4,
                ExpansionFactor=2, c_dim=CLASSES, img_resolution=SIDE)
  G = networks.Generator(NoiseDimension=64, WidthPerStage=[w['width']] * 4, FP16Stages=fp16,
                         ConditionEmbeddingDimension=64, **stages)
  D = networks.Discriminator(WidthPerStage=[w['width']] * 4, ConditionEmbeddingDimension=w['width'],
                             FP16Stages=[x + len(fp16) for x in fp16], **stages)
  return tuple(net.train().requires_grad_(False).to(device) for net in (G, D))


def official_r3gan(args, device):
  """(step(), G, D, ops) of R3GAN's training_loop.py for --preset=CIFAR10 --cond=1."""
  import torch   # pylint: disable=g-import-not-at-top
  from training.loss import R3GANLoss   # pylint: disable=g-import-not-at-top,import-error
  G, D = official_r3gan_nets(args, device)
  G_ema, loss = copy.deepcopy(G).eval(), R3GANLoss(G=G, D=D)
  # train.py's betas [0, 0] as floats: torch >= 2.8's Adam refuses ints.
  adam = lambda net: torch.optim.Adam(net.parameters(), betas=[0.0, 0.0], eps=1e-8)
  phases = [types.SimpleNamespace(name='D', module=D, opt=adam(D)),
            types.SimpleNamespace(name='G', module=G, opt=adam(G))]
  reals, b, bg = data_source(args.batch, device), args.batch, args.official_batch_gpu or args.batch
  at = {'nimg': 0}

  def step():
    batches = [(*(x.split(bg) for x in reals()), torch.randn([b, 64], device=device).split(bg))
               for _ in phases]
    nimg = at['nimg']
    lr, beta2, gamma = cosine(nimg, 2e-4, 5e-5), cosine(nimg, 0.9, 0.99), cosine(nimg, 0.05, 0.005)
    for phase, (phase_img, phase_c, phase_z) in zip(phases, batches):
      phase.opt.zero_grad(set_to_none=True)
      phase.module.requires_grad_(True)
      for real_img, real_c, gen_z in zip(phase_img, phase_c, phase_z):
        loss.accumulate_gradients(phase=phase.name, real_img=real_img, real_c=real_c,
                                  gen_z=gen_z, gamma=gamma, gain=bg / b)
      phase.module.requires_grad_(False)
      for g in phase.opt.param_groups:
        g['lr'], g['betas'] = lr, (0.0, beta2)
      params = [p for p in phase.module.parameters() if p.grad is not None]
      if params:   # one GPU: the flatten / split round trip without the all_reduce
        grads = torch.cat([p.grad.flatten() for p in params]).split([p.numel() for p in params])
        for p, grad in zip(params, grads):
          p.grad = grad.reshape(p.shape)
      phase.opt.step()
    ema_update(G_ema, G, 0.5 ** (b / max(cosine(nimg, 0, 5000 * 1000), 1e-8)))
    at['nimg'] += b
  return step, G, D, ('bias_act',)


def reference_ops():
  """Makes the official custom ops (bias_act, upfirdn2d) take their reference PyTorch code
  on a GPU too, instead of building their CUDA plugins with nvcc (minutes) on first use."""
  for name in ('bias_act', 'upfirdn2d'):
    module = importlib.import_module(f'torch_utils.ops.{name}')
    module._init = lambda: False   # pylint: disable=protected-access


def compile_nets(model, G, D, backend='inductor'):
  """nn.Module.compile() in place on G's modules the official loss calls (StyleGAN2Loss
  holds G.mapping and G.synthesis; R3GANLoss G). D stays eager: R1 (and R3GAN's R2)
  differentiate D's input gradient, and torch.compile's AOTAutograd refuses that ("does
  not currently support double backward", torch 2.13)."""
  del D
  for net in (G.mapping, G.synthesis) if model == 'stylegan2' else (G,):
    net.compile(backend=backend)


def run_official(args):
  """The official step of --model: --warmup steps, then --repeats windows of --steps
  (one sync at the end of each). args.torch_compile (default False): G under
  torch.compile (compile_nets; args.torch_compile_backend, default inductor);
  args.official_ops='ref' (default 'auto'): no CUDA plugin builds."""
  import torch   # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.torch_threads or num_cores())
  torch.manual_seed(0)
  cuda = torch.cuda.is_available()
  device = torch.device('cuda' if cuda else 'cpu')
  torch.backends.cudnn.benchmark = True   # as both training loops
  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
  official_path(checkout(args), args.model)
  from torch_utils.ops import conv2d_gradfix   # pylint: disable=g-import-not-at-top,import-error
  conv2d_gradfix.enabled = True   # as both training loops (torch >= 1.10: plain convs)
  if getattr(args, 'official_ops', 'auto') == 'ref':
    reference_ops()
  build = official_stylegan2 if args.model == 'stylegan2' else official_r3gan
  step, G, D, ops = build(args, device)
  if getattr(args, 'torch_compile', False):
    compile_nets(args.model, G, D, getattr(args, 'torch_compile_backend', 'inductor'))
  sync = torch.cuda.synchronize if cuda else lambda: None

  def run(steps):
    for _ in range(steps):
      step()
    sync()
  first, = timed_windows(run, max(1, args.warmup), 1)
  secs = timed_windows(run, args.steps, args.repeats)
  count = lambda net: sum(p.numel() for p in net.parameters())
  plugins = {op: getattr(importlib.import_module(f'torch_utils.ops.{op}'), '_plugin', None)
             is not None for op in ops}
  return {'steps_per_sec': args.steps / min(secs), 'steps': args.steps, 'first_call_s': first,
          'windows_s': secs, 'batch': args.batch, 'torch_threads': torch.get_num_threads(),
          'g_params': count(G), 'd_params': count(D),
          'device_peak_mib': torch.cuda.max_memory_allocated() / 2**20 if cuda else 0,
          'device': torch.cuda.get_device_name() if cuda else 'cpu',
          'platform': 'gpu' if cuda else 'cpu', 'cuda_ops': plugins}


def run_probe(args):
  """What this machine has: JAX's backend and device, and whether torch sees CUDA."""
  del args
  import jax   # pylint: disable=g-import-not-at-top
  import torch   # pylint: disable=g-import-not-at-top
  dev = jax.devices()[0]
  return {'jax_platform': dev.platform, 'jax_device': dev.device_kind,
          'torch_cuda': torch.cuda.is_available()}


RUNNERS = {'official': run_official, 'ganjax': run_ganjax, 'probe': run_probe}


def child(args):
  """--only=NAME: runs it here; its result (+ peak RSS) goes to --result as JSON. ganjax
  on CPU gets the CLI's XLA:CPU (Eigen) convolutions."""
  if args.only == 'ganjax' and args.device == 'cpu':
    from ganjax import xla_cpu   # pylint: disable=g-import-not-at-top
    xla_cpu.prefer_eigen_convolutions()
  import resource   # pylint: disable=g-import-not-at-top
  result = RUNNERS[args.only](args)
  result['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  with open(args.result, 'w') as f:
    json.dump(result, f)


def spawn(name, argv):
  """`python -m benchmarks.official_speed --only=NAME` in a fresh interpreter: its JSON
  result, or {'error': its stderr's tail} (the other contenders still run)."""
  with tempfile.NamedTemporaryFile(suffix='.json') as out:
    cmd = [sys.executable, '-m', 'benchmarks.official_speed', *argv, f'--only={name}',
           f'--result={out.name}']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode:
      print(f'{name} {shlex.join(argv)} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}',
            file=sys.stderr, flush=True)
      return {'error': proc.stderr[-3000:]}
    with open(out.name) as f:
      return json.load(f)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default=','.join(MODELS), help='comma-separated: stylegan2,r3gan')
  p.add_argument('--precisions', default='',
                 help="comma-separated f32,mixed (default: f32 on CPU, f32,mixed on a GPU)")
  p.add_argument('--width_scale', type=float, default=0,
                 help='x the official widths (0: 1 on a GPU; on CPU CPU_WIDTH, 32 channels)')
  p.add_argument('--batch', type=int, default=0, help='images a step (0: 16 on CPU, 64 on GPU)')
  p.add_argument('--official_batch_gpu', type=int, default=0,
                 help="the official loops' batch_gpu (rounds of gradient accumulation; 0: --batch)")
  p.add_argument('--steps', type=int, default=16, help='timed steps (up to a multiple of 16)')
  p.add_argument('--warmup', type=int, default=2, help='untimed steps first (ganjax compiles)')
  p.add_argument('--repeats', type=int, default=1,
                 help='time --steps this many times in a row; rows show the fastest window '
                 '(a shared machine\'s speed drifts)')
  p.add_argument('--steps_per_dispatch', type=int, default=0, help="ganjax's S (0: the config's)")
  p.add_argument('--torch_threads', type=int, default=0,
                 help='torch.set_num_threads for the official side (0: the core count); on '
                 'a CPU shared with other work, 1 avoids OpenMP waits on descheduled threads')
  p.add_argument('--tf32', action='store_true', help='f32 rows: let both sides use TF32')
  p.add_argument('--official_sg2', default='/tmp/sg2ada_official',
                 help='checkout of NVlabs/stylegan2-ada-pytorch')
  p.add_argument('--official_r3gan', default='/tmp/r3gan_official',
                 help='checkout of brownvc/R3GAN')
  p.add_argument('--json', help='also write the table and raw results here')
  p.add_argument('--only', choices=tuple(RUNNERS), help=argparse.SUPPRESS)
  p.add_argument('--model', choices=MODELS, help=argparse.SUPPRESS)
  p.add_argument('--precision', default='f32', help=argparse.SUPPRESS)
  p.add_argument('--device', default='cpu', help=argparse.SUPPRESS)
  p.add_argument('--result', help=argparse.SUPPRESS)
  return p.parse_args(argv)


def resolve(args, gpu):
  """Fills the device-dependent defaults in place."""
  args.device = 'gpu' if gpu else 'cpu'
  args.batch = args.batch or (64 if gpu else 16)
  args.precisions = (args.precisions or ('f32,mixed' if gpu else 'f32')).split(',')
  args.models = args.models.split(',')
  bad = set(args.models) - set(MODELS) | set(args.precisions) - {'f32', 'mixed'}
  if bad:
    raise SystemExit(f'unknown --models / --precisions {sorted(bad)}')


def scale_for(args, model):
  """--width_scale, or its default for the device."""
  return args.width_scale or (1.0 if args.device == 'gpu' else CPU_WIDTH[model])


def contender_argv(args, model, precision):
  """The flags a contender's subprocess gets."""
  names = ('batch', 'official_batch_gpu', 'warmup', 'repeats', 'steps_per_dispatch',
           'torch_threads', 'official_sg2', 'official_r3gan', 'device')
  cycle = D_REG if model == 'stylegan2' else 1   # whole lazy-R1 cycles
  return ([f'--{a}={getattr(args, a)}' for a in names] + ['--tf32'] * args.tf32
          + [f'--model={model}', f'--precision={precision}',
             f'--width_scale={scale_for(args, model)!r}',
             f'--steps={-(-max(1, args.steps) // cycle) * cycle}'])


def row(model, impl, precision, r, scale):
  """One table row from a contender's result (None-valued speeds if it failed)."""
  sps, gpu = r.get('steps_per_sec'), r.get('platform') == 'gpu'
  peak = r.get('device_peak_mib') if gpu else r.get('peak_rss_mib')
  device = r.get('device', '?') if gpu else f'cpu x{num_cores()}'
  return {'model': model, 'implementation': impl, 'device': device, 'peak_of': 'device' if gpu
          else 'RSS',
          'precision': precision, 'width_scale': scale, 'widths': widths(model, scale),
          'batch': r.get('batch'), 'g_params': r.get('g_params'),
          'd_params': r.get('d_params'), 'steps_per_sec': sps,
          'images_per_sec': sps * r['batch'] if sps else None,
          'sec_per_kimg': 1000 / (sps * r['batch']) if sps else None, 'peak_mib': peak,
          'first_call_s': r.get('first_call_s'), 'error': r.get('error')}


def print_row(r):
  fmt = lambda v, f: format(v, f) if v is not None else '-'
  params = f'{fmt(r["g_params"], ",")}/{fmt(r["d_params"], ",")}'
  width = f'x{r["width_scale"]:.4g}'
  print(f'{r["model"]:10s}{r["implementation"]:9s}{r["device"][:24]:25s}{r["precision"]:23s}'
        f'{width:>8s}{r["batch"] or 0:6d}{params:>24s}{fmt(r["steps_per_sec"], "9.3f"):>9s}'
        f'{fmt(r["images_per_sec"], "10.1f"):>10s}{fmt(r["sec_per_kimg"], "10.1f"):>10s}'
        f'{fmt(r.get("ratio"), "8.2f"):>8s}{fmt(r["peak_mib"], "9.0f"):>9s}', flush=True)


def fmt_list(secs):
  return ', '.join(f'{x:.1f}' for x in secs or ()) or '-'


def compare(model, precision, args):
  """The official and ganjax rows of one model at one precision, and notes."""
  label = {'f32': ('f32', 'f32')}.get(precision) or MIXED[model]
  argv, scale = contender_argv(args, model, precision), scale_for(args, model)
  off = spawn('official', argv)
  rows, notes = [row(model, 'official', label[0], off, scale)], []
  if precision == 'mixed' and not has_dtype(model):
    notes.append(f'{model}: no ganjax {label[1]} row: its port has no model.dtype yet')
  else:
    gj = spawn('ganjax', argv)
    rows.append(row(model, 'ganjax', label[1], gj, scale))
    if off.get('steps_per_sec') and gj.get('steps_per_sec'):
      rows[-1]['ratio'] = gj['steps_per_sec'] / off['steps_per_sec']
    same = all(off.get(k) == gj.get(k) for k in ('g_params', 'd_params'))
    rows[-1]['params_match'] = rows[0]['params_match'] = same
    notes.append(f'{model} {precision}: first ganjax call (compile + {max(1, args.warmup)} '
                 f'steps) {gj.get("first_call_s") or 0:.1f} s; windows (s): official '
                 f'{fmt_list(off.get("windows_s"))}, ganjax {fmt_list(gj.get("windows_s"))}')
  if off.get('platform') == 'gpu':
    notes.append(f'{model} {label[0]}: official custom CUDA ops built: {off["cuda_ops"]}')
  return rows, notes


def main():
  args = parse_args()
  if args.only:
    return child(args)
  probe = spawn('probe', [])
  gpu = probe.get('jax_platform') == 'gpu' or probe.get('torch_cuda', False)
  resolve(args, gpu)
  device = probe.get('jax_device', '?') if gpu else f'cpu x{num_cores()}'
  command = shlex.join(['python', '-m', 'benchmarks.official_speed', *sys.argv[1:]])
  versions = {m: importlib.metadata.version(m) for m in ('jax', 'jaxlib', 'flax', 'torch')}
  print(f'command: {command}\n' + ', '.join(f'{m} {v}' for m, v in versions.items())
        + f'; {num_cores()} cores; {device}; batch {args.batch}; {args.steps} timed '
        f'steps (StyleGAN2: whole 16-step R1 cycles) after {args.warmup} warmup', flush=True)
  head = (f'{"model":10s}{"impl":9s}{"device":25s}{"precision":23s}{"width":>8s}{"batch":>6s}'
          f'{"params G/D":>24s}{"steps/s":>9s}{"images/s":>10s}{"sec/kimg":>10s}'
          f'{"gjx/off":>8s}{"peak MiB":>9s}')
  print(head + '\n' + '-' * len(head), flush=True)
  rows, notes = [], []
  for model in args.models:
    for precision in args.precisions:
      got, more = compare(model, precision, args)
      for r in got:
        print_row(r)
      rows, notes = rows + got, notes + more
  mismatched = [f'{r["model"]} {r["precision"]}' for r in rows
                if r['implementation'] == 'ganjax' and not r['params_match']]
  notes.append('params: official == ganjax' if not mismatched else f'PARAMS DIFFER: {mismatched}')
  print('\n'.join(notes) + '\npeak MiB: the framework\'s peak device allocation on a GPU, '
        'the process\'s peak RSS on CPU; images/s = batch x steps/s; sec/kimg = 1000 / '
        'images/s; gjx/off = ganjax steps/s / official steps/s')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'versions': versions, 'cores': num_cores(),
                 'probe': probe, 'rows': rows, 'notes': notes}, f, indent=2)
  if mismatched or any(r['error'] for r in rows):
    sys.exit(1)


if __name__ == '__main__':
  main()
