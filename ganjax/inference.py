"""Trained networks, loaded from their workdirs for use: G (EMA or raw), the evaluator's
classifier and the denoising autoencoder. generate, evaluate and latent all start here."""

import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ganjax import input_pipeline, run_config, sampling, state as state_lib, supervised
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment
from ganjax.parallel import to_host


def _restore(workdir, abstract, what, step=None):
  """(state, step) of the newest checkpoint that reads back (or `step`), else an error."""
  ckpt = Checkpointer(workdir, read_only=True)
  try:
    if not os.path.isdir(ckpt.directory) or not ckpt.steps():
      raise GanjaxError(f'no checkpoint in {ckpt.directory}; train the {what} first (or wait '
                        'for the first checkpoint_every steps)')
    restored, at = ckpt.restore(abstract, step=step, set_aside=False)
    if restored is None:
      raise GanjaxError(f'no checkpoint in {ckpt.directory} reads back; retrain the {what} '
                        'or restore the directory from a backup')
    return restored, at
  finally:
    ckpt.close()


def _load_config(workdir, what, task):
  if not os.path.isdir(workdir):
    raise GanjaxError(f'{workdir} does not exist; train the {what} first with '
                      'python -m experiments.train --workdir=...')
  config = run_config.load(workdir)
  if config.get('task', 'gan') != task:
    raise GanjaxError(f'{workdir} holds a {config.get("task", "gan")} run, not a {what}')
  return config


def truncated_latents(seed, num, latent_dim, truncation=None):
  """Latents [num, latent_dim] for `seed`: N(0, 1), or truncated to [-psi, psi] (resampled)."""
  if truncation is None:
    return sampling.fixed_latents(seed, num, latent_dim)
  if not truncation > 0:
    raise GanjaxError(f'--truncation must be > 0, got {truncation}')
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5A)
  return jax.random.truncated_normal(key, -truncation, truncation, (num, latent_dim))


class Generator:
  """A trained G: `images(z, labels)` -> uint8 [N,H,W,C], with its config and classes."""

  def __init__(self, workdir, *, step=None, raw=False, conv_impl=None):
    self.workdir = workdir
    self.config = _load_config(workdir, 'GAN', 'gan')
    if conv_impl:
      self.config.conv_impl = conv_impl
    exp = Experiment(self.config, devices=jax.local_devices()[:1])
    state, self.step = _restore(workdir, exp.abstract_state(), 'GAN', step)
    self.uses_ema = not raw and bool(jax.tree.leaves(state.g_ema_params))
    self.params = to_host(state_lib.generator_params(state, raw))
    self.batch_stats = to_host(state.g_batch_stats)
    self.num_classes, self.image_shape = exp.label_classes, tuple(exp.image_shape)
    self.clusters_per_class = exp.clusters_per_class
    # labels are k-means cluster ids (data.clusters), not the dataset's classes
    self.pseudo_labels = bool(exp.clusters)
    # what those ids are called in outputs: 'labels' only ever means classes
    self.label_key = 'clusters' if self.pseudo_labels else 'labels'
    self.latent_dim = self.config.model.latent_dim
    self.class_names = run_config.load_classes(workdir) or [str(i) for i in
                                                            range(self.num_classes)]
    self._generate = sampling.make_generate_fn(exp.generator.clone(axis_name=None))

  def images(self, z, labels=None):
    """uint8 [N,H,W,C] for latents z [N, latent_dim] (and int labels [N])."""
    z = jnp.asarray(z)
    return sampling.generate_images(self._generate, self.params, self.batch_stats, z,
                                    sampling.condition_ids(labels, z, self.clusters_per_class))


class Classifier:
  """The evaluator's classifier: `__call__(images uint8)` -> (logits [N,K], embedding [N,F])."""

  def __init__(self, workdir, batch=500):
    self.workdir, self.batch = workdir, batch
    self.config = _load_config(workdir, 'classifier (configs/mnist_classifier.py)',
                               'classifier')
    self.class_names = run_config.load_classes(workdir)
    info = input_pipeline.describe(self.config.data)
    self.image_shape = tuple(info.image_shape)
    model = supervised.build_model(self.config, info.image_shape, info.num_classes)
    tx_state = supervised.init_state(self.config, model, supervised.make_optimizer(self.config), info.image_shape)
    restored, self.step = _restore(workdir, tx_state, 'classifier')
    self.params = to_host(restored.params)
    self._apply = jax.jit(lambda p, x: model.apply({'params': p}, x))

  def __call__(self, images):
    """(logits, embedding) as float64 numpy for uint8 images [N,H,W,C]."""
    if tuple(images.shape[1:]) != self.image_shape:
      raise GanjaxError(f'the classifier in {self.workdir} takes {self.image_shape} images, '
                        f'got {tuple(images.shape[1:])}: use a classifier of this dataset')
    logits, feats = [], []
    for i in range(0, len(images), self.batch):
      x = jnp.asarray(images[i:i + self.batch], jnp.float32) / 127.5 - 1.0
      out = self._apply(self.params, x)
      logits.append(np.asarray(out[0], np.float64))
      feats.append(np.asarray(out[1], np.float64))
    return np.concatenate(logits), np.concatenate(feats)


class Denoiser:
  """A trained DAE: `__call__(images uint8)` -> denoised uint8 images of the same shape."""

  def __init__(self, workdir, batch=500):
    self.workdir, self.batch = workdir, batch
    self.config = _load_config(workdir, 'denoising autoencoder (configs/mnist_dae.py)', 'dae')
    info = input_pipeline.describe(self.config.data)
    self.image_shape = tuple(info.image_shape)
    model = supervised.build_model(self.config, info.image_shape, info.num_classes)
    restored, self.step = _restore(
        workdir, supervised.init_state(self.config, model, supervised.make_optimizer(self.config), info.image_shape), 'DAE')
    self.params = to_host(restored.params)
    self._apply = jax.jit(lambda p, x: jax.nn.sigmoid(model.apply({'params': p}, x)))

  def __call__(self, images):
    """uint8 [N,H,W,C] -> uint8 [N,H,W,C]: the DAE's reconstruction in 0..255."""
    if tuple(images.shape[1:]) != self.image_shape:
      raise GanjaxError(f'the DAE in {self.workdir} takes {self.image_shape} images, got '
                        f'{tuple(images.shape[1:])}: train one on this dataset')
    out = []
    for i in range(0, len(images), self.batch):
      x = jnp.asarray(images[i:i + self.batch], jnp.float32) / 255.0
      out.append(np.clip(np.rint(np.asarray(self._apply(self.params, x)) * 255), 0, 255))
    return np.concatenate(out).astype(np.uint8)


def load_denoiser(workdir: Optional[str]):
  """A Denoiser, or None for an empty path."""
  return Denoiser(workdir) if workdir else None
