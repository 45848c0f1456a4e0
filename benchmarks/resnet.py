r"""The residual GANs (SNGAN, BigGAN on CIFAR-10): ganjax's training chunk vs the same
training step as a plain PyTorch loop on StudioGAN's nets (benchmarks/torch_resnets.py).

python -m benchmarks.resnet --models=cifar10_sngan,cifar10_biggan --steps=5 \
    --json=runs/bench_resnet.json

A step is the config's: d_steps D updates, each on a fresh real batch and fresh fakes
(one D call on [real; fake], as ganjax's d_batch='combined'), then one G update on
batch_size fresh fakes; the config's loss (hinge), optimizers (Adam, with the config's
linear warm-up / decay), G EMA when ema_decay > 0, and SN (torch.nn.utils.spectral_norm:
a power iteration per training forward of D, as StudioGAN). In the PyTorch loop, as in
StudioGAN's worker.py, the net not being updated has requires_grad off (no weight
gradients for it) and G's BatchNorm keeps no running statistics while it makes D's fakes.

Before anything is timed, the G and D parameter counts of both sides are printed, and
the run stops (exit status 1) with the blocks that differ if they are not equal: the two
sides must be the same nets. Each contender then runs in its own subprocess
(harness.spawn), so peak RSS is its own; data are random uint8 images (and labels for
conditional models). images/s = batch x steps/s (a step reads d_steps real batches and
makes (d_steps + 1) x batch fakes); GFLOP/s uses, for both rows of a model, the FLOPs per
step XLA's cost analysis reports for ganjax's train step (jitted alone).
"""

import argparse
import importlib.metadata
import json
import math
import shlex
import sys

from benchmarks import dcgan
from benchmarks.harness import (child, num_cores, run_ceiling, spawn,  # noqa: F401
                                step_flops)

# --models name -> (config module, data.image_size to set; 0: the config's own).
MODELS = {'cifar10_sngan': ('cifar10_sngan', 0), 'cifar10_sngan_cond': ('cifar10_sngan_cond', 0),
          'cifar10_biggan': ('cifar10_biggan', 0)}
CONTENDERS = ('ceiling', 'ganjax', 'torch')
DATA_BATCHES = dcgan.DATA_BATCHES
# torch_resnets' top-level modules -> the ganjax param groups they replicate.
TORCH_GROUPS = {'linear0': 'dense', 'shared': 'shared', 'bn4': 'bn_out', 'conv2d5': 'conv_out',
                'linear1': 'head', 'embedding': 'head'}


def load_config(name, args):
  """The named config with the benchmark's --batch / --steps_per_dispatch."""
  return dcgan.load_config(name, args, MODELS)


def run_ganjax(args):
  """dcgan.run_ganjax (the compiled chunk, resident data and labels) on this config."""
  return dcgan.run_ganjax(args, load_config(args.models[0], args), flops=step_flops)


def model_spec(exp):
  """What the PyTorch replica needs of ganjax's built G and D (JSON-able)."""
  g, d, m = exp.generator, exp.discriminator, exp.config.model
  return {'name': m.name, 'image_shape': [int(v) for v in exp.image_shape],
          'num_classes': int(exp.num_classes), 'latent': int(m.latent_dim),
          'g': {'channels': [int(c) for c in g.channels], 'attention': g.attention_resolution,
                'sn': bool(g.spectral_norm), 'conditioning': g.conditioning,
                'shared_dim': int(getattr(g, 'shared_dim', 0))},
          'd': {'channels': [int(c) for c in d.channels],
                'downsample': [bool(v) for v in d.downsample],
                'attention': d.attention_resolution, 'sn': bool(d.spectral_norm),
                'conditioning': d.conditioning}}


def attention_loc(sides, resolution):
  """StudioGAN's attn_*_loc (1-based block) for ganjax's attention_resolution: after the
  first block whose output side it is (() for 0)."""
  return (sides.index(resolution) + 1,) if resolution else ()


