"""Transposed convolution without XLA:CPU's slow path, with nn.ConvTranspose's parameters.

lax.conv_transpose is a convolution of the stride-dilated input (lhs_dilation), and on
CPU XLA differentiates such convolutions about 15x slower than plain ones. The same
function is s_h * s_w stride-1 convolutions, one per output phase, each with a subset of
the kernel taps (the sub-pixel decomposition), computed one of three ways (`method`):
'phases', one XLA convolution per phase; 'span', one stride-1 convolution to
s_h * s_w * C_out channels over a window spanning every phase's taps, then depth-to-space;
'taps', a sum of matmuls over the taps of tight windows. The kernel stays
(kh, kw, C_in, C_out), so checkpoints are shared.

A strided convolution's input gradient is such a transposed convolution: Conv keeps
XLA's forward and kernel gradient and computes that one the same way (conv_input_grad).

Every formulation computes in its operands' dtype, forward and backward (Conv and
ConvTranspose cast input, kernel and bias to `dtype`, as nn.Conv does): the rearrangements
are exact; in bfloat16 'taps' rounds each of its kh * kw partial sums (a convolution
rounds once), 'span' and 'phases' round as XLA's convolutions do. (Summing the taps in
float32 would turn their gradients into float32 matmuls.)
"""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ganjax import xla_cpu

IMPLS = ('auto', 'xla', 'subpixel')
DIMS = ('NHWC', 'HWIO', 'NHWC')


def resolve_impl(impl, platform=None):
  """'auto' -> the measured-faster formulation for the platform (subpixel on CPU).

  A fixed rule from benchmarks/, not a timing at start-up: the formulations agree only to
  float rounding, and a timed choice that flipped between a run and its resume (the
  machine's speed drifts) would break bit-identical resume."""
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


