"""Class-conditioning layers for the residual GANs: conditional batch norm (SNGAN's
per-class tables, BigGAN's linear maps) and the projection discriminator's output (the
label plane joined to D's input is layers.LabelMap)."""

from typing import Any, Callable, Optional

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.layers import spectral

glorot = nn.initializers.glorot_uniform()


def check_conditioning(module, allowed, labels):
  """ValueError for an unknown `conditioning`, or for missing labels that it needs."""
  name = type(module).__name__
  if module.conditioning not in allowed:
    raise ValueError(f'{name}: unknown conditioning {module.conditioning!r}; use one of '
                     f'{allowed}')
  if module.num_classes and labels is None and module.conditioning != 'acgan':
    raise ValueError(f'{name}: num_classes > 0 with {module.conditioning!r} needs labels')


class ConditionalBatchNorm(nn.Module):
  """BatchNorm without its own scale and bias, then x * (1 + f(cond)) + g(cond).

  num_classes > 0: cond is int labels [B] and f, g are per-class tables initialized to 0
  (SNGAN-projection's categorical CBN, whose γ table starts at 1 and β at 0).
  num_classes == 0: cond is a float vector [B, D] and f, g are bias-free Dense layers,
  spectrally normalized when spectral_norm (BigGAN; StudioGAN's ConditionalBatchNorm2d).
  Statistics: the batch's (over `axis_name` too under pmap) when training, the running
  averages otherwise, as layers.batch_norm.
  """
  num_classes: int = 0
  spectral_norm: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-4
  axis_name: Optional[str] = None
  kernel_init: Callable = nn.initializers.orthogonal()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond, *, train):
    """x [B, H, W, C], cond int [B] or float [B, D] -> [B, H, W, C]."""
    c = x.shape[-1]
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                     momentum=self.momentum, epsilon=self.epsilon, axis_name=self.axis_name,
                     name='bn', **prec)(x)
    if self.num_classes:
      table = lambda name: nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros,
                                    name=name, **prec)
      gain, bias = table('gain')(cond), table('bias')(cond)
    else:
      dense = lambda name: spectral(nn.Dense(c, use_bias=False, kernel_init=self.kernel_init,
                                             name=name, **prec), self.spectral_norm, train)
      gain, bias = dense('gain')(cond), dense('bias')(cond)
    return x * (1 + gain[:, None, None, :]) + bias[:, None, None, :]


class ProjectionOutput(nn.Module):
  """The projection discriminator's output ψ(φ) + <embed(y), φ> (Miyato & Koyama 2018).

  ψ is Dense(1); the class embedding is left out when num_classes == 0. Both are
  spectrally normalized when spectral_norm (StudioGAN's snlinear / sn_embedding).
  """
  num_classes: int = 0
  spectral_norm: bool = True
  kernel_init: Callable = glorot
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, features, labels, *, train, class_features=None):
    """features φ [B, F], labels int [B] (unused when num_classes == 0) -> [B, 1];
    class_features [B, F'] (default φ) is what the class embedding is projected on."""
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    out = sn(nn.Dense(1, kernel_init=self.kernel_init, name='psi', **prec))(features)
    if self.num_classes:
      phi = features if class_features is None else class_features
      embed = sn(nn.Embed(self.num_classes, phi.shape[-1], embedding_init=self.kernel_init,
                          name='embed', **prec))(labels)
      out = out + jnp.sum(embed * phi, axis=-1, keepdims=True)
    return out
