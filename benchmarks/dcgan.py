r"""The DCGAN configs (seeds 004, 001, 003; seed 004's conditional GAN, mnist_cgan) and the
modern objectives on cifar10's DCGAN (WGAN-GP: a gradient of a gradient; hinge + spectral
norm): ganjax's training chunk vs plain PyTorch (and TF for seed 004's unconditional DCGAN).
mnist_cgan's label planes (Embedding(10, 50) -> Dense) join G's 7x7 map and D's input.

python -m benchmarks.dcgan --steps=20 --ops --json=runs/bench_dcgan.json

Each contender runs in its own subprocess (`--only=NAME`, one model), so peak RSS is its
own. Data are random uint8 images of each config's shape (and int labels for a conditional
model; fakes get random labels): no dataset files are needed.
images/s = batch x steps/s. GFLOP/s uses, for both rows of a model, the FLOPs per step
XLA's cost analysis reports for ganjax's train step (one step, jitted alone). The run exits
1 if the two sides' G or D parameter counts differ: they must be the same nets. --ops times
each conv / transposed conv layer alone at the shapes the G update runs it (batch = B).
--rounds=N runs the contenders in turn N times and keeps each one's best run: on a shared
machine whose speed drifts by 20% within minutes, one run each can flip a ratio.
"""

import argparse
import importlib
import importlib.metadata
import json
import math
import shlex
import sys
import time
import timeit

import numpy as np

from benchmarks.harness import (child, num_cores, run_ceiling, spawn, step_flops,  # noqa: F401
                                timed_steps)  # run_ceiling: --only=ceiling


# --models name -> (config module, data.image_size to set; 0: the config's own).
MODELS = {'mnist_dcgan': ('mnist_dcgan', 0), 'cifar10_dcgan': ('cifar10_dcgan', 0),
          'folder_dcgan64': ('folder_dcgan64', 64), 'folder_dcgan256': ('folder_dcgan', 256),
          'cifar10_wgan_gp': ('cifar10_wgan_gp', 0), 'cifar10_hinge_sn': ('cifar10_hinge_sn', 0),
          'mnist_cgan': ('mnist_cgan', 0)}
CONTENDERS = ('ceiling', 'ganjax', 'torch', 'tf', 'ops')
DATA_BATCHES = 4   # random images resident: 4 x batch
OP_COLS = ('jax_fwd_ms', 'jax_grad_ms', 'jax_scan_grad_ms', 'ganjax_fwd_ms', 'ganjax_grad_ms',
           'torch_fwd_ms', 'torch_grad_ms')


def load_config(name, args, models=None):
  """The named config with the benchmark's --batch / --steps_per_dispatch / --conv_impl;
  models: the name -> (config module, image size) table (default MODELS)."""
  module, size = (models or MODELS)[name]
  config = importlib.import_module(f'configs.{module}').get_config()
  config.data.image_size = size or config.data.image_size
  config.batch_size = args.batch or config.batch_size
  config.steps_per_dispatch = args.steps_per_dispatch or config.steps_per_dispatch
  if args.conv_impl:   # ganjax's transposed-conv formulation, where the config has one
    config.conv_impl = args.conv_impl
  return config


