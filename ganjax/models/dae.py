"""Denoising autoencoders that clean G's samples (seed 002): an MLP and a small conv net."""

from typing import Sequence

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLPDenoiser(nn.Module):
  """Seed 002: flatten -> Dense `hidden` ReLU -> Dense H*W*C -> logits (sigmoid: pixels)."""
  image_shape: Sequence[int]
  hidden: int = 50

  @nn.compact
  def __call__(self, x):
    """[B,H,W,C] in [0, 1] -> pixel logits [B,H,W,C]."""
    h = nn.relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return nn.Dense(math.prod(self.image_shape))(h).reshape(x.shape)


class ConvDenoiser(nn.Module):
  """Two stride-2 convs down, two stride-2 transposed convs up, for 3-channel images."""
  image_shape: Sequence[int]
  widths: Sequence[int] = (32, 64)

  @nn.compact
  def __call__(self, x):
    """[B,H,W,C] in [0, 1] (H, W divisible by 4) -> pixel logits [B,H,W,C]."""
    for w in self.widths:
      x = nn.relu(nn.Conv(w, (3, 3), strides=2)(x))
    for w in reversed(self.widths[:-1]):
      x = nn.relu(nn.ConvTranspose(w, (3, 3), strides=(2, 2))(x))
    return nn.ConvTranspose(self.image_shape[-1], (3, 3), strides=(2, 2))(x)


def corrupt(key, images, *, gaussian_std, salt_pepper):
  """Adds N(0, std) noise and salt-and-pepper (each pixel 0 or 1 w.p. p/2); [B,...] in [0,1]."""
  k_noise, k_which, k_value = jax.random.split(key, 3)
  noisy = images + gaussian_std * jax.random.normal(k_noise, images.shape)
  hit = jax.random.uniform(k_which, images.shape) < salt_pepper
  salt = jax.random.bernoulli(k_value, 0.5, images.shape).astype(images.dtype)
  return jnp.clip(jnp.where(hit, salt, noisy), 0.0, 1.0)