def torch_models(spec):
  """(G, D) of torch_resnets for a model_spec; ValueError where StudioGAN's 32x32 nets
  cannot express it."""
  from benchmarks import torch_resnets
  (h, w, c), g, d, k = spec['image_shape'], spec['g'], spec['d'], spec['num_classes']
  problems = []
  if (h, w) != (32, 32):
    problems.append(f'images {h}x{w} (the replicas are the 32x32 nets)')
  if len(g['channels']) != 4 or len(set(g['channels'])) != 1 or g['channels'][0] % 4:
    problems.append(f'G channels {g["channels"]} (32x32: 4 x [4 g_conv_dim])')
  if len(d['channels']) != 4 or len(set(d['channels'])) != 1 or d['channels'][0] % 2:
    problems.append(f'D channels {d["channels"]} (32x32: 4 x [2 d_conv_dim])')
  if d['downsample'] != [True, True, False, False]:
    problems.append(f'D downsample {d["downsample"]} (32x32: [True, True, False, False])')
  if k and (g['conditioning'], d['conditioning']) != ('cbn', 'projection'):
    problems.append(f'conditioning {g["conditioning"]} / {d["conditioning"]} (cbn / projection)')
  g_sides, d_sides = [8, 16, 32], [16, 8, 8, 8]
  for net, sides in (('G', g_sides), ('D', d_sides)):
    res = spec[net.lower()]['attention']
    if res and res not in sides:
      problems.append(f'{net} attention at {res} (block outputs {sides})')
  if spec['name'] not in ('resnet', 'biggan'):
    problems.append(f'model.name {spec["name"]!r}')
  if spec['name'] == 'biggan' and spec['latent'] % 4:
    problems.append(f'latent {spec["latent"]} (StudioGAN splits z into 4 equal chunks)')
  if problems:
    raise ValueError('no StudioGAN replica of this config: ' + '; '.join(problems))
  G = torch_resnets.Generator(
      spec['latent'], g['channels'][0] // 4, k, hierarchical=spec['name'] == 'biggan',
      shared_dim=g['shared_dim'], attn_loc=attention_loc(g_sides, g['attention']),
      sn=g['sn'], out_channels=c)
  D = torch_resnets.Discriminator(d['channels'][0] // 2, k,
                                  attn_loc=attention_loc(d_sides, d['attention']),
                                  sn=d['sn'], in_channels=c)
  return G, D


def ganjax_groups(params):
  """{top-level module: [(path, shape)]} of a ganjax params tree."""
  import jax
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = [str(getattr(p, 'key', p)) for p in path]
    out.setdefault(keys[0], []).append(('/'.join(keys), tuple(leaf.shape)))
  return out


def torch_groups(net):
  """{the ganjax module it replicates: [(name, shape)]} of a torch_resnets net's
  parameters (all trained)."""
  from benchmarks.torch_resnets import SelfAttention
  names, i = {}, 0
  for j, block in enumerate(net.blocks):
    names[str(j)] = 'attention' if isinstance(block, SelfAttention) else f'block{i}'
    i += not isinstance(block, SelfAttention)
  out = {}
  for name, p in net.named_parameters():
    top, rest = name.split('.', 1) if '.' in name else (name, '')
    group = names[rest.split('.')[0]] if top == 'blocks' else TORCH_GROUPS.get(top, top)
    out.setdefault(group, []).append((name, tuple(p.shape)))
  return out


def check_params(model, args):
  """Prints G and D parameter counts of both sides; exits (status 1) with the modules
  whose counts differ unless they all match. Returns the replica's spec."""
  from ganjax.experiment import Experiment
  exp = Experiment(load_config(model, args))
  spec, state = model_spec(exp), exp.abstract_state()
  size = lambda leaves: sum(math.prod(s) for _, s in leaves)
  try:
    nets = torch_models(spec)
  except ValueError as e:
    sys.exit(f'{model}: {e}')
  lines, differ = [], []
  for net, params, tnet in (('G', state.g_params, nets[0]), ('D', state.d_params, nets[1])):
    ours, theirs = ganjax_groups(params), torch_groups(tnet)
    a, b = sum(map(size, ours.values())), sum(map(size, theirs.values()))
    lines.append(f'{model} {net} params: ganjax {a:,}  torch {b:,}' +
                 ('' if a == b else '  MISMATCH'))
    for group in sorted(set(ours) | set(theirs)):
      x, y = ours.get(group, []), theirs.get(group, [])
      if size(x) != size(y):
        differ.append(f'  {net} {group}: ganjax {size(x):,} {x}\n'
                      f'  {" " * (len(net + group) + 3)}torch  {size(y):,} {y}')
  print('\n'.join(lines), flush=True)
  if differ:
    sys.exit(f'{model}: G / D parameter counts differ between ganjax and the PyTorch '
             'replica; the modules that differ:\n' + '\n'.join(differ))
  return spec


