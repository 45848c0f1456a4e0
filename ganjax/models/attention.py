"""SAGAN's self-attention block (Zhang et al. 2019), as BigGAN places it in G and D."""

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.layers import spectral


class SelfAttention(nn.Module):
  """x + γ·o, o = 1x1 conv (C/2 -> C) of softmax(θ(x) φ(x)ᵀ) g(x).

  θ and φ are bias-free 1x1 convs to C/8 channels, g one to C/2 (the SAGAN / BigGAN /
  StudioGAN layout); φ and g are 2x2 max-pooled when `pool`, so the keys are 4x fewer
  than the queries. γ (params gate/gamma) is a scalar starting at 0: the block starts as
  the identity. Every conv is spectrally normalized when spectral_norm (u and σ in
  batch_stats, updated only with train=True, as layers.spectral).
  """
  spectral_norm: bool = True
  pool: bool = True
  kernel_init: Callable = nn.initializers.orthogonal()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train):
    """[B, H, W, C] -> [B, H, W, C]; C >= 8, and H, W even when pool."""
    b, h, w, c = x.shape
    if c < 8:
      raise ValueError(f'SelfAttention needs at least 8 channels, got {c}')
    if self.pool and (h % 2 or w % 2):
      raise ValueError(f'SelfAttention with pool=True needs even sides, got {h}x{w}')
    conv = lambda feat, name: spectral(
        nn.Conv(feat, (1, 1), use_bias=False, kernel_init=self.kernel_init, dtype=self.dtype,
                param_dtype=self.param_dtype, name=name), self.spectral_norm, train)
    theta = conv(c // 8, 'theta')(x).reshape((b, h * w, c // 8))
    phi, g = conv(c // 8, 'phi')(x), conv(c // 2, 'g')(x)
    if self.pool:
      phi, g = (nn.max_pool(t, (2, 2), (2, 2)) for t in (phi, g))
    phi, g = phi.reshape((b, -1, c // 8)), g.reshape((b, -1, c // 2))
    logits = jnp.einsum('bqd,bkd->bqk', theta, phi)
    # A float32 softmax: in bfloat16 the row sums round visibly (8 significant bits).
    attn = nn.softmax(logits.astype(jnp.float32), axis=-1).astype(logits.dtype)
    o = jnp.einsum('bqk,bkd->bqd', attn, g).reshape((b, h, w, c // 2))
    return x + Gate(self.param_dtype, name='gate')(conv(c, 'out')(o))


class Gate(nn.Module):
  """γ·x with a scalar parameter γ starting at 0; a leaf module of its own so that
  summary tables (ganjax.model_summary) count γ."""
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    """[...] -> [...]."""
    gamma = self.param('gamma', nn.initializers.zeros, (), self.param_dtype)
    return gamma.astype(x.dtype) * x
