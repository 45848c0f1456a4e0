"""Generating images from a trained G and laying them out as PNG grids."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image


def fixed_latents(seed, num, latent_dim):
  """The latents [num, latent_dim] that generate/grids use for a given seed."""
  return jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), 0x5A), (num, latent_dim))


def mixed_labels(seed, num, num_classes):
  """Balanced labels int32 [num] in a seeded order: how a data.clusters model is sampled
  as the unconditional G it stands in for."""
  balanced = np.arange(num) % num_classes
  return np.random.default_rng([seed, 0x1ABE]).permutation(balanced).astype(np.int32)


def condition_ids(labels, z, per_class):
  """G's condition ids int32 [N] for class labels [N] and latents z [N, latent]: the labels
  if per_class is 0 (or labels None), else label * per_class + the cluster the latent
  picks, floor(per_class * Phi(z[:, 0])): uniform over the class's clusters for normal z."""
  if labels is None or not per_class:
    return labels
  u = np.asarray(jax.scipy.special.ndtr(jnp.asarray(z)[:, 0]), np.float64)
  pick = np.minimum((u * per_class).astype(np.int32), per_class - 1)
  return (np.asarray(labels, np.int32) * per_class + pick).astype(np.int32)


def make_generate_fn(generator):
  """Returns jitted fn(g_params, g_batch_stats, z [N,latent], labels [N]|None) -> [N,H,W,C].

  G runs in inference mode: BatchNorm uses its running averages.
  """
  @jax.jit
  def generate(g_params, g_batch_stats, z, labels=None):
    return generator.apply({'params': g_params, 'batch_stats': g_batch_stats}, z, labels,
                           train=False)
  return generate


def to_uint8(images):
  """[-1, 1] float images [N,H,W,C] -> uint8 [N,H,W,C] in 0..255."""
  images = (np.asarray(images, np.float32) + 1.0) * 127.5
  return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def class_rows(side, num_classes):
  """Labels int32 [side * side] of a class-per-row grid: row r is class r % num_classes."""
  return np.repeat(np.arange(side) % num_classes, side).astype(np.int32)


def grid_scale(side, height):
  """The nearest-upscale factor of a side x side grid of height-px cells (about 256 px
  across, at least 1)."""
  return max(1, math.ceil(256 / (side * height)))


def grid(images, rows=None, pad=2):
  """uint8 [N,H,W,C] -> one uint8 image [rows*(H+pad)+pad, cols*(W+pad)+pad, C]."""
  n, h, w, c = images.shape
  rows = rows or int(np.ceil(np.sqrt(n)))
  cols = int(np.ceil(n / rows))
  out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = images[i]
  return out


def save_png(image, path, scale=1):
  """Writes a uint8 [H,W,C] image (C = 1 or 3) as PNG, nearest-upscaled by `scale`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  if scale > 1:
    pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
  pil.save(path)


def generate_images(generate_fn, g_params, g_batch_stats, z, labels=None, chunk=500):
  """Runs G over latents in chunks; returns uint8 [N,H,W,C]."""
  outs = []
  for i in range(0, z.shape[0], chunk):
    lab = None if labels is None else jnp.asarray(labels[i:i + chunk])
    outs.append(to_uint8(generate_fn(g_params, g_batch_stats, z[i:i + chunk], lab)))
  return np.concatenate(outs)
