"""Experiment: everything a config builds (models, optimizers, parallel mode, steps)."""

import functools

import jax

from ganjax import input_pipeline, model_summary, run_config, sampling, schedules
from ganjax.errors import GanjaxError
from ganjax.models import build_models
from ganjax.objectives import augment, losses, regularizers
from ganjax.parallel import DataParallel
from ganjax.objectives.step import (StepConfig, batches_per_step, d_phases, make_step_fns,
                                    own_reg_phase, real_batch_size)
from ganjax.optimizers import make_optimizer
from ganjax.state import init_state


class Experiment:
  """Everything built from a config: data, models, optimizers, parallel mode."""

  def __init__(self, config, devices=None):
    run_config.validate(config)
    self.config = config
    self.info = input_pipeline.describe(config.data)
    self.image_shape = self.info.image_shape
    self.par = DataParallel(config.parallel, devices)
    self.real_batch = real_batch_size(config.d_batch, config.batch_size)
    # k > 0: G and D condition on k k-means clusters instead of the dataset's classes.
    self.clusters = config.data.get('clusters', 0)
    # m > 0: on m k-means clusters within each class; a class label picks one by its latent.
    self.clusters_per_class = config.data.get('clusters_per_class', 0)
    # The classes a user asks G for; 'auto': conditional when the data have classes (an
    # image folder with subfolders).
    self.label_classes = self.clusters or (
        self.info.num_classes if config.model.get('conditional') else 0)
    # What G and D are built to condition on.
    self.num_classes = self.label_classes * max(self.clusters_per_class, 1)
    self.generator, self.discriminator = build_models(
        config.model, image_shape=self.image_shape, num_classes=self.num_classes,
        axis_name=self.par.axis_name, conv_impl=config.get('conv_impl', 'auto'))
    step = self.step_config()
    mine = lambda net: [s for s in step.schedules if s.field.startswith(f'optimizer.{net}.')]
    # G's: one update per step, and its path length update every pl_every-th step.
    g_lazy = step.reg.pl_every if step.reg.pl_weight else 0
    self.g_tx = make_optimizer(config.optimizer.g, 1 + (1 / g_lazy if g_lazy else 0),
                               max(g_lazy, 1), mine('g'), config.batch_size)
    # D's optimizer updates per G step: one per D phase, a lazy phase every k-th time.
    d_updates = config.d_steps * sum(1 / p.interval for p in d_phases(step))
    lazy = step.reg.r1_every if own_reg_phase(step.reg) else 1
    self.d_tx = make_optimizer(config.optimizer.d, d_updates, lazy, mine('d'),
                               config.batch_size)

  def _init_fn(self):
    return functools.partial(init_state, self.config, self.generator, self.discriminator,
                             self.g_tx, self.d_tx, self.image_shape, self.num_classes)

  def init_state(self):
    """The step-0 state as replicated global arrays."""
    return jax.jit(self._init_fn(), out_shardings=self.par.replicated)()

  def abstract_state(self):
    """Shapes, dtypes and (replicated) shardings of the state, computing nothing."""
    shapes = jax.eval_shape(self._init_fn())
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=self.par.replicated), shapes)

  def warnings(self):
    """One-line notes on settings that run but may not do what is meant."""
    reg = self.config.get('reg', {})
    penalized = [f'reg.{k}' for k in ('gp', 'r1', 'r2') if reg.get(k, 0.0)]
    d_stats = jax.eval_shape(self._init_fn()).d_batch_stats
    if penalized and any('BatchNorm' in name for name in d_stats):
      return [f'{", ".join(penalized)} with BatchNorm in D: D does not score examples '
              'independently, so the per-example gradients the penalty takes mix the batch '
              '(the penalty papers use D without BN)']
    return []

  def step_config(self, seed_axis=None):
    """The train step's static knobs, from the config (seed_axis: vmap-ed over seeds)."""
    c = self.config
    return StepConfig(
        latent_dim=c.model.latent_dim, global_batch=c.batch_size, d_steps=c.d_steps,
        d_batch=c.d_batch, update=c.get('updates', 'alternating'),
        loss=losses.LossConfig.from_config(c.loss),
        reg=regularizers.RegConfig.from_config(c.get('reg', {}), c.loss.get('clip', 0.0)),
        aug=augment.AugmentConfig.from_config(c.get('augment', {})),
        fakes_for_d=c.get('fakes_for_d', 'train'), num_classes=self.num_classes,
        acgan=self.acgan,
        ema_decay=float(c.get('ema_decay', 0.0)), ema_kimg=float(c.get('ema_kimg', 0.0)),
        ema_rampup=float(c.get('ema_rampup', 0.0)),
        axis_name=self.par.axis_name,
        seed_axis=seed_axis, schedules=schedules.from_config(c),
        xflip=bool(c.data.get('xflip', False)), fake_labels=c.get('fake_labels', 'sampled'))

  @property
  def acgan(self):
    """Whether D has AC-GAN's classifier head (outputs [B, 1 + num_classes])."""
    d = self.discriminator
    return bool(self.num_classes) and (getattr(d, 'conditioning', '') == 'acgan' or
                                       getattr(d, 'class_head', False))

  @property
  def batches_per_step(self):
    """Real batches each step reads (k D updates, and G's own for relativistic losses)."""
    return batches_per_step(self.step_config())

  def sampler(self, num_examples):
    """The IndexSampler of this run's real batches over `num_examples` examples."""
    return input_pipeline.IndexSampler(
        self.config.seed, num_examples, self.real_batch, self.batches_per_step,
        self.config.data.get('sampling', 'epochs'))

  def step_fns(self, seed_axis=None):
    """The pure train step and its D / G halves for this config (not yet jitted); with
    seed_axis, for a vmap over seeds bound to that axis name."""
    return make_step_fns(self.step_config(seed_axis), self.generator, self.discriminator,
                         self.g_tx, self.d_tx, self.par.constrain)

  def load_dataset(self):
    """Loads the training data and checks it matches what the models were built for."""
    dataset = input_pipeline.load_dataset(self.config.data, bool(self.num_classes))
    if tuple(dataset.image_shape) != tuple(self.image_shape):
      raise GanjaxError(f'data in {self.config.data.dir or "tfds"} has images of shape '
                        f'{dataset.image_shape}, expected {tuple(self.image_shape)}')
    if self.num_classes and not self.clusters and dataset.num_classes != self.label_classes:
      raise GanjaxError(f'{self.config.data.dir} has {dataset.num_classes} classes, the '
                        f'model was built for {self.label_classes}')
    return input_pipeline.with_clusters(dataset, self.config.data)

  def condition_ids(self, labels, z):
    """What G is conditioned on for class labels int [N] and their latents z [N, latent]:
    the labels, or with clusters_per_class the cluster of each label its latent picks."""
    return sampling.condition_ids(labels, z, self.clusters_per_class)

  def device_data(self, dataset):
    """The dataset, resident on the devices."""
    data = {'images': dataset.images}
    if self.num_classes:
      data['labels'] = dataset.condition_ids
    return self.par.put_data(data)

  def summary(self):
    """The per-layer G/D table."""
    return model_summary.model_summary(self.generator, self.discriminator,
                                 latent_dim=self.config.model.latent_dim,
                                 image_shape=self.image_shape,
                                 num_classes=self.num_classes)

