"""Small layers shared by the models: activations as modules, Keras-style inits, spectral
normalization."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# Keras' Dense/Conv default; Flax's own default (lecun_normal) would change training.
keras_kernel_init = nn.initializers.glorot_uniform()


def normal_init(stddev):
  """N(0, stddev) kernel initializer (the DCGAN / seed 000 first-layer init); 0: Keras'
  default (glorot uniform)."""
  return nn.initializers.normal(stddev) if stddev else keras_kernel_init


def spectral(layer, enabled, train):
  """`layer` (Dense / Conv / ConvTranspose), spectrally normalized when enabled.

  nn.SpectralNorm divides each kernel by σ from one power iteration on its u vector per
  call, in training and inference alike; u and σ live in the model's batch_stats
  collection and are stored only from calls with update_stats (train=True). The train
  step keeps D's batch_stats from D updates only, so u moves once per D update (per
  forward pass of it) and never in a G update; the layer's params keep their path.
  """
  if not enabled:
    return layer
  return functools.partial(nn.SpectralNorm(layer), update_stats=train)


class Activation(nn.Module):
  """An activation as a parameter-free module, so summaries can show it per layer."""
  kind: str
  negative_slope: float = 0.2

  def __call__(self, x):
    """Applies the activation elementwise; [...] -> [...]."""
    if self.kind == 'leaky_relu':
      return nn.leaky_relu(x, self.negative_slope)
    if self.kind == 'relu':
      return nn.relu(x)
    if self.kind == 'tanh':
      return jax.numpy.tanh(x)
    if self.kind == 'sigmoid':
      return nn.sigmoid(x)
    raise ValueError(f'unknown activation {self.kind!r}')

  def describe(self):
    """The short name a summary table shows, e.g. LeakyReLU_0.2."""
    names = {'leaky_relu': f'LeakyReLU_{self.negative_slope:g}', 'relu': 'ReLU',
             'tanh': 'Tanh', 'sigmoid': 'Sigmoid'}
    return names[self.kind]


class Dropout(nn.Module):
  """Inverted dropout with two 16-bit uniforms per 32-bit random word.

  nn.Dropout draws a threefry word per element, which costs XLA:CPU ~10 ns each (about
  40 ms of a seed 004 DCGAN step); this draws half as many. An element is dropped with
  probability round(rate * 2^16) / 2^16, within 8e-6 of `rate`.
  """
  rate: float
  deterministic: bool = False

  @nn.compact
  def __call__(self, x):
    """Zeroes each element with probability `rate`, scales the rest by 1/(1-rate); [...]."""
    if self.deterministic or self.rate == 0.0:
      return x
    if self.rate >= 1.0:
      return jnp.zeros_like(x)
    key = self.make_rng('dropout')
    if x.shape and x.shape[-1] % 2 == 0:
      words = jax.random.bits(key, (*x.shape[:-1], x.shape[-1] // 2), jnp.uint32)
      uniform16 = lax.bitcast_convert_type(words, jnp.uint16).reshape(x.shape)
    else:   # an odd last axis: the high half of one word per element
      uniform16 = (jax.random.bits(key, x.shape, jnp.uint32) >> 16).astype(jnp.uint16)
    keep = uniform16 >= jnp.uint16(round(self.rate * 65536))
    return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))


def batch_norm(train, *, momentum, epsilon, axis_name):
  """BatchNorm over the batch (and, under pmap, over `axis_name`): batch statistics when
  training, running averages otherwise."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                      axis_name=axis_name)


class LabelMap(nn.Module):
  """Class label [B] -> Embedding(n, embed_dim) -> Dense(H*W) -> a [B, H, W, 1] map."""
  num_classes: int
  height: int
  width: int
  embed_dim: int = 50
  spectral_norm: bool = False   # on the Dense (the embedding is a lookup, not a map of x)
  train: bool = False

  @nn.compact
  def __call__(self, labels):
    """Labels int [B] -> float [B, H, W, 1]."""
    e = nn.Embed(self.num_classes, self.embed_dim)(labels)
    e = spectral(nn.Dense(self.height * self.width, kernel_init=keras_kernel_init),
                 self.spectral_norm, self.train)(e)
    return e.reshape((labels.shape[0], self.height, self.width, 1))