def run_ganjax(args, config=None, flops=step_flops):
  """exp.par.compile_chunk(train_step) fed as the training loop feeds it (resident data;
  random labels beside the images for a conditional model). config: the benchmark's config
  (default: load_config of --models[0]); flops(exp): FLOPs per step. args.chunks_per_sync
  (default 1): at most this many chunks dispatched between waits while timing (as many as
  fill about a second, from one more timed warm-up chunk); args.host_fed (default
  False): each chunk's batches gathered on the host and sent, as a streaming source's."""
  import jax
  from ganjax import input_pipeline
  from ganjax.experiment import Experiment
  config = config or load_config(args.models[0], args)
  exp, batch = Experiment(config), config.batch_size
  k, s, b, n = exp.batches_per_step, config.steps_per_dispatch, exp.real_batch, DATA_BATCHES * batch
  rng = np.random.default_rng(0)
  arrays = {'images': rng.integers(0, 256, (n, *exp.image_shape), dtype=np.uint8)}
  if exp.num_classes:
    arrays['labels'] = rng.integers(0, exp.num_classes, n).astype(np.int32)
  fns, done, resident = exp.step_fns(), 0, not getattr(args, 'host_fed', False)
  chunk = exp.par.compile_chunk(fns.train_step, resident=resident,
                                unroll=config.get("unroll_steps", False))
  state = exp.par.to_mode(exp.init_state())
  abstract = exp.abstract_state()
  data = exp.par.put_data(arrays) if resident else None
  sampler = input_pipeline.IndexSampler(config.seed, n, b, k)
  feed = lambda idx: idx if resident else {name: a[idx] for name, a in arrays.items()}

  def run(chunks):
    nonlocal state, done
    for _ in range(chunks):
      steps = exp.par.shard_steps(feed(sampler.indices(done, s)))
      state, metrics = chunk(state, data, steps)
      done += s
    jax.block_until_ready((state, metrics))

  t = time.perf_counter()
  run(max(1, -(-args.warmup // s)))   # the first call compiles
  first, per = time.perf_counter() - t, max(1, getattr(args, 'chunks_per_sync', 1))
  if per > 1:   # a big model's chunk takes seconds: then one chunk a wait is enough
    t = time.perf_counter()
    run(1)
    per = min(per, max(1, round(1.0 / (time.perf_counter() - t))))
  timed = timed_steps(args, lambda: run(per), s * per)
  count = lambda params: sum(math.prod(x.shape) for x in jax.tree.leaves(params))
  return {'steps_per_sec': timed['steps'] / timed['secs'], 'steps': timed['steps'],
          'steps_per_dispatch': s, 'chunks_per_sync': per,
          'first_call_s': first, 'flops_per_step': flops(exp), 'batch': batch,
          'real_batch': b, 'conv_impl': config.get('conv_impl', 'flax'),
          'g_params': count(abstract.g_params), 'd_params': count(abstract.d_params)}


def tconv_pad(k, s):
  """torch (padding, output_padding) for a 'SAME' transposed conv: out = in x s."""
  p = -(-(k - s) // 2)
  return p, 2 * p - (k - s)


def conv_pad(k, s, padding):
  """torch padding for a Flax 'SAME' / 'VALID' conv (even inputs when strided)."""
  return 0 if padding == 'VALID' else 'same' if s == 1 else (k - 1) // 2


def label_plane(num_classes, embed_dim, side):
  """ganjax's LabelMap in torch: labels [B] -> Embedding -> Linear side^2 -> [B, 1, side, side]."""
  from torch import nn
  return nn.Sequential(nn.Embedding(num_classes, embed_dim), nn.Linear(embed_dim, side * side),
                       nn.Unflatten(1, (1, side, side)))


def joined(head, plane, body):
  """A torch module (x, labels) -> body([head(x); plane(labels)] on channels)."""
  import torch
  from torch import nn

  class Joined(nn.Module):
    def __init__(self):
      super().__init__()
      self.head, self.plane, self.body = head, plane, body

    def forward(self, x, labels):
      return self.body(torch.cat([self.head(x), self.plane(labels)], 1))
  return Joined()


def torch_models(config, image_shape, num_classes=0):
  """(G, D) in torch with the layers, widths and parameter counts of config.model; a
  conditional model's (num_classes > 0) are G(z, labels) and D(x, labels)."""
  from torch import nn
  m, (size, _, c), latent = config.model, image_shape, config.model.latent_dim
  if num_classes and m.name != 'cgan28':
    raise ValueError(f'no conditional torch version of model.name={m.name!r}')
  gm, dm = m.generator, m.discriminator

  def up(cin, cout, k, s, bias=True):
    p, op = tconv_pad(k, s)
    return nn.ConvTranspose2d(cin, cout, k, s, padding=p, output_padding=op, bias=bias)

  def strided_d(kernels):   # seeds 003 / 004: stride-2 convs, LeakyReLU, Dropout; Dense 1
    d, cin, h = [], c, size
    for feat, k in zip(dm.features, kernels):
      d += [nn.Conv2d(cin, feat, k, 2, conv_pad(k, 2, 'SAME')), nn.LeakyReLU(dm.negative_slope),
            nn.Dropout(dm.dropout)]
      cin, h = feat, -(-h // 2)
    return d + [nn.Flatten(), nn.Linear(cin * h * h, 1)]

  keras_bn = lambda n, bn=nn.BatchNorm2d: bn(n, eps=1e-3, momentum=0.01)
  to_map = lambda f, h: nn.Unflatten(1, (f, h, h))
  if m.name == 'dcgan28':
    (f0, f1, f2), k, act = gm.features, gm.kernel, lambda: nn.LeakyReLU(gm.negative_slope)
    g = [nn.Linear(latent, (size // 4) ** 2 * f0, bias=False),
         keras_bn((size // 4) ** 2 * f0, nn.BatchNorm1d), act(), to_map(f0, size // 4),
         up(f0, f1, k, 1, False), keras_bn(f1), act(), up(f1, f2, k, 2, False), keras_bn(f2),
         act(), up(f2, c, k, 2, False), nn.Tanh()]
    d = strided_d([dm.kernel] * len(dm.features))
  elif m.name == 'radford':
    ups = int(math.log2(size // 4))
    feat = gm.base_features * 2 ** (ups - 1)
    g = [nn.Linear(latent, 16 * feat, bias=False), to_map(feat, 4), nn.BatchNorm2d(feat), nn.ReLU()]
    for _ in range(ups - 1):
      g += [up(feat, feat // 2, 4, 2, False), nn.BatchNorm2d(feat // 2), nn.ReLU()]
      feat //= 2
    g += [up(feat, c, 4, 2, False), nn.Tanh()]
    d, cin, feat, h = [], c, dm.base_features, size
    while h > 4:   # BN after every strided conv but the first (unless batch_norm=False)
      bn = bool(d) and dm.get('batch_norm', True)
      d += [nn.Conv2d(cin, feat, 4, 2, 1, bias=False)] + [nn.BatchNorm2d(feat)] * bn
      d += [nn.LeakyReLU(dm.negative_slope)]
      cin, feat, h = feat, feat * 2, h // 2
    d += [nn.Conv2d(cin, 1, 4, 1, 0, bias=False), nn.Flatten()]
  elif m.name == 'dcgan256':
    f0, *widths = gm.features
    g = [nn.Linear(latent, (size // 8) ** 2 * f0), to_map(f0, size // 8), keras_bn(f0), nn.ReLU()]
    for cin, feat in zip(gm.features, widths):
      g += [up(cin, feat, 4, 2), keras_bn(feat), nn.ReLU()]
    g += [nn.Conv2d(widths[-1], c, 8, padding='same'), nn.Tanh()]
    d = strided_d(dm.kernels)
  elif m.name == 'cgan28':
    if not num_classes:
      raise ValueError('model.name=cgan28 is conditional: torch_models needs num_classes')
    f, h, lrelu = gm.features, size // 4, lambda: nn.LeakyReLU(gm.negative_slope)
    g = joined(nn.Sequential(nn.Linear(latent, f * h * h), lrelu(), to_map(f, h)),
               label_plane(num_classes, gm.embed_dim, h),
               nn.Sequential(up(f + 1, f, 4, 2), lrelu(), up(f, f, 4, 2), lrelu(),
                             nn.Conv2d(f, c, 7, padding='same'), nn.Tanh()))
    f, lrelu, pad = dm.features, lambda: nn.LeakyReLU(dm.negative_slope), conv_pad(3, 2, 'SAME')
    d = joined(nn.Identity(), label_plane(num_classes, dm.embed_dim, size),
               nn.Sequential(nn.Conv2d(c + 1, f, 3, 2, pad), lrelu(), nn.Conv2d(f, f, 3, 2, pad),
                             lrelu(), nn.Flatten(), nn.Dropout(dm.dropout),
                             nn.Linear(f * h * h, 1)))
  else:
    raise ValueError(f'no torch version of model.name={m.name!r}')
  nets = tuple(n if isinstance(n, nn.Module) else nn.Sequential(*n) for n in (g, d))
  for net, cfg in zip(nets, (gm, dm)):   # torch's SN: a power iteration per training forward
    if cfg.get('spectral_norm', False):
      for layer in list(net.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
          nn.utils.parametrizations.spectral_norm(layer)
  return nets


def torch_objective(config):
  """(d_loss(r, f), g_loss(f), penalty(D, real, fake)) in torch for config.loss / reg."""
  import torch
  import torch.nn.functional as F
  name, reg, label = config.loss.get('name', 'bce'), config.reg, config.loss.real_label
  if name == 'bce':
    bce = F.binary_cross_entropy_with_logits
    d_loss = lambda r, f: 0.5 * (bce(r, torch.full_like(r, label)) + bce(f, torch.zeros_like(f)))
    g_loss = lambda f: bce(f, torch.ones_like(f))
  elif name == 'hinge':
    d_loss, g_loss = lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()
  elif name == 'wasserstein':
    d_loss, g_loss = lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()
  else:
    raise ValueError(f'no torch version of loss.name={name!r}')

  def penalty(D, real, fake):
    total = 0.0
    if reg.gp:   # WGAN-GP on interpolates: a gradient of a gradient
      eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
      x = (eps * real + (1 - eps) * fake).requires_grad_(True)
      grad, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
      total = total + reg.gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    if reg.r1:
      x = real.detach().requires_grad_(True)
      grad, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
      total = total + 0.5 * reg.r1 * grad.flatten(1).pow(2).sum(1).mean()
    return total
  return d_loss, g_loss, penalty


def run_torch(args, config=None):
  """The same models in a plain PyTorch loop: k D updates on [real; fake.detach()] (or
  seed 003's real-half then fake-half updates), then a G update; or, for
  updates='simultaneous', seed 004's step (both gradients from one forward pass). The
  config's loss, gradient penalty / R1 and spectral norm (torch's parametrization). A
  conditional model's reals come with their resident labels, its fakes with random ones.
  config: default load_config of --models[0]; device, precision and torch.compile as
  torch_mode reads them from args (default: CPU, float32, eager)."""
  import torch
  from benchmarks import torch_mode
  from ganjax import input_pipeline
  torch.set_num_threads(num_cores())
  torch.manual_seed(0)
  config = config or load_config(args.models[0], args)
  info = input_pipeline.describe(config.data)
  (h, w, c), classes = info.image_shape, info.num_classes * bool(config.model.get('conditional'))
  dev = torch_mode.device(args)
  G, D = torch_mode.prepare(torch_models(config, (h, w, c), classes), args, dev)
  adam = lambda net, o: torch.optim.Adam(net.parameters(), lr=o.learning_rate, betas=(o.b1, o.b2))
  opt_g, opt_d = adam(G, config.optimizer.g), adam(D, config.optimizer.d)
  batch, latent, separate = config.batch_size, config.model.latent_dim, config.d_batch == 'separate'
  rb, n, bce = batch // 2 if separate else batch, DATA_BATCHES * batch, torch.nn.BCEWithLogitsLoss()
  images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, device=dev)
  labels = torch.randint(0, max(classes, 1), (n,), device=dev)
  gen = lambda z, cls: G(z) if cls is None else G(z, cls)
  disc = lambda x, cls: D(x) if cls is None else D(x, cls)
  y_real = torch.full((rb, 1), config.loss.real_label, device=dev)
  y_fake, y_g = torch.zeros(rb, 1, device=dev), torch.ones(batch, 1, device=dev)
  d_loss, g_loss, penalty = torch_objective(config)

  def update(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()

  def reals(b):
    """b real images in [-1, 1] and their labels (None unless conditional)."""
    idx = torch.randint(0, n, (b,), device=dev)
    return images[idx].float() / 127.5 - 1.0, labels[idx] if classes else None

  def fakes(b):
    """b fakes of G (with a graph to G's params) and the random labels they were made for."""
    cls = torch.randint(0, classes, (b,), device=dev) if classes else None
    return gen(torch.randn(b, latent, device=dev), cls), cls

  def simultaneous_step():
    (real, cls_r), (fake, cls_f) = reals(rb), fakes(rb)
    r, f = disc(real, cls_r), disc(fake, cls_f)
    d_loss, g_loss = bce(r, y_real) + bce(f, y_fake), bce(f, y_g)
    g_grads = torch.autograd.grad(g_loss, list(G.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(d_loss, list(D.parameters()))
    for net, grads in ((G, g_grads), (D, d_grads)):
      for p, g in zip(net.parameters(), grads):
        p.grad = g
    opt_g.step()
    opt_d.step()

  def step():
    if config.get('updates', 'alternating') == 'simultaneous':
      return simultaneous_step()
    for _ in range(config.d_steps):
      (real, cls_r), (fake, cls_f) = reals(rb), fakes(rb)
      if separate:
        update(opt_d, bce(disc(real, cls_r), y_real))
        update(opt_d, bce(disc(fake.detach(), cls_f), y_fake))
      else:
        both = None if cls_r is None else torch.cat([cls_r, cls_f])
        out = disc(torch.cat([real, fake.detach()]), both)
        critic = lambda x, cls=cls_r: disc(x, cls)   # ganjax's penalties score reals' labels
        update(opt_d, d_loss(out[:rb], out[rb:]) + penalty(critic, real, fake.detach()))
    update(opt_g, g_loss(disc(*fakes(batch))))

  first, timed = torch_mode.timed(args, step, dev)
  count = lambda net: sum(p.numel() for p in net.parameters() if p.requires_grad)
  return {'steps_per_sec': timed['steps'] / timed['secs'], 'steps': timed['steps'],
          'warmup_s': first, 'threads': torch.get_num_threads(), 'g_params': count(G),
          'd_params': count(D), 'device': str(dev)}


def run_tf(args):
  """Seed 004's own TF/Keras code (its Listings 1-7) in a tf.function: mnist_dcgan only
  (other models, mnist_cgan among them, return {'skipped': why})."""
  config = load_config(args.models[0], args)
  if config.model.name != 'dcgan28' or config.model.get('conditional'):
    return {'skipped': f'no TF version of {args.models[0]} (model.name={config.model.name!r})'}
  import os   # after the check: importing TF alone takes seconds and hundreds of MiB
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import tensorflow as tf
  from tensorflow.keras import layers
  tf.random.set_seed(0)
  batch, latent, (size, _, c) = config.batch_size, config.model.latent_dim, (28, 28, 1)
  G = tf.keras.Sequential([
      layers.Input((latent,)), layers.Dense(7 * 7 * 256, use_bias=False),
      layers.BatchNormalization(), layers.LeakyReLU(), layers.Reshape((7, 7, 256)),
      layers.Conv2DTranspose(128, 5, strides=1, padding='same', use_bias=False),
      layers.BatchNormalization(), layers.LeakyReLU(),
      layers.Conv2DTranspose(64, 5, strides=2, padding='same', use_bias=False),
      layers.BatchNormalization(), layers.LeakyReLU(),
      layers.Conv2DTranspose(1, 5, strides=2, padding='same', use_bias=False,
                             activation='tanh')])
  D = tf.keras.Sequential([
      layers.Input((size, size, c)), layers.Conv2D(64, 5, strides=2, padding='same'),
      layers.LeakyReLU(), layers.Dropout(0.3),
      layers.Conv2D(128, 5, strides=2, padding='same'), layers.LeakyReLU(),
      layers.Dropout(0.3), layers.Flatten(), layers.Dense(1)])
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  opt_g, opt_d = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)
  n = DATA_BATCHES * batch
  images = tf.constant(np.random.default_rng(0).integers(0, 256, (n, size, size, c), np.uint8))

  @tf.function
  def step():
    real = tf.cast(tf.gather(images, tf.random.uniform([batch], 0, n, tf.int32)),
                   tf.float32) / 127.5 - 1.0
    noise = tf.random.normal([batch, latent])
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      fake = G(noise, training=True)
      r, f = D(real, training=True), D(fake, training=True)
      g_loss = bce(tf.ones_like(f), f)
      d_loss = bce(tf.ones_like(r), r) + bce(tf.zeros_like(f), f)
    opt_g.apply_gradients(zip(g_tape.gradient(g_loss, G.trainable_variables),
                              G.trainable_variables))
    opt_d.apply_gradients(zip(d_tape.gradient(d_loss, D.trainable_variables),
                              D.trainable_variables))
    return g_loss

  for _ in range(max(1, args.warmup)):
    step().numpy()
  timed = timed_steps(args, lambda: step().numpy())
  count = lambda net: int(sum(np.prod(v.shape) for v in net.trainable_variables))
  return {'steps_per_sec': timed['steps'] / timed['secs'], 'steps': timed['steps'],
          'g_params': count(G), 'd_params': count(D), 'tensorflow': tf.__version__}


def conv_layers(exp):
  """Every conv / transposed conv call of G and D at the config's batch, with its shapes
  (any module with kernel_size and strides: flax's or ganjax's own ConvTranspose)."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  found, b = [], exp.config.batch_size

  def spy(next_fun, a, kw, ctx):
    out, mod = next_fun(*a, **kw), ctx.module
    if ctx.method_name == '__call__' and hasattr(mod, 'kernel_size') and hasattr(mod, 'strides'):
      s = mod.strides if isinstance(mod.strides, int) else (mod.strides or (1,))[0]
      op = 'ConvTranspose' if 'Transpose' in type(mod).__name__ else 'Conv'
      found.append({'layer': net + '/' + '/'.join(mod.path), 'op': op,
                    'kernel': mod.kernel_size[0], 'stride': s, 'padding': mod.padding,
                    'shape_in': a[0].shape, 'shape_out': out.shape})
    return out

  labels = jnp.zeros(b, jnp.int32) if exp.num_classes else None
  with nn.intercept_methods(spy):
    for net, module, x in (('G', exp.generator, (b, exp.config.model.latent_dim)),
                           ('D', exp.discriminator, (b, *exp.image_shape))):
      jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(x), labels, train=False))
  return found


def median_ms(fn, reps):
  """Median wall ms of fn() over reps calls, after one untimed call."""
  fn()
  return 1e3 * float(np.median(timeit.repeat(fn, number=1, repeat=reps)))


def run_ops(args):
  """Forward and forward+grad (w.r.t. input and kernel) ms of each conv layer: lax (also
  inside a length-1 lax.scan, as the chunk runs it: the 'before'), ganjax's own
  formulation at the config's conv_impl (the 'after'), and torch.nn.functional."""
  import jax
  import torch
  import torch.nn.functional as F
  from jax import lax
  from ganjax.experiment import Experiment
  from ganjax.models import conv
  torch.set_num_threads(num_cores())
  dn, rng, rows = ('NHWC', 'HWIO', 'NHWC'), np.random.default_rng(0), []
  config = load_config(args.models[0], args)
  impl = config.get('conv_impl', 'auto')
  for r in conv_layers(Experiment(config)):
    k, s, pad = r['kernel'], r['stride'], r['padding']
    cin, cout = r['shape_in'][-1], r['shape_out'][-1]
    if r['op'] == 'ConvTranspose':
      f = lambda x, w: lax.conv_transpose(x, w, (s, s), pad, dimension_numbers=dn)
      layer = conv.ConvTranspose(cout, (k, k), (s, s), pad, use_bias=False, impl=impl)
      mine = lambda x, w: layer.apply({'params': {'kernel': w}}, x)   # the models' own layer
      p, op = tconv_pad(k, s)
      tf = lambda x, w: F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
      axes, pixels = (2, 3, 0, 1), math.prod(r['shape_in'][:3])    # torch [in, out, k, k]
    else:
      f = lambda x, w: lax.conv_general_dilated(x, w, (s, s), pad, dimension_numbers=dn)
      layer = conv.Conv(cout, (k, k), (s, s), pad, use_bias=False, impl=impl)
      mine = lambda x, w: layer.apply({'params': {'kernel': w}}, x)   # the models' own layer
      tf = lambda x, w: F.conv2d(x, w, stride=s, padding=conv_pad(k, s, pad))
      axes, pixels = (3, 2, 0, 1), math.prod(r['shape_out'][:3])   # torch [out, in, k, k]
    x, g = (rng.standard_normal(r[a], np.float32) for a in ('shape_in', 'shape_out'))
    w = 0.02 * rng.standard_normal((k, k, cin, cout), np.float32)
    vjp = lambda op: lambda x, w, g: (lambda y, pull: (y, pull(g)))(*jax.vjp(op, x, w))
    fg = vjp(f)
    in_scan = lambda x, w, g: lax.scan(lambda c, _: (c, fg(x, w, g)), 0, None, length=1)[1]
    a = jax.device_put((x, w, g))
    timed = (lambda x, w, g: f(x, w), fg, in_scan, lambda x, w, g: mine(x, w), vjp(mine))
    for name, fn in zip(OP_COLS, timed):
      if fn is in_scan and not args.ops_in_scan:
        r[name] = float('nan')
        continue
      fn = jax.jit(fn)
      r[name] = median_ms(lambda: jax.block_until_ready(fn(*a)), args.op_reps)
    xt, gt = (torch.from_numpy(v).permute(0, 3, 1, 2).contiguous() for v in (x, g))
    wt = torch.from_numpy(w.transpose(axes).copy())
    assert tf(xt, wt).shape == gt.shape, (r, tf(xt, wt).shape)
    with torch.no_grad():
      r['torch_fwd_ms'] = median_ms(lambda: tf(xt, wt), args.op_reps)
    xt.requires_grad_(), wt.requires_grad_()
    r['torch_grad_ms'] = median_ms(lambda: torch.autograd.grad(tf(xt, wt), (xt, wt), gt),
                                   args.op_reps)
    r['gflop_fwd'] = 2 * pixels * k * k * cin * cout / 1e9   # nominal: no padding, no zeros
    rows.append(r)
  return {'layers': rows}


def main():
  """Runs each model's contenders in their own subprocesses; prints (and saves) the tables."""
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--models', default=','.join(MODELS), help='comma-separated names')
  p.add_argument('--steps', type=int, default=20, help='timed steps (ganjax: whole chunks)')
  p.add_argument('--seconds', type=float, default=120,
                 help='stop timing a contender after this long (at least one step)')
  p.add_argument('--warmup', type=int, default=2, help='untimed steps first (compiles)')
  p.add_argument('--batch', type=int, default=0, help='batch_size of every config (0: own)')
  p.add_argument('--steps_per_dispatch', type=int, default=0, help='S of every config (0: own)')
  p.add_argument('--conv_impl', default='', help='config.conv_impl for ganjax (empty: own)')
  p.add_argument('--ops', action='store_true', help='also time each conv layer alone')
  p.add_argument('--ops_in_scan', type=int, default=1,
                 help='0: skip the lax-in-scan column (minutes per layer at 256x256)')
  p.add_argument('--rounds', type=int, default=1,
                 help="run each model's contenders this many times, in turn (the machine's "
                 'speed drifts); rows show each contender\'s best run')
  p.add_argument('--op_reps', type=int, default=5, help='timed calls per op (median)')
  p.add_argument('--ceiling_reps', type=int, default=10, help='matmuls for the ceiling')
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--cpu_convs', choices=('eigen', 'ynn'), default='eigen',
                 help="XLA:CPU's convolutions: eigen (what experiments/ sets) or ynn (XLA's "
                 'default)')
  p.add_argument('--only', choices=CONTENDERS, help='run one contender (internal)')
  p.add_argument('--result', help=argparse.SUPPRESS)
  args = p.parse_args()
  args.models = args.models.split(',')
  if set(args.models) - set(MODELS):
    p.error(f'unknown --models {sorted(set(args.models) - set(MODELS))}; use {list(MODELS)}')
  if args.only:
    return child(args, globals())
  passed = [f'--{a}={getattr(args, a)}' for a in (
      'steps', 'seconds', 'warmup', 'batch', 'steps_per_dispatch', 'conv_impl', 'op_reps',
      'cpu_convs', 'ops_in_scan', 'ceiling_reps')]
  run = lambda name, model: spawn('benchmarks.dcgan', name, passed + [f'--models={model}'])
  command = shlex.join(['python', '-m', 'benchmarks.dcgan', *sys.argv[1:]])
  versions = {m: importlib.metadata.version(m) for m in ('jax', 'jaxlib', 'flax', 'optax', 'torch')}
  print(f'command: {command}\n' + ', '.join(f'{m} {v}' for m, v in versions.items())
        + f'; {num_cores()} cores; up to {args.steps} timed steps or {args.seconds:g} s after '
        f'{args.warmup} warmup')
  ceil = run('ceiling', args.models[0])
  peak = ceil['gflops']
  print(f'jax backend {ceil["backend"]}; f32 matmul ceiling (jitted 2048^2, best of '
        f'{args.ceiling_reps}): {peak:.1f} GFLOP/s', flush=True)
  head = (f'{"":34s}{"batch":>6s}{"steps/s":>9s}{"images/s":>10s}{"GFLOP/s":>9s}{"%peak":>7s}'
          f'{"RSS MiB":>9s}{"row/ganjax":>13s}')
  print(head + '\n' + '-' * len(head), flush=True)
  raw, table, notes, ops, rounds, mismatched = {}, [], [], {}, {}, []
  for model in args.models:
    runs = {c: [] for c in ('ganjax', 'torch', 'tf')}
    for _ in range(args.rounds):
      for c, done in runs.items():
        done.append(run(c, model))
    rounds[model] = {c: [r.get('steps_per_sec') for r in done] for c, done in runs.items()}
    raw[model] = {c: max(done, key=lambda r: r.get('steps_per_sec', 0))
                  for c, done in runs.items()}
    gj, tc, tfr = raw[model]['ganjax'], raw[model]['torch'], raw[model]['tf']
    rows = [(f'{model} ganjax (S={gj["steps_per_dispatch"]})', 'ganjax'),
            (f'{model} torch', 'torch')]
    for label, key in rows + [(f'{model} tf.function', 'tf')] * ('skipped' not in tfr):
      r, every = raw[model][key], rounds[model][key]
      sps, b = r['steps_per_sec'], gj['batch']
      row = {'name': label, 'batch': b, 'steps_per_sec': sps, 'images_per_sec': sps * b,
             'gflops': sps * gj['flops_per_step'] / 1e9, 'peak_rss_mib': r['peak_rss_mib'],
             'over_ganjax': sps / gj['steps_per_sec']}
      row['pct_ceiling'] = 100 * row['gflops'] / peak
      table.append(row)
      spread = f'  (runs {min(every):.2f}-{max(every):.2f})' if len(every) > 1 else ''
      print(f'{label:34s}{b:6d}{sps:9.2f}{sps * b:10.1f}{row["gflops"]:9.1f}'
            f'{row["pct_ceiling"]:6.1f}%{r["peak_rss_mib"]:9.0f}'
            f'{row["over_ganjax"]:12.2f}x{spread}', flush=True)
    same = all(gj[n] == tc[n] for n in ('g_params', 'd_params'))
    mismatched += [] if same else [model]
    notes.append(f'{model}: {gj["flops_per_step"] / 1e9:.2f} GFLOP/step (XLA); conv_impl '
                 f'{gj["conv_impl"]}; first ganjax call {gj["first_call_s"]:.1f} s; trainable '
                 f'params G {gj["g_params"]:,} D {gj["d_params"]:,} (ganjax), G '
                 f'{tc["g_params"]:,} D {tc["d_params"]:,} (torch): '
                 + ('match' if same else 'MISMATCH'))
  print('\n'.join(notes) + '\nimages/s = batch x steps/s; GFLOP/s = steps/s x XLA\'s FLOPs per '
        'ganjax step; RSS = peak of each contender\'s own process')
  if mismatched:   # not the same nets: the ratios mean nothing
    sys.exit(f'error: torch and ganjax parameter counts differ for {", ".join(mismatched)}')
  if args.ops:
    head = (f'{"layer":35s}{"op":>14s}{"in -> out (NHWC)":>31s}{"k/s":>6s}{"GFLOP":>7s}'
            + ''.join(f'{c:>9s}' for c in ('lax fwd', 'lax f+g', 'in scan', 'gjx fwd', 'gjx f+g',
                                             'tch fwd', 'tch f+g')))
    print(f'\nper conv layer, ms (median of {args.op_reps}); f+g = forward + grads w.r.t. input '
          'and kernel; lax = XLA\'s own op (before); in scan = lax f+g inside a length-1 '
          'lax.scan; gjx = ganjax\'s formulation at the config\'s conv_impl (after); GFLOP = '
          'nominal forward\n' + head + '\n' + '-' * len(head))
    for model in args.models:
      ops[model] = run('ops', model)['layers']
      for r in ops[model]:
        shapes = ' -> '.join('x'.join(map(str, r[a])) for a in ('shape_in', 'shape_out'))
        print(f'{model:15s} {r["layer"]:19s}{r["op"]:>14s}{shapes:>31s}{r["kernel"]:>4d}/'
              f'{r["stride"]}{r["gflop_fwd"]:7.2f}' + ''.join(f'{r[c]:9.1f}' for c in OP_COLS),
              flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'command': command, 'versions': versions, 'cores': num_cores(),
                 'ceiling_gflops': peak, 'rows': table, 'notes': notes, 'ops': ops, 'raw': raw,
                 'steps_per_sec_by_round': rounds},
                f, indent=2)


if __name__ == '__main__':
  main()
