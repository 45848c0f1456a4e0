"""Transposed convolution without XLA:CPU's slow path, with nn.ConvTranspose's parameters.

lax.conv_transpose is a convolution of the stride-dilated input (lhs_dilation), and on
CPU XLA differentiates such convolutions about 15x slower than plain ones. The same
function is s_h * s_w stride-1 convolutions, one per output phase, each with a subset of
the kernel taps (the sub-pixel decomposition); they run as one stride-1 convolution to
s_h * s_w * C_out channels followed by depth-to-space. Its gradients are plain
convolutions too. The kernel stays (kh, kw, C_in, C_out), so checkpoints are shared.
"""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

IMPLS = ('auto', 'xla', 'subpixel')
DIMS = ('NHWC', 'HWIO', 'NHWC')


def resolve_impl(impl, platform=None):
  """'auto' -> the measured-faster formulation for the platform (subpixel on CPU)."""
  if impl not in IMPLS:
    raise ValueError(f'unknown conv_impl {impl!r}; use one of {IMPLS}')
  if impl != 'auto':
    return impl
  return 'subpixel' if (platform or jax.default_backend()) == 'cpu' else 'xla'


def transpose_padding(k, s, padding):
  """(before, after) padding lax.conv_transpose applies to the dilated input, per dim."""
  if padding == 'SAME':
    pad_len = k + s - 2
    before = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
  elif padding == 'VALID':
    pad_len = k + s - 2 + max(k - s, 0)
    before = k - 1
  else:
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
  return before, pad_len - before


def _phase_taps(n, k, s, padding):
  """Per dim: the output length, the phases' common input window [lo, lo + width), and
  taps [s, width] (kernel index per window position, -1 where a phase has no tap)."""
  before, after = transpose_padding(k, s, padding)
  out_len = (n - 1) * s + 1 + before + after - k + 1
  starts = [(before - r) % s for r in range(s)]
  offsets = [(r + t0 - before) // s for r, t0 in enumerate(starts)]
  lo = min(offsets)
  width = max(c + len(range(t0, k, s)) for c, t0 in zip(offsets, starts)) - lo
  taps = np.full((s, width), -1)
  for r, (t0, c) in enumerate(zip(starts, offsets)):
    for m, t in enumerate(range(t0, k, s)):
      taps[r, c - lo + m] = t
  return out_len, lo, width, taps


def subpixel_conv_transpose(x, kernel, strides, padding='SAME'):
  """Equals lax.conv_transpose(x, kernel, strides, padding, ('NHWC','HWIO','NHWC')).

  x [B, H, W, Cin], kernel [kh, kw, Cin, Cout] -> [B, H', W', Cout].
  """
  (kh, kw, cin, cout), (sh, sw) = kernel.shape, strides
  out_h, lo_h, wh, taps_h = _phase_taps(x.shape[1], kh, sh, padding)
  out_w, lo_w, ww, taps_w = _phase_taps(x.shape[2], kw, sw, padding)
  # Combined kernel [wh, ww, Cin, sh, sw, Cout]: tap (i, j) of phase (a, b), zero if none.
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # index -1 -> the zero row
  combined = padded[taps_h.T[:, None, :, None], taps_w.T[None, :, None, :]]  # wh,ww,sh,sw,..
  combined = combined.transpose(0, 1, 4, 2, 3, 5).reshape(wh, ww, cin, sh * sw * cout)
  qh, qw = -(-out_h // sh), -(-out_w // sw)
  pads = [(-lo_h, qh + wh - 1 - x.shape[1] + lo_h), (-lo_w, qw + ww - 1 - x.shape[2] + lo_w)]
  y = lax.conv_general_dilated(x, combined, (1, 1), pads, dimension_numbers=DIMS)
  b = x.shape[0]
  y = y.reshape(b, qh, qw, sh, sw, cout).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(b, qh * sh, qw * sw, cout)[:, :out_h, :out_w]


class ConvTranspose(nn.Module):
  """nn.ConvTranspose's parameters and function ('SAME'/'VALID'), two formulations."""
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = 'SAME'
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    """[B, H, W, Cin] -> [B, H', W', features]."""
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features))
    strides = tuple(self.strides)
    if resolve_impl(self.impl) == 'xla' or strides == (1, 1):
      y = lax.conv_transpose(x, kernel, strides, self.padding, dimension_numbers=DIMS)
    else:
      y = subpixel_conv_transpose(x, kernel, strides, self.padding)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,))
    return y
