"""Conditional GANs: the label, embedded and mapped to a plane, joins G's and D's inputs."""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.dcgan import (KERAS_BN, flatten, seed003_head, concat_channels,
                                 strided_stack)
from ganjax.models.conv import Conv, ConvTranspose
from ganjax.models import layers
from ganjax.models.layers import (Activation, LabelMap, batch_norm, keras_kernel_init,
                                  precision, spectral, to_compute, to_float32)


def _need_classes(module):
  if module.num_classes < 1:
    raise ValueError(f'{type(module).__name__} is conditional: set model.conditional=True')


class CGAN28Generator(nn.Module):
  """Seeds 004/003 for MNIST: z [B, latent], labels [B] -> [B, 28, 28, C].

  label -> Embedding(n, 50) -> Dense 7*7 -> 7x7x1; z -> Dense 128*7*7 -> LeakyReLU 0.2
  -> 7x7x128; concatenated -> ConvT 128 4x4 s2 -> LReLU -> ConvT 128 4x4 s2 -> LReLU ->
  Conv C 7x7 -> tanh.
  """
  image_shape: Sequence[int]
  num_classes: int = 10
  features: int = 128
  embed_dim: int = 50
  negative_slope: float = 0.2
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # transposed convs: auto | xla | subpixel (same params)
  dtype: Any = None         # compute dtype (None: float32); the images are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels, *, train):
    """Maps latents and class labels to images in [-1, 1]."""
    _need_classes(self)
    h, w, c = self.image_shape
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    lab = LabelMap(self.num_classes, h // 4, w // 4, self.embed_dim, self.spectral_norm,
                   train, **prec)(labels)
    x = sn(nn.Dense(self.features * h // 4 * w // 4, kernel_init=keras_kernel_init, **prec))(
        to_compute(z, self.dtype))
    x = Activation('leaky_relu', self.negative_slope)(x)
    x = concat_channels(x.reshape((z.shape[0], h // 4, w // 4, self.features)), lab)
    for _ in range(2):
      x = sn(ConvTranspose(self.features, (4, 4), (2, 2), 'SAME',
                           kernel_init=keras_kernel_init, impl=self.conv_impl, **prec))(x)
      x = Activation('leaky_relu', self.negative_slope)(x)
    x = sn(nn.Conv(c, (7, 7), padding='SAME', kernel_init=keras_kernel_init, **prec))(x)
    return Activation('tanh')(to_float32(x, self.dtype))


class CGAN28Discriminator(nn.Module):
  """Seeds 004/003 for MNIST: images [B, 28, 28, C], labels [B] -> logits [B, 1].

  label -> Embedding(n, 50) -> Dense 28*28 -> a plane joined to the image -> Conv 128 3x3
  s2 -> LReLU 0.2 -> Conv 128 3x3 s2 -> LReLU -> Flatten -> Dropout 0.4 -> Dense 1.
  """
  num_classes: int = 10
  features: int = 128
  embed_dim: int = 50
  negative_slope: float = 0.2
  dropout: float = 0.4
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # strided convs' input gradient: auto | xla | subpixel
  dtype: Any = None         # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels, *, train):
    """Scores (image, label) pairs; dropout is active when train is True."""
    _need_classes(self)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    lab = LabelMap(self.num_classes, x.shape[1], x.shape[2], self.embed_dim,
                   self.spectral_norm, train, **prec)(labels)
    x = concat_channels(to_compute(x, self.dtype), lab)
    for _ in range(2):
      x = sn(Conv(self.features, (3, 3), (2, 2), 'SAME', kernel_init=keras_kernel_init,
                  impl=self.conv_impl, **prec))(x)
      x = Activation('leaky_relu', self.negative_slope)(x)
    x = layers.Dropout(self.dropout, deterministic=not train)(flatten(x))
    return to_float32(sn(nn.Dense(1, kernel_init=keras_kernel_init, **prec))(x), self.dtype)


class CGAN256Generator(nn.Module):
  """Seed 003's conditional G (CIFAR-10, image folders), [B, latent], [B] -> [B, S, S, C].

  label -> Embedding(n, 50) -> Dense(S/8 * S/8) -> plane; z -> Dense(S/8 * S/8 * 256) ->
  LeakyReLU 0.2; concatenated (257 channels) -> ConvT 128, 64, 32 4x4 s2 with BN + ReLU
  -> Conv C 8x8 -> tanh.
  """
  image_shape: Sequence[int]
  num_classes: int = 10
  features: Sequence[int] = (256, 128, 64, 32)
  embed_dim: int = 50
  negative_slope: float = 0.2
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # transposed convs: auto | xla | subpixel (same params)
  dtype: Any = None         # compute dtype (None: float32); the images are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels, *, train):
    """Maps latents and class labels to images in [-1, 1]."""
    _need_classes(self)
    s, _, c = self.image_shape
    f0, *ups = self.features
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    lab = LabelMap(self.num_classes, s // 8, s // 8, self.embed_dim, self.spectral_norm,
                   train, **prec)(labels)
    x = sn(nn.Dense(s // 8 * s // 8 * f0, kernel_init=keras_kernel_init, **prec))(
        to_compute(z, self.dtype))
    x = Activation('leaky_relu', self.negative_slope)(x)
    x = concat_channels(x.reshape((z.shape[0], s // 8, s // 8, f0)), lab)
    bn = lambda: batch_norm(train, axis_name=self.axis_name, **KERAS_BN, **prec)
    return seed003_head(x, ups, c, bn, self.conv_impl, sn, prec)


class CGAN256Discriminator(nn.Module):
  """Seed 003's conditional D: label plane joined to the image -> Conv 64 4x4 s2 ->
  Conv 128 3x3 s2 -> Conv 256 3x3 s2 (each LReLU 0.2 + Dropout 0.25) -> Dense 1."""
  num_classes: int = 10
  features: Sequence[int] = (64, 128, 256)
  kernels: Sequence[int] = (4, 3, 3)
  embed_dim: int = 50
  negative_slope: float = 0.2
  dropout: float = 0.25
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # strided convs' input gradient: auto | xla | subpixel
  dtype: Any = None         # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels, *, train):
    """Scores (image, label) pairs; dropout is active when train is True."""
    _need_classes(self)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    lab = LabelMap(self.num_classes, x.shape[1], x.shape[2], self.embed_dim,
                   self.spectral_norm, train, **prec)(labels)
    x = strided_stack(concat_channels(to_compute(x, self.dtype), lab), self.features,
                      self.kernels, self.negative_slope, self.dropout, train,
                      self.conv_impl, sn, prec)
    return to_float32(sn(nn.Dense(1, kernel_init=keras_kernel_init, **prec))(flatten(x)),
                      self.dtype)
