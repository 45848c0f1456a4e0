r"""The DCGAN configs (seeds 004, 001, 003): ganjax's compiled training chunk vs plain PyTorch.

python -m benchmarks.dcgan --steps=20 --ops --json=runs/bench_dcgan.json

Each contender runs in its own subprocess (`--only=NAME`, one model), so peak RSS is its
own. Data are random uint8 images of each config's shape, so no dataset files are needed.
images/s = batch x steps/s. GFLOP/s uses, for both rows of a model, the FLOPs per step
XLA's cost analysis reports for ganjax's (single, jitted) train step. --ops times every
conv / transposed conv layer alone, at the shapes the G update runs it (the config's batch).
"""

import argparse
import importlib
import importlib.metadata
import json
import math
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.mlp_gan import num_cores, run_ceiling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --models name -> (config module, data.image_size to set; 0: the config's own).
MODELS = {'mnist_dcgan': ('mnist_dcgan', 0), 'cifar10_dcgan': ('cifar10_dcgan', 0),
          'folder_dcgan64': ('folder_dcgan64', 64), 'folder_dcgan256': ('folder_dcgan', 256)}
CONTENDERS = ('ceiling', 'ganjax', 'torch', 'ops')
DATA_BATCHES = 4   # random images resident: 4 x batch


def load_config(name, args):
  """The named config with the benchmark's overrides (folder_dcganN: seed 003 at N x N)."""
  module, size = MODELS.get(name) or ('folder_dcgan', int(name[len('folder_dcgan'):]))
  config = importlib.import_module(f'configs.{module}').get_config()
  if size:
    config.data.image_size = size
  if args.batch:
    config.batch_size = args.batch
  if args.steps_per_dispatch:
    config.steps_per_dispatch = args.steps_per_dispatch
  return config


def run_ganjax(args):
  """exp.par.compile_chunk(train_step) fed as the training loop feeds it (resident data)."""
  import jax
  import jax.numpy as jnp
  from ganjax import input_pipeline, summary
  from ganjax.train import Experiment
  config = load_config(args.models[0], args)
  exp = Experiment(config)
  k, s, b, n = config.d_steps, config.steps_per_dispatch, exp.real_batch, DATA_BATCHES * config.batch_size
  images = np.random.default_rng(0).integers(0, 256, (n, *exp.image_shape), dtype=np.uint8)
  fns = exp.step_fns()
  chunk = exp.par.compile_chunk(fns.train_step, resident=True)
  state = exp.par.to_mode(exp.init_state())
  data = exp.par.put_data({'images': images})
  sampler = input_pipeline.IndexSampler(config.seed, n, b, k)
  done = 0

  def run(chunks):
    nonlocal state, done
    for _ in range(chunks):
      state, metrics = chunk(state, data, exp.par.shard_steps(sampler.indices(done, s)))
      done += s
    return jax.block_until_ready((state, metrics))[1]

  t = time.perf_counter()
  run(max(1, -(-args.warmup // s)))   # the first call compiles
  first = time.perf_counter() - t
  timed = -(-args.steps // s)
  t = time.perf_counter()
  metrics = run(timed)
  secs = time.perf_counter() - t
  x = jax.ShapeDtypeStruct((k, b, *exp.image_shape), jnp.float32)
  cost = jax.jit(fns.train_step).lower(exp.init_state(), x, None).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  z = jnp.zeros((1, config.model.latent_dim))
  g = summary.totals(summary.layer_rows(exp.generator, z, None, train=False))[0]
  d = summary.totals(summary.layer_rows(
      exp.discriminator, jnp.zeros((1, *exp.image_shape)), None, train=False))[0]
  return {'steps_per_sec': timed * s / secs, 'steps': timed * s, 'steps_per_dispatch': s,
          'first_call_s': first, 'flops_per_step': float(cost['flops']),
          'batch': config.batch_size, 'real_batch': b, 'g_params': g, 'd_params': d,
          'd_loss': float(metrics['d_loss'][-1]), 'backend': jax.default_backend()}


def tconv_pad(k, s):
  """torch (padding, output_padding) for a 'SAME' transposed conv: out = in x s."""
  p = -(-(k - s) // 2)
  return p, 2 * p - (k - s)


def conv_pad(k, s, padding):
  """torch padding for a Flax 'SAME' / 'VALID' conv (even inputs when strided)."""
  return 0 if padding == 'VALID' else 'same' if s == 1 else (k - 1) // 2


def torch_models(config, image_shape):
  """(G, D) in torch with the layers, widths and parameter counts of config.model."""
  from torch import nn
  m, (size, _, c), latent = config.model, image_shape, config.model.latent_dim
  gm, dm = m.generator, m.discriminator

  def up(cin, cout, k, s, bias=True):
    p, op = tconv_pad(k, s)
    return nn.ConvTranspose2d(cin, cout, k, s, padding=p, output_padding=op, bias=bias)

  keras_bn = lambda n, bn=nn.BatchNorm2d: bn(n, eps=1e-3, momentum=0.01)
  to_map = lambda f, h: nn.Unflatten(1, (f, h, h))
  if m.name == 'dcgan28':
    (f0, f1, f2), k, act = gm.features, gm.kernel, lambda: nn.LeakyReLU(gm.negative_slope)
    g = [nn.Linear(latent, (size // 4) ** 2 * f0, bias=False),
         keras_bn((size // 4) ** 2 * f0, nn.BatchNorm1d), act(), to_map(f0, size // 4),
         up(f0, f1, k, 1, False), keras_bn(f1), act(), up(f1, f2, k, 2, False), keras_bn(f2),
         act(), up(f2, c, k, 2, False), nn.Tanh()]
    d, cin, h = [], c, size
    for feat in dm.features:
      d += [nn.Conv2d(cin, feat, dm.kernel, 2, conv_pad(dm.kernel, 2, 'SAME')),
            nn.LeakyReLU(dm.negative_slope), nn.Dropout(dm.dropout)]
      cin, h = feat, -(-h // 2)
    d += [nn.Flatten(), nn.Linear(cin * h * h, 1)]
  elif m.name == 'radford':
    ups = int(math.log2(size // 4))
    feat = gm.base_features * 2 ** (ups - 1)
    g = [nn.Linear(latent, 16 * feat, bias=False), to_map(feat, 4), nn.BatchNorm2d(feat),
         nn.ReLU()]
    for _ in range(ups - 1):
      g += [up(feat, feat // 2, 4, 2, False), nn.BatchNorm2d(feat // 2), nn.ReLU()]
      feat //= 2
    g += [up(feat, c, 4, 2, False), nn.Tanh()]
    d, cin, feat, h = [], c, dm.base_features, size
    while h > 4:
      d += [nn.Conv2d(cin, feat, 4, 2, 1, bias=False)] + [nn.BatchNorm2d(feat)] * bool(d)
      d += [nn.LeakyReLU(dm.negative_slope)]
      cin, feat, h = feat, feat * 2, h // 2
    d += [nn.Conv2d(cin, 1, 4, 1, 0, bias=False), nn.Flatten()]
  elif m.name == 'dcgan256':
    f0, *widths = gm.features
    g = [nn.Linear(latent, (size // 8) ** 2 * f0), to_map(f0, size // 8), keras_bn(f0), nn.ReLU()]
    cin = f0
    for feat in widths:
      g += [up(cin, feat, 4, 2), keras_bn(feat), nn.ReLU()]
      cin = feat
    g += [nn.Conv2d(cin, c, 8, padding='same'), nn.Tanh()]
    d, cin, h = [], c, size
    for feat, k in zip(dm.features, dm.kernels):
      d += [nn.Conv2d(cin, feat, k, 2, conv_pad(k, 2, 'SAME')), nn.LeakyReLU(dm.negative_slope),
            nn.Dropout(dm.dropout)]
      cin, h = feat, -(-h // 2)
    d += [nn.Flatten(), nn.Linear(cin * h * h, 1)]
  else:
    raise ValueError(f'no torch version of model.name={m.name!r}')
  return nn.Sequential(*g), nn.Sequential(*d)


def run_torch(args):
  """The same models in a plain PyTorch loop: k D updates on [real; fake.detach()] (or
  seed 003's real-half then fake-half updates), then a G update; Adam, BCEWithLogits."""
  import torch
  from ganjax import input_pipeline
  torch.set_num_threads(num_cores())
  torch.manual_seed(0)
  config = load_config(args.models[0], args)
  h, w, c = input_pipeline.describe(config.data).image_shape
  G, D = torch_models(config, (h, w, c))
  adam = lambda net, o: torch.optim.Adam(net.parameters(), lr=o.learning_rate, betas=(o.b1, o.b2))
  opt_g, opt_d = adam(G, config.optimizer.g), adam(D, config.optimizer.d)
  bce = torch.nn.BCEWithLogitsLoss()
  batch, latent, separate = config.batch_size, config.model.latent_dim, config.d_batch == 'separate'
  rb, n = batch // 2 if separate else batch, DATA_BATCHES * config.batch_size
  images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8)
  y_real, y_fake = torch.full((rb, 1), config.loss.real_label), torch.zeros(rb, 1)
  y_both, y_g = torch.cat([y_real, y_fake]), torch.ones(batch, 1)

  def d_update(x, y):
    opt_d.zero_grad()
    bce(D(x), y).backward()
    opt_d.step()

  def step():
    for _ in range(config.d_steps):
      real = images[torch.randint(0, n, (rb,))].float() / 127.5 - 1.0
      fake = G(torch.randn(rb, latent))
      if separate:
        d_update(real, y_real)
        d_update(fake.detach(), y_fake)
      else:
        d_update(torch.cat([real, fake.detach()]), y_both)
    opt_g.zero_grad()
    bce(D(G(torch.randn(batch, latent))), y_g).backward()
    opt_g.step()

  for _ in range(max(1, args.warmup)):
    step()
  t = time.perf_counter()
  for _ in range(args.steps):
    step()
  count = lambda net: sum(p.numel() for p in net.parameters() if p.requires_grad)
  return {'steps_per_sec': args.steps / (time.perf_counter() - t), 'steps': args.steps,
          'threads': torch.get_num_threads(), 'g_params': count(G), 'd_params': count(D)}


def conv_layers(exp):
  """Every Conv / ConvTranspose call of G and D at the config's batch, with its shapes."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  found = []

  def spy(next_fun, a, kw, ctx):
    out = next_fun(*a, **kw)
    mod = ctx.module
    if ctx.method_name == '__call__' and isinstance(mod, (nn.Conv, nn.ConvTranspose)):
      stride = mod.strides if isinstance(mod.strides, int) else (mod.strides or (1,))[0]
      found.append({'layer': '/'.join(mod.path), 'op': type(mod).__name__,
                    'kernel': mod.kernel_size[0], 'stride': stride, 'padding': mod.padding,
                    'shape_in': tuple(a[0].shape), 'shape_out': tuple(out.shape)})
    return out

  b = exp.config.batch_size
  with nn.intercept_methods(spy):
    for name, net, x in (('G', exp.generator, jnp.zeros((b, exp.config.model.latent_dim))),
                         ('D', exp.discriminator, jnp.zeros((b, *exp.image_shape)))):
      start = len(found)
      jax.eval_shape(lambda: net.init(jax.random.key(0), x, None, train=False))
      for row in found[start:]:
        row['layer'] = f'{name}/{row["layer"]}'
  return found


def median_ms(fn, reps):
  """Median wall ms of fn() over reps calls, after one untimed call."""
  fn()
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return 1e3 * float(np.median(times))


def run_ops(args):
  """Forward and forward+grad (input and kernel) ms of each conv layer: lax vs torch."""
  import jax
  import torch
  import torch.nn.functional as F
  from jax import lax
  from ganjax.train import Experiment
  torch.set_num_threads(num_cores())
  dn = ('NHWC', 'HWIO', 'NHWC')
  rows = []
  for row in conv_layers(Experiment(load_config(args.models[0], args))):
    k, s, pad, transposed = row['kernel'], row['stride'], row['padding'], row['op'] == 'ConvTranspose'
    cin, cout = row['shape_in'][-1], row['shape_out'][-1]
    if transposed:
      f = lambda x, w: lax.conv_transpose(x, w, (s, s), pad, dimension_numbers=dn)
      p, op = tconv_pad(k, s)
      tf = lambda x, w: F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
      t_axes, pixels = (2, 3, 0, 1), math.prod(row['shape_in'][:3])
    else:
      f = lambda x, w: lax.conv_general_dilated(x, w, (s, s), pad, dimension_numbers=dn)
      tf = lambda x, w: F.conv2d(x, w, stride=s, padding=conv_pad(k, s, pad))
      t_axes, pixels = (3, 2, 0, 1), math.prod(row['shape_out'][:3])
    rng = np.random.default_rng(0)
    x, g = (rng.standard_normal(row[a], np.float32) for a in ('shape_in', 'shape_out'))
    w = 0.02 * rng.standard_normal((k, k, cin, cout), np.float32)
    fwd = jax.jit(f)
    vjp = jax.jit(lambda x, w, g: (lambda y, pull: (y, pull(g)))(*jax.vjp(f, x, w)))
    xj, wj, gj = jax.device_put((x, w, g))
    row['jax_fwd_ms'] = median_ms(lambda: jax.block_until_ready(fwd(xj, wj)), args.op_reps)
    row['jax_grad_ms'] = median_ms(lambda: jax.block_until_ready(vjp(xj, wj, gj)), args.op_reps)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    gt = torch.from_numpy(g).permute(0, 3, 1, 2).contiguous()
    wt = torch.from_numpy(w.transpose(t_axes).copy())   # [out|in, in|out, k, k]
    assert tuple(tf(xt, wt).shape) == tuple(gt.shape), (row, tf(xt, wt).shape)
    xt.requires_grad_(), wt.requires_grad_()
    with torch.no_grad():
      row['torch_fwd_ms'] = median_ms(lambda: tf(xt, wt), args.op_reps)
    row['torch_grad_ms'] = median_ms(
        lambda: torch.autograd.grad(tf(xt, wt), (xt, wt), gt), args.op_reps)
    row['gflop_fwd'] = 2 * pixels * k * k * cin * cout / 1e9   # nominal: no padding, no zeros
    rows.append(row)
  return {'layers': rows}


def child(args):
  """Runs one contender in this process and writes its result (with peak RSS) as JSON."""
  result = globals()['run_' + args.only](args)
  result['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  with open(args.result, 'w') as f:
    json.dump(result, f)


def spawn(name, argv):
  """Runs `--only=name` in a fresh interpreter and returns its JSON result."""
  with tempfile.NamedTemporaryFile(suffix='.json') as out:
    cmd = [sys.executable, '-m', 'benchmarks.dcgan', *argv, f'--only={name}',
           f'--result={out.name}']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
      sys.exit(f'{name} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}')
    with open(out.name) as f:
      return json.load(f)


def main():
  """Runs every model's contenders in their own subprocesses and prints (and saves) the tables."""
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default=','.join(MODELS), help='comma-separated: ' + ', '.join(MODELS))
  p.add_argument('--steps', type=int, default=20, help='timed steps (ganjax: whole chunks)')
  p.add_argument('--warmup', type=int, default=2, help='untimed steps first (compiles)')
  p.add_argument('--batch', type=int, default=0, help='override every config\'s batch_size')
  p.add_argument('--steps_per_dispatch', type=int, default=0, help='override the configs\' S')
  p.add_argument('--ops', action='store_true', help='also time each conv layer alone')
  p.add_argument('--op_reps', type=int, default=5, help='timed calls per op (median)')
  p.add_argument('--ceiling_reps', type=int, default=10, help='matmuls for the ceiling')
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--only', choices=CONTENDERS, help='run one contender (internal)')
  p.add_argument('--result', help=argparse.SUPPRESS)
  args = p.parse_args()
  args.models = args.models.split(',')
  bad = [m for m in args.models if m not in MODELS and not re.fullmatch(r'folder_dcgan\d+', m)]
  if bad:
    p.error(f'unknown --models {bad}; choose from {list(MODELS)} or folder_dcganN')
  if args.only:
    return child(args)
  passed = [f'--steps={args.steps}', f'--warmup={args.warmup}', f'--batch={args.batch}',
            f'--steps_per_dispatch={args.steps_per_dispatch}', f'--op_reps={args.op_reps}',
            f'--ceiling_reps={args.ceiling_reps}']
  run = lambda name, model: spawn(name, passed + [f'--models={model}'])
  command = shlex.join(['python', '-m', 'benchmarks.dcgan', *sys.argv[1:]])
  print('command:', command)
  versions = {m: importlib.metadata.version(m) for m in ('jax', 'jaxlib', 'flax', 'optax', 'torch')}
  print(', '.join(f'{m} {v}' for m, v in versions.items()) + f'; {num_cores()} cores; '
        f'{args.steps} timed steps after {args.warmup} warmup')
  ceil = run('ceiling', args.models[0])
  print(f'jax backend {ceil["backend"]}; f32 matmul ceiling (jitted 2048^2, best of '
        f'{args.ceiling_reps}): {ceil["gflops"]:.1f} GFLOP/s', flush=True)
  head = (f'{"":34s}{"batch":>6s}{"steps/s":>9s}{"images/s":>10s}{"GFLOP/s":>9s}{"%peak":>7s}'
          f'{"RSS MiB":>9s}{"torch/ganjax":>13s}')
  print(head + '\n' + '-' * len(head), flush=True)
  raw, table, notes = {}, [], []
  for model in args.models:
    res = raw[model] = {name: run(name, model) for name in ('ganjax', 'torch')}
    gj, flops = res['ganjax'], res['ganjax']['flops_per_step']
    for label, r in ((f'{model} ganjax (S={gj["steps_per_dispatch"]})', gj),
                     (f'{model} torch', res['torch'])):
      sps, ratio = r['steps_per_sec'], r['steps_per_sec'] / gj['steps_per_sec']
      gf = sps * flops / 1e9
      print(f'{label:34s}{gj["batch"]:6d}{sps:9.2f}{sps * gj["batch"]:10.1f}{gf:9.1f}'
            f'{100 * gf / ceil["gflops"]:6.1f}%{r["peak_rss_mib"]:9.0f}{ratio:12.2f}x', flush=True)
      table.append({'name': label, 'model': model, 'batch': gj['batch'], 'steps_per_sec': sps,
                    'images_per_sec': sps * gj['batch'], 'gflops': gf,
                    'pct_ceiling': 100 * gf / ceil['gflops'], 'peak_rss_mib': r['peak_rss_mib'],
                    'torch_over_ganjax': ratio})
    same = all(gj[n] == res['torch'][n] for n in ('g_params', 'd_params'))
    notes.append(f'{model}: {flops / 1e9:.3f} GFLOP/step (XLA), first ganjax call '
                 f'{gj["first_call_s"]:.1f} s; trainable params G {gj["g_params"]:,} D '
                 f'{gj["d_params"]:,} (ganjax) vs G {res["torch"]["g_params"]:,} D '
                 f'{res["torch"]["d_params"]:,} (torch): {"match" if same else "MISMATCH"}')
  print('\n'.join(notes))
  print('images/s = batch x steps/s; GFLOP/s = steps/s x XLA\'s FLOPs per ganjax step; '
        'RSS = peak of each contender\'s own process')
  ops = {}
  if args.ops:
    head = (f'{"layer":38s}{"op":>14s}{"in -> out (NHWC)":>30s}{"k/s":>6s}{"GFLOP":>7s}'
            f'{"jax fwd":>9s}{"jax f+g":>9s}{"tch fwd":>9s}{"tch f+g":>9s}')
    print(f'\nper op, ms (median of {args.op_reps}); f+g = forward + grads w.r.t. input and '
          'kernel; GFLOP = nominal forward\n' + head + '\n' + '-' * len(head))
    for model in args.models:
      ops[model] = run('ops', model)['layers']
      for r in ops[model]:
        shapes = 'x'.join(map(str, r['shape_in'])) + ' -> ' + 'x'.join(map(str, r['shape_out']))
        print(f'{model + " " + r["layer"]:38s}{r["op"]:>14s}{shapes:>30s}'
              f'{r["kernel"]:>4d}/{r["stride"]}{r["gflop_fwd"]:7.2f}{r["jax_fwd_ms"]:9.1f}'
              f'{r["jax_grad_ms"]:9.1f}{r["torch_fwd_ms"]:9.1f}{r["torch_grad_ms"]:9.1f}',
              flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'versions': versions, 'cores': num_cores(),
                 'ceiling_gflops': ceil['gflops'], 'rows': table, 'notes': notes,
                 'ops': ops, 'raw': raw}, f, indent=2)


if __name__ == '__main__':
  main()