def unsupported(config):
  """The config settings this PyTorch loop does not do (a ValueError lists them)."""
  c, found = config, []
  for name, value, wanted in (('d_batch', c.d_batch, 'combined'),
                              ('updates', c.get('updates', 'alternating'), 'alternating'),
                              ('fakes_for_d', c.get('fakes_for_d', 'train'), 'train'),
                              ('augment.policy', c.get('augment', {}).get('policy', ''), ''),
                              ('reg.lecam', c.get('reg', {}).get('lecam', 0.0), 0.0),
                              ('reg.r2', c.get('reg', {}).get('r2', 0.0), 0.0),
                              ('reg.r1_every', c.get('reg', {}).get('r1_every', 1), 1)):
    if value != wanted:
      found.append(f'{name}={value!r}')
  if found:
    raise ValueError('the PyTorch loop does not do ' + ', '.join(found))


def lr_factor(opt, updates_per_step):
  """optimizers.learning_rate's schedule as a LambdaLR factor of the update count."""
  warmup = opt.get('warmup_steps', 0) * updates_per_step
  decay = opt.get('decay_steps', 0) * updates_per_step

  def factor(t):
    if warmup and t < warmup:
      return t / warmup
    return max(0.0, 1.0 - (t - warmup) / (decay - warmup)) if decay else 1.0
  return factor


def run_torch(args, config=None):
  """The config's step in a plain PyTorch loop on torch_resnets' nets (see the module
  docstring); the nets come from --spec (the parent's model_spec), else are rebuilt.
  config: default load_config of --models[0]; device, precision and torch.compile as
  torch_mode reads them from args (default: CPU, float32, eager)."""
  import torch
  from benchmarks import torch_mode
  torch.set_num_threads(num_cores())
  torch.manual_seed(0)
  config = config or load_config(args.models[0], args)
  unsupported(config)
  if getattr(args, 'spec', ''):
    spec = json.loads(args.spec)
  else:
    from ganjax.experiment import Experiment
    spec = model_spec(Experiment(config, devices=_cpu_devices()))
  dev = torch_mode.device(args)
  G, D = torch_mode.prepare(torch_models(spec), args, dev)
  (h, w, c), classes, latent = spec['image_shape'], spec['num_classes'], spec['latent']
  batch, d_steps, n = config.batch_size, config.d_steps, DATA_BATCHES * config.batch_size

  def adam(net, o, per_step):
    opt = torch.optim.Adam(net.parameters(), lr=o.learning_rate, betas=(o.b1, o.b2))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(o, per_step))
  (opt_g, sched_g), (opt_d, sched_d) = adam(G, config.optimizer.g, 1), adam(
      D, config.optimizer.d, d_steps)
  images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, device=dev)
  labels = torch.randint(0, max(classes, 1), (n,), device=dev)
  d_loss, g_loss, penalty = dcgan.torch_objective(config)
  decay = float(config.get('ema_decay', 0.0))
  ema = [p.detach().clone() for p in G.parameters()] if decay else None
  g_bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
  fake_labels = lambda b: torch.randint(0, classes, (b,), device=dev) if classes else None

  def trainable(net, on):   # StudioGAN's misc.toggle_grad
    for p in net.parameters():
      p.requires_grad_(on)

  def update(opt, sched, loss):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()

  def step():
    trainable(G, False)
    trainable(D, True)
    for bn in g_bns:   # StudioGAN's misc.untrack_bn_statistics: batch statistics only
      bn.track_running_stats = False
    for _ in range(d_steps):
      idx = torch.randint(0, n, (batch,), device=dev)
      real = images[idx].float() / 127.5 - 1.0
      y_real, y_fake = (labels[idx], fake_labels(batch)) if classes else (None, None)
      fake = G(torch.randn(batch, latent, device=dev), y_fake)   # no graph: G's params are frozen
      y = torch.cat([y_real, y_fake]) if classes else None
      out = D(torch.cat([real, fake]), y)
      update(opt_d, sched_d, d_loss(out[:batch], out[batch:]) +
             penalty(lambda x: D(x, y_real), real, fake))
    trainable(G, True)
    trainable(D, False)
    for bn in g_bns:
      bn.track_running_stats = True
    y_fake = fake_labels(batch)
    update(opt_g, sched_g, g_loss(D(G(torch.randn(batch, latent, device=dev), y_fake), y_fake)))
    if ema:
      with torch.no_grad():
        torch._foreach_lerp_(ema, list(G.parameters()), 1.0 - decay)

  first, timed = torch_mode.timed(args, step, dev)
  from benchmarks.torch_resnets import count_params
  return {'steps_per_sec': timed['steps'] / timed['secs'], 'steps': timed['steps'],
          'warmup_s': first, 'threads': torch.get_num_threads(),
          'g_params': count_params(G), 'd_params': count_params(D), 'device': str(dev)}