def _phase_taps(n, k, s, pads, tight):
  """Per dim, for lax's (before, after) padding of the dilated input: the output length,
  the first input offset lo, each phase's read offset into the stride-1 conv's output
  [s], and taps [s, width] (kernel index per window position, -1 where a phase has no
  tap). Phases start at different input offsets:
  tight windows (width = the most taps of any phase) are read at each phase's offset;
  otherwise one window spans every phase's taps and all read at 0."""
  before, after = pads
  out_len = (n - 1) * s + 1 + before + after - k + 1
  starts = [(before - r) % s for r in range(s)]
  offsets = np.array([(r + t0 - before) // s for r, t0 in enumerate(starts)])
  counts = [len(range(t0, k, s)) for t0 in starts]
  lo = offsets.min()
  first = np.zeros_like(offsets) if tight else offsets - lo   # window position of tap 0
  width = max(f + c for f, c in zip(first, counts))
  taps = np.full((s, width), -1)
  for r, (t0, f, c) in enumerate(zip(starts, first, counts)):
    taps[r, f:f + c] = range(t0, k, s)
  reads = offsets - lo if tight else np.zeros_like(offsets)
  return out_len, lo, reads, taps


def _windows_differ(k, s, padding):
  """Whether tight windows are smaller than the spanning one (4x4 stride 2: 2 vs 3)."""
  pads = transpose_padding(k, s, padding)
  return _phase_taps(1, k, s, pads, True)[3].shape[1] < _phase_taps(
      1, k, s, pads, False)[3].shape[1]


def conv_by_taps(x, kernel, pads):
  """Stride-1 NHWC/HWIO convolution as a sum over kernel taps of [B*H*W, Cin] x
  [Cin, Cout] products. XLA:CPU differentiates convolutions with large spatial extent
  and many output channels slowly (a 2x2 kernel gradient: 0.36 s -> 24 s); these
  gradients are plain matmuls. x [B, H, W, Cin], kernel [kh, kw, Cin, Cout]."""
  kh, kw = kernel.shape[:2]
  x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
  oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  return sum(jnp.dot(x[:, p:p + oh, q:q + ow], kernel[p, q])
             for p in range(kh) for q in range(kw))


def formulation(kernel_size, strides, padding, features):
  """subpixel_conv_transpose's method for a layer on XLA:CPU, as measured there: to a few
  channels (an RGB image) 'span' (cifar10_dcgan's last layer f+g 36 -> 14 ms vs phases);
  else, on Eigen's convolutions (xla_cpu), 'phases' (span -> phases, f+g at batch 128:
  cifar10_dcgan 8x8x128 -> 16x16x64 53 -> 37 ms, mnist_cgan's 7x7x129 -> 14x14x128
  84 -> 42 ms, folder_dcgan64's 16x16x128 -> 32x32x64 206 -> 151 ms); on YNNPACK's,
  whose kernel gradient of a small-window convolution over a large image is slow (24 s
  at 256), 'taps' where tight windows are smaller (4x4 stride 2), else 'span'."""
  if features < 16:
    return 'span'
  if xla_cpu.eigen_convolutions():
    return 'phases'
  return 'taps' if any(_windows_differ(k, s, padding)
                       for k, s in zip(kernel_size, strides)) else 'span'


def subpixel_conv_transpose(x, kernel, strides, padding='SAME', method='span'):
  """Equals lax.conv_transpose(x, kernel, strides, padding, ('NHWC','HWIO','NHWC')).

  x [B, H, W, Cin], kernel [kh, kw, Cin, Cout] -> [B, H', W', Cout]. padding: 'SAME',
  'VALID' or lax's explicit [(before, after)] * 2 for the dilated input. method: 'span',
  'taps' or 'phases' (module docstring).
  """
  if method not in ('span', 'taps', 'phases'):
    raise ValueError(f"method must be 'span', 'taps' or 'phases', got {method!r}")
  (kh, kw, cin, cout), (sh, sw), b = kernel.shape, strides, x.shape[0]
  if isinstance(padding, str):
    padding = [transpose_padding(k, s, padding) for k, s in ((kh, sh), (kw, sw))]
  tight = method != 'span'
  out_h, lo_h, reads_h, taps_h = _phase_taps(x.shape[1], kh, sh, padding[0], tight)
  out_w, lo_w, reads_w, taps_w = _phase_taps(x.shape[2], kw, sw, padding[1], tight)
  wh, ww = taps_h.shape[1], taps_w.shape[1]
  qh, qw = -(-out_h // sh), -(-out_w // sw)
  span_h, span_w = qh + reads_h.max(), qw + reads_w.max()
  pads = [(-lo_h, span_h + wh - 1 - x.shape[1] + lo_h),
          (-lo_w, span_w + ww - 1 - x.shape[2] + lo_w)]
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # index -1 -> the zero row
  if method == 'phases':
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    phases = [[lax.conv_general_dilated(
        x[:, rh:rh + qh + wh - 1, rw:rw + qw + ww - 1], padded[th[:, None], tw[None, :]],
        (1, 1), 'VALID', dimension_numbers=DIMS) for rw, tw in zip(reads_w, taps_w)]
              for rh, th in zip(reads_h, taps_h)]
  else:
    # Combined kernel [wh, ww, Cin, sh, sw, Cout]: tap (i, j) of phase (a, b), 0 if none.
    combined = padded[taps_h.T[:, None, :, None], taps_w.T[None, :, None, :]]
    combined = combined.transpose(0, 1, 4, 2, 3, 5).reshape(wh, ww, cin, sh * sw * cout)
    if method == 'taps':
      y = conv_by_taps(x, combined, pads)
    else:
      y = lax.conv_general_dilated(x, combined, (1, 1), pads, dimension_numbers=DIMS)
    y = y.reshape(b, span_h, span_w, sh, sw, cout)
    phases = [[y[:, rh:rh + qh, rw:rw + qw, i, j] for j, rw in enumerate(reads_w)]
              for i, rh in enumerate(reads_h)]
  y = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)  # [B, qh, sh, qw, sw, C]
  return y.reshape(b, qh * sh, qw * sw, cout)[:, :out_h, :out_w]


def conv_input_grad(dy, kernel, strides, pads, in_hw, method='span'):
  """The input gradient of lax.conv_general_dilated(x, kernel, strides, pads) (NHWC/HWIO)
  at cotangent dy [B, H', W', Cout] -> [B, H, W, Cin] = in_hw, without lhs dilation."""
  tpads = []
  for (lo, _), k, s, n_in, n_out in zip(pads, kernel.shape, strides, in_hw, dy.shape[1:3]):
    before = k - 1 - lo
    tpads.append((before, n_in + k - 2 - (n_out - 1) * s - before))
  flipped = kernel[::-1, ::-1].swapaxes(2, 3)
  return subpixel_conv_transpose(dy, flipped, strides, tpads, method)


def subpixel_input_grad(strides, in_features):
  """Whether a strided conv's input gradient goes through conv_input_grad on XLA:CPU:
  measured faster wherever the input has channels to spare (cifar10_dcgan step 450 ->
  390 ms, mnist_dcgan 300 -> 290 ms, with XLA's Eigen convolutions: cli.py); a 1-3
  channel image's gradient is cheap either way."""
  return in_features >= 16 and any(s > 1 for s in strides)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def strided_conv(x, kernel, strides, pads, method='span'):
  """lax.conv_general_dilated(x, kernel, strides, pads) (NHWC/HWIO) whose input gradient
  is conv_input_grad: [B, H, W, Cin], [kh, kw, Cin, Cout] -> [B, H', W', Cout]."""
  return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=DIMS)


def _strided_conv_fwd(x, kernel, strides, pads, method):
  return strided_conv(x, kernel, strides, pads, method), (x, kernel)


def _strided_conv_bwd(strides, pads, method, residuals, dy):
  x, kernel = residuals
  conv = lambda k: lax.conv_general_dilated(x, k, strides, pads, dimension_numbers=DIMS)
  dkernel, = jax.vjp(conv, kernel)[1](dy)
  return conv_input_grad(dy, kernel, strides, pads, x.shape[1:3], method), dkernel


strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


class _ConvFields(nn.Module):
  """The fields nn.Conv and nn.ConvTranspose share, plus impl (auto | xla | subpixel)."""
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = 'SAME'
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  impl: str = 'auto'
  dtype: Any = None               # compute dtype (None: the input's and params')
  param_dtype: Any = jnp.float32

  def _params(self, x):
    """(x, kernel, bias or None) in the compute dtype; kernel [kh, kw, Cin, features]."""
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    return nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)


