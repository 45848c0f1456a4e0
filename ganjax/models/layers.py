"""Small layers shared by the models: activations as modules, Keras-style inits, spectral
normalization, and the mixed-precision casts at a model's entry and exit."""

import functools
from typing import Any, Callable

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


def precision(module):
  """The {dtype, param_dtype} keywords of `module` (a model with those fields) for its layers.

  dtype None (Flax's default) computes in the inputs' and params' dtype, float32: the
  models are then the same programs as before mixed precision. A compute dtype such as
  bfloat16 casts each layer's inputs and (float32) params to it; params, BatchNorm's
  statistics and spectral norm's u and σ stay float32 (param_dtype)."""
  return {'dtype': module.dtype, 'param_dtype': module.param_dtype}


def to_compute(x, dtype):
  """A model's input in its compute dtype (unchanged when dtype is None)."""
  return x if dtype is None else jnp.asarray(x, dtype)


def to_float32(x, dtype):
  """A model's output (G's pre-tanh activations, D's logits) back in float32 when it
  computes in another dtype; unchanged when dtype is None. G's tanh then runs in float32:
  bfloat16 would round images near ±1 to steps of 2^-8."""
  return x if dtype is None else jnp.asarray(x, jnp.float32)


def spectral(layer, enabled, train):
  """`layer` (Dense / Conv / ConvTranspose), spectrally normalized when enabled.

  nn.SpectralNorm divides each kernel by σ from one power iteration on its u vector per
  call, in training and inference alike; u and σ live in the model's batch_stats
  collection and are stored only from calls with update_stats (train=True). The train
  step keeps D's batch_stats from D updates only, so u moves once per D update (per
  forward pass of it) and never in a G update; the layer's params keep their path.
  Mixed precision: the power iteration and σ run in float32 (SpectralNorm's own dtype
  stays None, the float32 kernel's) and u and σ are float32; a layer with a compute
  dtype casts the normalized kernel to it.
  """
  if not enabled:
    return layer
  return functools.partial(nn.SpectralNorm(layer), update_stats=train)


class Activation(nn.Module):
  """An activation as a parameter-free module, so summaries can show it per layer; the
  output keeps the input's dtype (the slope is a weakly typed Python float)."""
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
  probability round(rate * 2^16) / 2^16, within 8e-6 of `rate`. The output keeps x's
  dtype (1 / (1 - rate) is a weakly typed Python float; in bfloat16 it is rounded there,
  a scale off by at most 2^-9).
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


def batch_norm(train, *, momentum, epsilon, axis_name, dtype=None, param_dtype=jnp.float32):
  """BatchNorm over the batch (and, under pmap, over `axis_name`): batch statistics when
  training, running averages otherwise. Its statistics and normalization are float32
  whatever the compute dtype (Flax's force_float32_reductions); the output is in dtype
  (None: the input's)."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                      axis_name=axis_name, dtype=dtype, param_dtype=param_dtype)


class LabelMap(nn.Module):
  """Class label [B] -> Embedding(n, embed_dim) -> Dense(H*W) -> a [B, H, W, 1] map."""
  num_classes: int
  height: int
  width: int
  embed_dim: int = 50
  spectral_norm: bool = False   # on the Dense (the embedding is a lookup, not a map of x)
  train: bool = False
  dtype: Any = None             # compute dtype (None: float32, the params')
  param_dtype: Any = jnp.float32
  kernel_init: Callable = keras_kernel_init
  embedding_init: Callable = nn.linear.default_embed_init

  @nn.compact
  def __call__(self, labels):
    """Labels int [B] -> float [B, H, W, 1] (in dtype when set)."""
    e = nn.Embed(self.num_classes, self.embed_dim, embedding_init=self.embedding_init,
                 **precision(self))(labels)
    e = spectral(nn.Dense(self.height * self.width, kernel_init=self.kernel_init,
                          **precision(self)), self.spectral_norm, self.train)(e)
    return e.reshape((labels.shape[0], self.height, self.width, 1))