def _cpu_devices():
  """JAX's CPU device: the spec is shapes only, and a GPU process of torch's keeps
  JAX off the accelerator (JAX would take most of its memory)."""
  import jax
  return jax.devices('cpu')[:1]


def main():
  """Checks each model's parameter counts, runs its contenders in their own subprocesses,
  prints (and saves) the table."""
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default='cifar10_sngan,cifar10_biggan',
                 help=f'comma-separated names of {list(MODELS)}')
  p.add_argument('--steps', type=int, default=10, help='timed steps (ganjax: whole chunks)')
  p.add_argument('--seconds', type=float, default=120,
                 help='stop timing a contender after this long (at least one step)')
  p.add_argument('--warmup', type=int, default=1, help='untimed steps first (compiles)')
  p.add_argument('--batch', type=int, default=0, help='batch_size of every config (0: own)')
  p.add_argument('--steps_per_dispatch', type=int, default=0, help='S of every config (0: own)')
  p.add_argument('--conv_impl', default='', help='config.conv_impl for ganjax (empty: own)')
  p.add_argument('--rounds', type=int, default=1,
                 help="run each model's contenders this many times, in turn (the machine's "
                 "speed drifts); rows show each contender's best run")
  p.add_argument('--ceiling_reps', type=int, default=10, help='matmuls for the ceiling')
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--cpu_convs', choices=('eigen', 'ynn'), default='eigen',
                 help="XLA:CPU's convolutions: eigen (what experiments/ sets) or ynn (XLA's "
                 'default)')
  p.add_argument('--only', choices=CONTENDERS, help='run one contender (internal)')
  p.add_argument('--spec', default='', help=argparse.SUPPRESS)
  p.add_argument('--result', help=argparse.SUPPRESS)
  args = p.parse_args()
  args.models = args.models.split(',')
  if set(args.models) - set(MODELS):
    p.error(f'unknown --models {sorted(set(args.models) - set(MODELS))}; use {list(MODELS)}')
  if args.only:
    return child(args, globals())
  passed = [f'--{a}={getattr(args, a)}' for a in (
      'steps', 'seconds', 'warmup', 'batch', 'steps_per_dispatch', 'conv_impl', 'cpu_convs',
      'ceiling_reps')]
  command = shlex.join(['python', '-m', 'benchmarks.resnet', *sys.argv[1:]])
  versions = {m: importlib.metadata.version(m) for m in ('jax', 'jaxlib', 'flax', 'optax', 'torch')}
  print(f'command: {command}\n' + ', '.join(f'{m} {v}' for m, v in versions.items())
        + f'; {num_cores()} cores; up to {args.steps} timed steps or {args.seconds:g} s after '
        f'{args.warmup} warmup', flush=True)
  specs = {model: check_params(model, args) for model in args.models}   # exits on a mismatch
  run = lambda name, model, *extra: spawn('benchmarks.resnet', name,
                                          passed + [f'--models={model}', *extra])
  peak = (ceil := run('ceiling', args.models[0]))['gflops']
  print(f'jax backend {ceil["backend"]}; f32 matmul ceiling (jitted 2048^2, best of '
        f'{args.ceiling_reps}): {peak:.1f} GFLOP/s', flush=True)
  head = (f'{"":34s}{"batch":>6s}{"n_dis":>6s}{"steps/s":>9s}{"images/s":>10s}{"GFLOP/s":>9s}'
          f'{"%peak":>7s}{"RSS MiB":>9s}{"G params":>12s}{"D params":>12s}{"row/ganjax":>12s}')
  print(head + '\n' + '-' * len(head), flush=True)
  raw, table, notes, rounds = {}, [], [], {}
  for model in args.models:
    config = load_config(model, args)
    runs = {'ganjax': [], 'torch': []}
    for _ in range(args.rounds):
      runs['ganjax'].append(run('ganjax', model))
      runs['torch'].append(run('torch', model, f'--spec={json.dumps(specs[model])}'))
    rounds[model] = {c: [r['steps_per_sec'] for r in done] for c, done in runs.items()}
    raw[model] = {c: max(done, key=lambda r: r['steps_per_sec']) for c, done in runs.items()}
    gj, tc = raw[model]['ganjax'], raw[model]['torch']
    for label, key in ((f'{model} ganjax (S={gj["steps_per_dispatch"]})', 'ganjax'),
                       (f'{model} torch', 'torch')):
      r, every = raw[model][key], rounds[model][key]
      sps, b = r['steps_per_sec'], gj['batch']
      row = {'name': label, 'batch': b, 'd_steps': config.d_steps, 'steps_per_sec': sps,
             'images_per_sec': sps * b, 'gflops': sps * gj['flops_per_step'] / 1e9,
             'peak_rss_mib': r['peak_rss_mib'], 'g_params': r['g_params'],
             'd_params': r['d_params'], 'over_ganjax': sps / gj['steps_per_sec']}
      row['pct_ceiling'] = 100 * row['gflops'] / peak
      table.append(row)
      spread = f'  (runs {min(every):.3g}-{max(every):.3g})' if len(every) > 1 else ''
      print(f'{label:34s}{b:6d}{config.d_steps:6d}{sps:9.3g}{sps * b:10.3g}'
            f'{row["gflops"]:9.1f}{row["pct_ceiling"]:6.1f}%{r["peak_rss_mib"]:9.0f}'
            f'{r["g_params"]:12,d}{r["d_params"]:12,d}{row["over_ganjax"]:11.2f}x{spread}',
            flush=True)
    same = all(gj[k] == tc[k] for k in ('g_params', 'd_params'))
    notes.append(f'{model}: {gj["flops_per_step"] / 1e9:.2f} GFLOP/step (XLA); first ganjax '
                 f'call {gj["first_call_s"]:.1f} s; torch warmup {tc["warmup_s"]:.1f} s; '
                 f'params G {gj["g_params"]:,} / {tc["g_params"]:,}, D {gj["d_params"]:,} / '
                 f'{tc["d_params"]:,} (ganjax / torch): ' + ('match' if same else 'MISMATCH'))
    if not same:   # check_params saw the same nets: this would be a bug here
      sys.exit('\n'.join(notes))
  print('\n'.join(notes) + "\nimages/s = batch x steps/s; GFLOP/s = steps/s x XLA's FLOPs per "
        "ganjax step; RSS = peak of each contender's own process")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'versions': versions, 'cores': num_cores(),
                 'ceiling_gflops': peak, 'rows': table, 'notes': notes, 'raw': raw,
                 'specs': specs, 'steps_per_sec_by_round': rounds}, f, indent=2)


if __name__ == '__main__':
  main()
