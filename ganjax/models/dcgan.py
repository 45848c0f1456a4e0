"""DCGANs: seed 004 (28x28; conditional too: cbn G, projection / AC-GAN D), Radford et al.
(32/64), seed 003 (up to 256)."""

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.conv import Conv, ConvTranspose
from ganjax.models import layers
from ganjax.models.cond_layers import ConditionalBatchNorm, ProjectionOutput, check_conditioning
from ganjax.models.layers import (Activation, batch_norm, keras_kernel_init, normal_init,
                                  precision, spectral, to_compute, to_float32)
from ganjax.models.stylegan2_layers import minibatch_std

KERAS_BN = dict(momentum=0.99, epsilon=1e-3)   # Keras BatchNormalization defaults
TORCH_BN = dict(momentum=0.9, epsilon=1e-5)    # PyTorch BatchNorm2d defaults


def flatten(x):
  """[B, ...] -> [B, prod(...)]."""
  return x.reshape((x.shape[0], -1))


class DCGAN28Generator(nn.Module):
  """Seed 004 (the TF DCGAN tutorial): z [B, latent] -> [B, 28, 28, C] via 7x7x256.

  With num_classes > 0 (conditioning 'cbn'), every BatchNorm takes per-class gains and
  biases (SNGAN's categorical conditional BN); the unconditional model is unchanged.
  dense_norm: the projected 7x7xf0 map's BatchNorm is per unit (the seed's, after its
  Dense: statistics and class tables for each of the 7*7*f0 units) or per channel (over
  B x 7 x 7, f0-wide class tables, as SNGAN's G: 49x smaller tables for many classes).
  """
  image_shape: Sequence[int]
  features: Sequence[int] = (256, 128, 64)
  kernel: int = 5
  negative_slope: float = 0.3  # Keras' LeakyReLU() default, as the seed uses it
  num_classes: int = 0
  conditioning: str = 'cbn'   # with num_classes > 0: cbn (the only choice)
  dense_norm: str = 'unit'    # unit | channel
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # transposed convs: auto | xla | subpixel (same params)
  dtype: Any = None         # compute dtype (None: float32); the images are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents (and int labels [B] when conditional) to images in [-1, 1]."""
    check_conditioning(self, ('cbn',), labels)
    if self.dense_norm not in ('unit', 'channel'):
      raise ValueError(f"DCGAN28Generator: unknown dense_norm {self.dense_norm!r}; use "
                       "'unit' or 'channel'")
    h, w, c = self.image_shape
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    act = lambda: Activation('leaky_relu', self.negative_slope)

    def norm(x):
      if not self.num_classes:
        return batch_norm(train, axis_name=self.axis_name, **KERAS_BN, **prec)(x)
      # [B, N] as [B, 1, 1, N]: the same per-feature statistics, and a per-class gain and
      # bias for each of the 7x7xf0 projected units
      y = x[:, None, None, :] if x.ndim == 2 else x
      return ConditionalBatchNorm(self.num_classes, momentum=KERAS_BN['momentum'],
                                  epsilon=KERAS_BN['epsilon'], axis_name=self.axis_name,
                                  **prec)(y, labels, train=train).reshape(x.shape)

    f0, f1, f2 = self.features
    x = sn(nn.Dense(h // 4 * w // 4 * f0, use_bias=False, kernel_init=keras_kernel_init,
                    **prec))(to_compute(z, self.dtype))
    if self.dense_norm == 'channel':
      x = x.reshape((z.shape[0], h // 4, w // 4, f0))
    x = act()(norm(x)).reshape((z.shape[0], h // 4, w // 4, f0))
    k = (self.kernel, self.kernel)
    for feat, stride in ((f1, 1), (f2, 2)):
      x = sn(ConvTranspose(feat, k, (stride, stride), 'SAME', use_bias=False,
                           kernel_init=keras_kernel_init, impl=self.conv_impl, **prec))(x)
      x = act()(norm(x))
    x = sn(ConvTranspose(c, k, (2, 2), 'SAME', use_bias=False, kernel_init=keras_kernel_init,
                         impl=self.conv_impl, **prec))(x)
    return Activation('tanh')(to_float32(x, self.dtype))


class DCGAN28Discriminator(nn.Module):
  """Seed 004: [B, 28, 28, C] -> logits [B, 1]; strided 5x5 convs, dropout 0.3.

  With num_classes > 0: conditioning 'projection' adds <embed(y), φ> to the logit
  (Miyato & Koyama 2018; φ the flattened features, or with projection_pool their mean
  over positions, f_last wide: 49x smaller embeddings for many classes), 'acgan' appends
  num_classes class logits [B, 1 + num_classes]; class_head appends them to the projection
  logit too (a projection D with AC-GAN's classifier on φ). minibatch_std > 0 appends
  StyleGAN's minibatch-stddev map (groups of that many samples) to the last feature map
  before φ. The unconditional model is unchanged.
  """
  features: Sequence[int] = (64, 128)
  kernel: int = 5
  negative_slope: float = 0.3
  dropout: float = 0.3
  num_classes: int = 0
  conditioning: str = 'projection'   # with num_classes > 0: projection | acgan
  class_head: bool = False           # projection with AC-GAN's class logits as well
  projection_pool: bool = False
  minibatch_std: int = 0             # group size of a minibatch-stddev map (0: none)
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # strided convs' input gradient: auto | xla | subpixel
  dtype: Any = None         # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @property
  def couples_batch(self):
    """Whether a sample's logit depends on the others in its call (reals and fakes then
    go through D in calls of their own)."""
    return self.minibatch_std > 0

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (and int labels [B] when conditional); dropout is active in train."""
    check_conditioning(self, ('projection', 'acgan'), labels)
    if self.class_head and not self.num_classes:
      raise ValueError('DCGAN28Discriminator: class_head needs classes to predict; set '
                       'model.conditional with labels or data.clusters, or drop class_head')
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    x = strided_stack(to_compute(x, self.dtype), self.features,
                      [self.kernel] * len(self.features), self.negative_slope, self.dropout,
                      train, self.conv_impl, sn, prec)
    if self.minibatch_std:
      x = minibatch_std(x, self.minibatch_std)
    phi = flatten(x)
    if self.num_classes and self.conditioning == 'projection':
      pooled = jnp.mean(x, axis=(1, 2)) if self.projection_pool else None
      out = ProjectionOutput(self.num_classes, self.spectral_norm, keras_kernel_init,
                             name='head', **prec)(phi, labels, train=train,
                                                  class_features=pooled)
    else:
      out = sn(nn.Dense(1, kernel_init=keras_kernel_init, **prec))(phi)
    if self.num_classes and (self.conditioning == 'acgan' or self.class_head):
      classes = sn(nn.Dense(self.num_classes, use_bias=False, kernel_init=keras_kernel_init,
                            name='classifier', **prec))(phi)
      out = jnp.concatenate([out, classes], axis=-1)
    return to_float32(out, self.dtype)


class RadfordGenerator(nn.Module):
  """Radford et al. (seed 001): project z to 4x4, 4x4 stride-2 fractionally strided convs
  with BN and ReLU, tanh out; [B, latent] -> [B, S, S, C] for S = 32, 64, ..."""
  image_shape: Sequence[int]
  base_features: int = 64     # ngf: the last hidden layer's width
  init_std: float = 0.02
  num_classes: int = 0
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # transposed convs: auto | xla | subpixel (same params)
  dtype: Any = None         # compute dtype (None: float32); the images are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents to images in [-1, 1]."""
    del labels
    size, _, c = self.image_shape
    ups = int(math.log2(size // 4))
    feat = self.base_features * 2 ** (ups - 1)
    init = normal_init(self.init_std)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    bn = lambda: batch_norm(train, axis_name=self.axis_name, **TORCH_BN, **prec)
    x = sn(nn.Dense(4 * 4 * feat, use_bias=False, kernel_init=init, **prec))(
        to_compute(z, self.dtype))
    x = Activation('relu')(bn()(x.reshape((z.shape[0], 4, 4, feat))))
    for _ in range(ups - 1):
      feat //= 2
      x = sn(ConvTranspose(feat, (4, 4), (2, 2), 'SAME', use_bias=False, kernel_init=init,
                           impl=self.conv_impl, **prec))(x)
      x = Activation('relu')(bn()(x))
    x = sn(ConvTranspose(c, (4, 4), (2, 2), 'SAME', use_bias=False, kernel_init=init,
                         impl=self.conv_impl, **prec))(x)
    return Activation('tanh')(to_float32(x, self.dtype))


class RadfordDiscriminator(nn.Module):
  """Radford et al.: strided 4x4 convs, LeakyReLU 0.2, BN after the first (batch_norm:
  critics for gradient penalties and SN GANs drop it), no pooling; [B, S, S, C] ->
  logits [B, 1] from a final 4x4 valid conv."""
  base_features: int = 64
  negative_slope: float = 0.2
  init_std: float = 0.02
  batch_norm: bool = True
  num_classes: int = 0
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # strided convs' input gradient: auto | xla | subpixel
  dtype: Any = None         # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (BN uses batch statistics in training)."""
    del labels
    init = normal_init(self.init_std)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    feat, first = self.base_features, True
    x = to_compute(x, self.dtype)
    while x.shape[1] > 4:
      x = sn(Conv(feat, (4, 4), (2, 2), 'SAME', use_bias=False, kernel_init=init,
                  impl=self.conv_impl, **prec))(x)
      if not first and self.batch_norm:
        x = batch_norm(train, axis_name=self.axis_name, **TORCH_BN, **prec)(x)
      x = Activation('leaky_relu', self.negative_slope)(x)
      feat, first = feat * 2, False
    x = sn(nn.Conv(1, (4, 4), (1, 1), 'VALID', use_bias=False, kernel_init=init, **prec))(x)
    return to_float32(x.reshape((x.shape[0], 1)), self.dtype)


class DCGAN256Generator(nn.Module):
  """Seed 003: Dense(S/8 * S/8 * 256) -> BN -> ReLU -> three 4x4 stride-2 ConvT (128, 64,
  32) with BN + ReLU -> Conv C 8x8 -> tanh; [B, latent] -> [B, S, S, C], S in 32..256."""
  image_shape: Sequence[int]
  features: Sequence[int] = (256, 128, 64, 32)
  num_classes: int = 0
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # transposed convs: auto | xla | subpixel (same params)
  dtype: Any = None         # compute dtype (None: float32); the images are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents to images in [-1, 1]."""
    del labels
    s, _, c = self.image_shape
    f0, *ups = self.features
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    bn = lambda: batch_norm(train, axis_name=self.axis_name, **KERAS_BN, **prec)
    x = sn(nn.Dense(s // 8 * s // 8 * f0, kernel_init=keras_kernel_init, **prec))(
        to_compute(z, self.dtype))
    x = Activation('relu')(bn()(x.reshape((z.shape[0], s // 8, s // 8, f0))))
    return seed003_head(x, ups, c, bn, self.conv_impl, sn, prec)


def seed003_head(x, ups, channels, bn, conv_impl, sn, prec):
  """Seed 003's upsampling stack, shared with its conditional G: [B,s/8,s/8,F] -> [B,s,s,C]
  (float32); sn wraps each layer (layers.spectral); prec: the layers' dtype and
  param_dtype (layers.precision)."""
  for feat in ups:
    x = sn(ConvTranspose(feat, (4, 4), (2, 2), 'SAME', kernel_init=keras_kernel_init,
                         impl=conv_impl, **prec))(x)
    x = Activation('relu')(bn()(x))
  x = sn(nn.Conv(channels, (8, 8), padding='SAME', kernel_init=keras_kernel_init, **prec))(x)
  return Activation('tanh')(to_float32(x, prec['dtype']))


class DCGAN256Discriminator(nn.Module):
  """Seed 003: three 4x4 stride-2 convs (64, 128, 256), each LeakyReLU 0.2 + Dropout 0.25,
  -> Flatten -> Dense 1; [B, S, S, C] -> logits [B, 1]."""
  features: Sequence[int] = (64, 128, 256)
  kernels: Sequence[int] = (4, 4, 4)
  negative_slope: float = 0.2
  dropout: float = 0.25
  num_classes: int = 0
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # strided convs' input gradient: auto | xla | subpixel
  dtype: Any = None         # compute dtype (None: float32); the logits are float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images; dropout is active when train is True."""
    del labels
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    prec = precision(self)
    # The Dense (and its SpectralNorm) is made before the convs: their auto names and
    # spectral norm's u / σ paths follow that order.
    return to_float32(sn(nn.Dense(1, kernel_init=keras_kernel_init, **prec))(flatten(
        strided_stack(to_compute(x, self.dtype), self.features, self.kernels,
                      self.negative_slope, self.dropout, train, self.conv_impl, sn, prec))),
                      self.dtype)


def strided_stack(x, features, kernels, negative_slope, dropout, train, conv_impl, sn, prec):
  """Seed 003's D body: stride-2 'same' convs, each LeakyReLU + Dropout; sn wraps each
  conv (layers.spectral); prec: the convs' dtype and param_dtype (layers.precision)."""
  for feat, k in zip(features, kernels):
    x = sn(Conv(feat, (k, k), (2, 2), 'SAME', kernel_init=keras_kernel_init,
                impl=conv_impl, **prec))(x)
    x = Activation('leaky_relu', negative_slope)(x)
    x = layers.Dropout(dropout, deterministic=not train)(x)
  return x


def concat_channels(*xs):
  """Concatenates NHWC maps on the channel axis."""
  return jnp.concatenate(xs, axis=-1)