class Conv(_ConvFields):
  """nn.Conv's parameters and function for D's convolutions ('SAME'/'VALID'); on the
  subpixel formulation its input gradient avoids XLA's lhs-dilated convolution."""

  @nn.compact
  def __call__(self, x):
    """[B, H, W, Cin] -> [B, H', W', features]."""
    x, kernel, bias = self._params(x)
    strides = tuple(self.strides)
    pads = tuple(lax.padtype_to_pads(x.shape[1:3], self.kernel_size, strides, self.padding))
    cin, impl = x.shape[-1], resolve_impl(self.impl)
    if strides != (1, 1) and impl == 'subpixel' and (
        self.impl == 'subpixel' or subpixel_input_grad(strides, cin)):
      method = formulation(self.kernel_size, strides, self.padding, cin)
      y = strided_conv(x, kernel, strides, pads, method)
    else:
      y = lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=DIMS)
    return y if bias is None else y + bias


class ConvTranspose(_ConvFields):
  """nn.ConvTranspose's parameters and function ('SAME'/'VALID'), two formulations."""

  @nn.compact
  def __call__(self, x):
    """[B, H, W, Cin] -> [B, H', W', features]."""
    x, kernel, bias = self._params(x)
    strides = tuple(self.strides)
    if resolve_impl(self.impl) == 'xla' or strides == (1, 1):
      y = lax.conv_transpose(x, kernel, strides, self.padding, dimension_numbers=DIMS)
    else:
      method = formulation(self.kernel_size, strides, self.padding, self.features)
      y = subpixel_conv_transpose(x, kernel, strides, self.padding, method)
    return y if bias is None else y + bias
