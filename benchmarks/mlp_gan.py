r"""Seed-000 MLP GAN at batch 128: the ganjax CLI loop vs plain JAX vs plain PyTorch.

python -m benchmarks.mlp_gan --steps=300

Each contender runs in its own subprocess (`--only=NAME`), so peak RSS is its own.
images/s = batch_size (128) x steps/s. GFLOP/s uses, for every row, the FLOPs per step
XLA's cost analysis reports for the plain-JAX step (all rows compute the same model).
"""

import argparse
import gzip
import importlib.metadata
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import ROOT, child, num_cores, run_ceiling, spawn

DATA_DIR = os.path.normpath(os.path.join(ROOT, '../shared/data/mnist'))
BATCH, LATENT, PIXELS, SLOPE, DROP, REAL_LABEL = 128, 100, 784, 0.2, 0.3, 0.9
CONTENDERS = ('ceiling', 'ganjax', 'jax', 'torch')


def load_mnist():
  """MNIST t10k images as float32 [N, 784] in [-1, 1], read from the IDX file."""
  with gzip.open(os.path.join(DATA_DIR, 't10k-images-idx3-ubyte.gz'), 'rb') as f:
    raw = f.read()
  x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, PIXELS)
  return x.astype(np.float32) / 127.5 - 1.0


def run_ganjax(args):
  """The real CLI (`python -m experiments.train`) in a child process, timed from its logs.

  steps/s is the in-loop rate ganjax itself logs (metrics.jsonl `steps_per_sec`, every
  log_every = warmup steps) over the steps after the warm-up interval, which holds the
  compile; the whole command's wall time is reported too.
  """
  workdir = tempfile.mkdtemp(prefix='ganjax_bench_')
  cmd = [sys.executable, '-m', 'experiments.train', '--config=configs/mnist_mlp.py',
         f'--workdir={workdir}', f'--config.data.dir={DATA_DIR}', '--config.data.split=test',
         f'--config.num_steps={args.warmup + args.steps}', f'--config.log_every={args.warmup}']
  t = time.perf_counter()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  wall = time.perf_counter() - t
  if proc.returncode:
    sys.exit(f'ganjax CLI failed:\n{proc.stderr[-4000:]}')
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  shutil.rmtree(workdir)
  done = secs = 0.0
  for prev, row in zip(rows, rows[1:]):
    if 'steps_per_sec' in row and prev['step'] >= args.warmup:
      done += row['step'] - prev['step']
      secs += (row['step'] - prev['step']) / row['steps_per_sec']
  rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
  return {'steps_per_sec': done / secs, 'in_loop_steps': done, 'wall_s': wall,
          'steps_per_sec_wall': (args.warmup + args.steps) / wall, 'child_rss_mib': rss}


def run_jax(args):
  """Hand-written Flax + optax step, one jitted dispatch per step, host-sampled batches."""
  import jax
  import jax.numpy as jnp
  import flax.linen as nn
  import optax

  class Generator(nn.Module):
    @nn.compact
    def __call__(self, z):
      for width in (256, 512, 1024):
        z = nn.leaky_relu(nn.Dense(width)(z), SLOPE)
      return jnp.tanh(nn.Dense(PIXELS)(z))

  class Discriminator(nn.Module):
    @nn.compact
    def __call__(self, x):
      for width in (1024, 512, 256):
        x = nn.Dropout(DROP, deterministic=False)(nn.leaky_relu(nn.Dense(width)(x), SLOPE))
      return nn.Dense(1)(x)

  gen, disc = Generator(), Discriminator()
  g_tx = d_tx = optax.adam(2e-4, b1=0.5)
  kg, kd, key = jax.random.split(jax.random.key(0), 3)
  g_params = gen.init(kg, jnp.zeros((1, LATENT)))
  d_params = disc.init(kd, jnp.zeros((1, PIXELS)))
  state = (g_params, d_params, g_tx.init(g_params), d_tx.init(d_params), key)
  bce = optax.sigmoid_binary_cross_entropy
  labels = jnp.concatenate([jnp.full((BATCH, 1), REAL_LABEL), jnp.zeros((BATCH, 1))])

  def train_step(state, real, z_d, z_g):
    g_params, d_params, g_opt, d_opt, key = state
    key, k_d, k_g = jax.random.split(key, 3)
    x = jnp.concatenate([real, gen.apply(g_params, z_d)])  # no grad flows to G here
    def d_loss_fn(p):
      return bce(disc.apply(p, x, rngs={'dropout': k_d}), labels).mean()
    d_loss, grads = jax.value_and_grad(d_loss_fn)(d_params)
    updates, d_opt = d_tx.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
    def g_loss_fn(p):
      logits = disc.apply(d_params, gen.apply(p, z_g), rngs={'dropout': k_g})
      return bce(logits, jnp.ones_like(logits)).mean()
    g_loss, grads = jax.value_and_grad(g_loss_fn)(g_params)
    updates, g_opt = g_tx.update(grads, g_opt, g_params)
    g_params = optax.apply_updates(g_params, updates)
    return (g_params, d_params, g_opt, d_opt, key), (d_loss, g_loss)

  step = jax.jit(train_step, donate_argnums=0)
  images = load_mnist()

  def batch():
    idx = np.random.randint(0, len(images), BATCH)
    z = np.random.normal(size=(2, BATCH, LATENT)).astype(np.float32)
    return jax.device_put((images[idx], z[0], z[1]))

  for _ in range(args.warmup):
    state, losses = step(state, *batch())
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(args.steps):
    state, losses = step(state, *batch())
  jax.block_until_ready((state, losses))
  secs = time.perf_counter() - t
  cost = step.lower(state, *batch()).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return {'steps_per_sec': args.steps / secs, 'flops_per_step': float(cost['flops'])}


