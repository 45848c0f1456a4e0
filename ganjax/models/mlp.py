"""The MLP GANs of the tutorials: seed 000 / seed 002 (dense layers and LeakyReLU) and
seed 001's Keras-GAN (LeakyReLU then BatchNormalization(momentum=0.8) in G)."""

from typing import Any, Optional, Sequence

import math

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models import layers
from ganjax.models.layers import (Activation, keras_kernel_init, normal_init, precision,
                                  spectral, to_compute, to_float32)


def _join_label(module, x, labels):
  """[B, F] -> [B, F + embed_dim] with the label's embedding when the model is conditional."""
  if not module.num_classes:
    return x
  embed = nn.Embed(module.num_classes, module.embed_dim, **precision(module))
  return jnp.concatenate([x, embed(labels)], -1)


class MLPGenerator(nn.Module):
  """z [B, latent] -> images [B, H, W, C] in [-1, 1]."""
  image_shape: Sequence[int]
  hidden: Sequence[int] = (256, 512, 1024)
  negative_slope: float = 0.2
  first_init_std: float = 0.02     # 0: Keras' glorot uniform for the first layer too
  batch_norm: bool = False         # seed 001: BatchNormalization after each LeakyReLU
  bn_momentum: float = 0.8         # Keras' momentum (running = m * running + (1-m) * batch)
  bn_epsilon: float = 1e-3         # Keras' default
  num_classes: int = 0             # > 0: a conditional GAN, Embedding(n, embed_dim) joins z
  embed_dim: int = 50
  spectral_norm: bool = False
  axis_name: Optional[str] = None  # BatchNorm's statistics are pmean-ed over it (pmap)
  dtype: Any = None                # compute dtype (None: float32); the output is float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents (and, if conditional, labels [B]) to images."""
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    x = _join_label(self, to_compute(z, self.dtype), labels)
    for i, width in enumerate(self.hidden):
      init = normal_init(self.first_init_std) if i == 0 else keras_kernel_init
      x = sn(nn.Dense(width, kernel_init=init, **prec))(x)
      x = Activation('leaky_relu', self.negative_slope)(x)
      if self.batch_norm:
        x = layers.batch_norm(train, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                              axis_name=self.axis_name, **prec)(x)
    x = sn(nn.Dense(math.prod(self.image_shape), kernel_init=keras_kernel_init, **prec))(x)
    x = Activation('tanh')(to_float32(x, self.dtype))
    return x.reshape((z.shape[0], *self.image_shape))


class MLPDiscriminator(nn.Module):
  """images [B, H, W, C] -> logits [B, 1]."""
  hidden: Sequence[int] = (1024, 512, 256)
  negative_slope: float = 0.2
  dropout: float = 0.3
  first_init_std: float = 0.02     # 0: Keras' glorot uniform for the first layer too
  num_classes: int = 0
  embed_dim: int = 50
  spectral_norm: bool = False
  axis_name: Optional[str] = None  # unused: no BatchNorm here
  dtype: Any = None                # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (and labels, if conditional); dropout is active when train is True."""
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    x = _join_label(self, to_compute(x, self.dtype).reshape((x.shape[0], -1)), labels)
    for i, width in enumerate(self.hidden):
      init = normal_init(self.first_init_std) if i == 0 else keras_kernel_init
      x = sn(nn.Dense(width, kernel_init=init, **prec))(x)
      x = Activation('leaky_relu', self.negative_slope)(x)
      if self.dropout:
        x = layers.Dropout(self.dropout, deterministic=not train)(x)
    return to_float32(sn(nn.Dense(1, kernel_init=keras_kernel_init, **prec))(x), self.dtype)