def run_torch(args):
  """The same model and step in plain PyTorch (fake.detach() D update, then G update)."""
  import torch
  from torch import nn
  torch.set_num_threads(num_cores())
  torch.manual_seed(0)

  def block(a, b, *tail):
    return [nn.Linear(a, b), nn.LeakyReLU(SLOPE), *tail]

  G = nn.Sequential(*block(LATENT, 256), *block(256, 512), *block(512, 1024),
                    nn.Linear(1024, PIXELS), nn.Tanh())
  D = nn.Sequential(*block(PIXELS, 1024, nn.Dropout(DROP)), *block(1024, 512, nn.Dropout(DROP)),
                    *block(512, 256, nn.Dropout(DROP)), nn.Linear(256, 1))
  opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  images = torch.from_numpy(load_mnist())
  y_d = torch.cat([torch.full((BATCH, 1), REAL_LABEL), torch.zeros(BATCH, 1)])
  y_g = torch.ones(BATCH, 1)

  def step():
    real = images[torch.randint(0, len(images), (BATCH,))]
    fake = G(torch.randn(BATCH, LATENT))
    opt_d.zero_grad()
    d_loss = bce(D(torch.cat([real, fake.detach()])), y_d)
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = bce(D(G(torch.randn(BATCH, LATENT))), y_g)
    g_loss.backward()
    opt_g.step()

  for _ in range(args.warmup):
    step()
  t = time.perf_counter()
  for _ in range(args.steps):
    step()
  return {'steps_per_sec': args.steps / (time.perf_counter() - t), 'threads': num_cores()}


def main():
  """Runs every contender in its own subprocess and prints (and saves) the table."""
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--steps', type=int, default=300, help='timed steps')
  p.add_argument('--warmup', type=int, default=30, help='untimed steps first (compiles)')
  p.add_argument('--ceiling_reps', type=int, default=10, help='matmuls for the ceiling')
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--only', choices=CONTENDERS, help='run one contender (internal)')
  p.add_argument('--result', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.only:
    return child(args, globals())
  passed = [f'--steps={args.steps}', f'--warmup={args.warmup}',
            f'--ceiling_reps={args.ceiling_reps}']
  command = shlex.join(['python', '-m', 'benchmarks.mlp_gan', *sys.argv[1:]])
  print('command:', command)
  versions = {m: importlib.metadata.version(m) for m in ('jax', 'jaxlib', 'flax', 'optax', 'torch')}
  print(', '.join(f'{m} {v}' for m, v in versions.items()) + f'; {num_cores()} cores; batch {BATCH}, {args.steps} timed steps after '
        f'{args.warmup} warmup')
  res = {name: spawn('benchmarks.mlp_gan', name, passed) for name in CONTENDERS}
  ceiling, flops = res['ceiling']['gflops'], res['jax']['flops_per_step']
  print(f'jax backend {res["ceiling"]["backend"]}; f32 matmul ceiling (jitted 2048^2, best of '
        f'{args.ceiling_reps}): {ceiling:.1f} GFLOP/s; '
        f'{flops / 1e9:.3f} GFLOP per step (XLA cost analysis of the plain-JAX step)')
  g = res['ganjax']
  g['peak_rss_mib'] = g['child_rss_mib']
  rows = [('ganjax CLI (in-loop, logged)', g['steps_per_sec'], g),
          ('  same, whole command (wall)', g['steps_per_sec_wall'], g),
          ('plain JAX, 1 dispatch/step', res['jax']['steps_per_sec'], res['jax']),
          ('plain PyTorch', res['torch']['steps_per_sec'], res['torch'])]
  base = res['jax']['steps_per_sec']
  head = (f'{"":38s}{"steps/s":>9s}{"images/s":>10s}{"GFLOP/s":>9s}{"%peak":>7s}'
          f'{"RSS MiB":>9s}{"vs JAX":>8s}')
  print(head + '\n' + '-' * len(head))
  table = []
  for label, sps, r in rows:
    gf = sps * flops / 1e9
    print(f'{label:38s}{sps:9.1f}{sps * BATCH:10.0f}{gf:9.1f}{100 * gf / ceiling:6.1f}%'
          f'{r["peak_rss_mib"]:9.0f}{sps / base:7.2f}x')
    table.append({'name': label.strip(), 'steps_per_sec': sps, 'images_per_sec': sps * BATCH,
                  'gflops': gf, 'pct_ceiling': 100 * gf / ceiling,
                  'peak_rss_mib': r['peak_rss_mib'], 'vs_jax': sps / base})
  print(f'ganjax CLI: {g["wall_s"]:.2f} s for the whole command ({args.warmup + args.steps} '
        'steps, with start-up, data loading, compile, samples and checkpoints)')
  print('images/s = 128 x steps/s; GFLOP/s = steps/s x the plain-JAX FLOPs per step; '
        'RSS = peak of each contender\'s own process')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'versions': versions, 'cores': num_cores(), 'ceiling_gflops': ceiling, 'flops_per_step': flops,
                 'rows': table, 'raw': res}, f, indent=2)


if __name__ == '__main__':
  main()
