"""StyleGAN2-ADA's layers in NHWC (Karras et al. 2020): the FIR resampling op, equalized
learning-rate dense and conv layers, the modulated conv and its synthesis / ToRGB layers,
and the discriminator's blocks and epilogue.

Each follows NVlabs/stylegan2-ada-pytorch (training/networks.py, torch_utils/ops/*.py)
on its float32 reference path (upfirdn2d and bias_act impl='ref'), term for term, so that
official weights load unchanged (ganjax.models.stylegan2.from_official transposes them
from OIHW / [out, in] to HWIO / [in, out]). Weights are stored as N(0, 1) / lr_multiplier
and scaled by weight_gain at run time (equalized learning rate).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ganjax import xla_cpu
from ganjax.models import conv

FIR = (1, 3, 3, 1)          # the [1,3,3,1] binomial low-pass filter every resampling uses
LRELU_GAIN = np.sqrt(2)     # bias_act.activation_funcs['lrelu'].def_gain (alpha 0.2)
DN = ('NHWC', 'HWIO', 'NHWC')


def setup_filter(taps=FIR, gain=1.0):
  """Normalized 2-D FIR filter [k, k]: outer(taps, taps) / sum, times gain."""
  f = np.outer(taps, taps).astype(np.float64)
  return (f / f.sum() * gain).astype(np.float32)


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0)):
  """Zero-insert up, pad/crop (x0, x1, y0, y1), FIR f [k, k], keep every down-th pixel;
  [B, H, W, C] -> [B, H', W', C] (upfirdn2d's reference path)."""
  b, h, w, c = x.shape
  if up > 1:
    x = x.reshape(b, h, 1, w, 1, c)
    x = jnp.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
    x = x.reshape(b, h * up, w * up, c)
  px0, px1, py0, py1 = pad
  x = jnp.pad(x, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
  x = x[:, max(-py0, 0):x.shape[1] - max(-py1, 0), max(-px0, 0):x.shape[2] - max(-px1, 0)]
  taps = _separable(f)
  if taps is not None:
    return _fir_rows_cols(x, *taps, down)
  # A convolution (flip_filter=False), depthwise over channels.
  kernel = jnp.tile(jnp.asarray(f[::-1, ::-1])[:, :, None, None], (1, 1, 1, c))
  return lax.conv_general_dilated(x, kernel.astype(x.dtype), (down, down), 'VALID',
                                  dimension_numbers=DN, feature_group_count=c)


def _separable(f):
  """(a, b) with f == outer(a, b) for a rank-1 filter f [k, k] (every FIR here), or None."""
  f = np.asarray(f, np.float64)
  if f.sum() == 0:
    return None
  a, b = f.sum(1), f.sum(0) / f.sum()
  return (a, b) if np.allclose(np.outer(a, b), f, rtol=0, atol=1e-7) else None


def _fir_rows_cols(x, a, b, down):
  """The convolution with outer(a, b) as two passes of shifted, scaled slices, keeping
  every down-th output: a depthwise conv's sum without one (XLA:CPU's grouped convs are
  slow; these are elementwise); [B, H, W, C] -> [B, (H - k) // down + 1, ...]."""
  k = len(a)
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  # Convolution, not correlation: tap i meets pixel offset k - 1 - i.
  x = sum(float(a[k - 1 - i]) * x[:, i:i + h:down] for i in range(k))
  return sum(float(b[k - 1 - j]) * x[:, :, j:j + w:down] for j in range(k))


def upsample2d(x, f):
  """x2 FIR upsampling (upfirdn2d.upsample2d): [B, H, W, C] -> [B, 2H, 2W, C]."""
  k = f.shape[0]
  p0, p1 = (k + 1) // 2, (k - 2) // 2
  return upfirdn2d(x, f * 4, up=2, pad=(p0, p1, p0, p1))


def downsample2d(x, f):
  """x2 FIR downsampling (upfirdn2d.downsample2d): [B, H, W, C] -> [B, H/2, W/2, C]."""
  k = f.shape[0]
  p0, p1 = (k - 1) // 2, (k - 2) // 2
  return upfirdn2d(x, f, down=2, pad=(p0, p1, p0, p1))


def _subpixel_method(features):
  """conv.subpixel_conv_transpose's method on XLA:CPU (as conv.formulation measured)."""
  return 'phases' if features >= 16 and xla_cpu.eigen_convolutions() else 'span'


def conv2d_resample(x, w, f, up=1, down=1, impl='xla', dtype=None):
  """Correlation with w [k, k, I, O] padded k//2, with x2 FIR up- or downsampling, as
  conv2d_resample's paths: [B, H, W, I] -> [B, H*up/down, W*up/down, O]. impl
  'subpixel' (conv.py; XLA:CPU differentiates lhs-dilated convs ~4x slower): the
  transposed conv, and a strided conv's input gradient, as sub-pixel phases. dtype
  (e.g. bfloat16; None: x's): the conv and its FIR compute in it, the result in float32
  (the official fp16 layers' role, the ops around them in float32)."""
  if dtype is not None:
    return conv2d_resample(x.astype(dtype), w.astype(dtype), f, up, down, impl).astype(
        jnp.float32)
  k, fk = w.shape[0], f.shape[0]
  p = k // 2
  if up > 1:   # transposed conv (a true convolution of the zero-stuffed x), then the FIR
    if impl == 'subpixel':
      x = conv.subpixel_conv_transpose(x, w[::-1, ::-1], (up, up), [(k - 1, k - 1)] * 2,
                                       _subpixel_method(w.shape[-1]))
    else:
      x = lax.conv_general_dilated(x, w[::-1, ::-1], (1, 1), [(k - 1, k - 1)] * 2,
                                   lhs_dilation=(up, up), dimension_numbers=DN)
    p0, p1 = p + (fk + up - 1) // 2 - (k - 1), p + (fk - up) // 2 - (k - up)
    return upfirdn2d(x, f * up * up, pad=(p0, p1, p0, p1))
  if down > 1:
    p0, p1 = p + (fk - down + 1) // 2, p + (fk - down) // 2
    if k == 1:   # 1x1: downsample first, then convolve
      x = upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1))
      return lax.conv_general_dilated(x, w, (1, 1), 'VALID', dimension_numbers=DN)
    x = upfirdn2d(x, f, pad=(p0, p1, p0, p1))
    if impl == 'subpixel' and conv.subpixel_input_grad((down, down), x.shape[-1]):
      return conv.strided_conv(x, w, (down, down), [(0, 0), (0, 0)],
                               _subpixel_method(x.shape[-1]))
    return lax.conv_general_dilated(x, w, (down, down), 'VALID', dimension_numbers=DN)
  return lax.conv_general_dilated(x, w, (1, 1), [(p, p)] * 2, dimension_numbers=DN)


def bias_act(x, b=None, act='linear', gain=None, clamp=None):
  """x + b, activation ('linear' | 'lrelu' with slope 0.2), times gain (default: the
  activation's, sqrt 2 for lrelu), clamped to ±clamp; [..., C] -> [..., C]."""
  if b is not None:
    x = x + b
  if act == 'lrelu':
    x = nn.leaky_relu(x, 0.2)
  elif act != 'linear':
    raise ValueError(f'unknown activation {act!r}; use linear or lrelu')
  gain = (LRELU_GAIN if act == 'lrelu' else 1.0) if gain is None else gain
  if gain != 1:
    x = x * gain
  return x if clamp is None else jnp.clip(x, -clamp, clamp)


def normalize_2nd_moment(x, eps=1e-8):
  """x / sqrt(mean(x^2) + eps) over the last axis; [B, D] -> [B, D]."""
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def std_normal(scale=1.0):
  """An init drawing N(0, 1) * scale (torch.randn, divided by lr_multiplier)."""
  return lambda key, shape: jax.random.normal(key, shape, jnp.float32) * scale


class FullyConnected(nn.Module):
  """FullyConnectedLayer: x @ (kernel * lr / sqrt(in)) + bias * lr, then activation;
  kernel [in, out] ~ N(0, 1) / lr."""
  features: int
  activation: str = 'linear'
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    """[B, in] -> [B, features]."""
    fan_in = x.shape[-1]
    kernel = self.param('kernel', std_normal(1 / self.lr_multiplier), (fan_in, self.features))
    x = x @ (kernel * (self.lr_multiplier / np.sqrt(fan_in)))
    b = None
    if self.use_bias:
      b = self.param('bias', nn.initializers.constant(self.bias_init), (self.features,))
      b = b * self.lr_multiplier if self.lr_multiplier != 1 else b
    return bias_act(x, b, self.activation)


class Conv2d(nn.Module):
  """Conv2dLayer: conv by kernel * 1/sqrt(in k k) (x2 FIR up/down), bias, activation
  with gain act_gain * gain, clamp conv_clamp * gain; kernel [k, k, in, out] ~ N(0, 1)."""
  features: int
  kernel_size: int
  activation: str = 'linear'
  up: int = 1
  down: int = 1
  use_bias: bool = True
  conv_clamp: Optional[float] = None
  conv_impl: str = 'xla'   # 'xla' | 'subpixel' (conv2d_resample)
  dtype: Optional[Any] = None   # the conv's compute dtype (None: float32)

  @nn.compact
  def __call__(self, x, gain=1.0):
    """[B, H, W, in] -> [B, H*up/down, W*up/down, features]."""
    k, cin = self.kernel_size, x.shape[-1]
    w = self.param('kernel', std_normal(), (k, k, cin, self.features))
    x = conv2d_resample(x, w * (1 / np.sqrt(cin * k * k)), setup_filter(), self.up, self.down,
                        self.conv_impl, self.dtype)
    b = self.param('bias', nn.initializers.zeros, (self.features,)) if self.use_bias else None
    act_gain = (LRELU_GAIN if self.activation == 'lrelu' else 1.0) * gain
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, b, self.activation, act_gain, clamp)


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, impl='xla', dtype=None):
  """x [B, H, W, I] modulated by styles [B, I], conv by weight [k, k, I, O] (x2 up),
  demodulated per sample and output channel -> [B, H*up, W*up, O].

  The non-fused form (scale activations before and after one shared conv) is the same
  sum as the official fused grouped conv, without per-sample weights."""
  x = conv2d_resample(x * styles[:, None, None, :], weight, setup_filter(), up=up, impl=impl,
                      dtype=dtype)
  if demodulate:
    dcoefs = lax.rsqrt(jnp.einsum('hwio,bi->bo', jnp.square(weight), jnp.square(styles)) + 1e-8)
    x = x * dcoefs[:, None, None, :]
  return x


class SynthesisLayer(nn.Module):
  """SynthesisLayer: style affine (bias init 1), modulated 3x3 conv with demodulation
  (x2 up), noise * noise_strength, bias, lrelu * sqrt 2 * gain, clamp conv_clamp * gain.

  noise_mode 'random' draws N(0, 1) [B, H, W, 1] from the 'noise' rng stream; 'const'
  uses the noise_const buffer [H, W] (a batch_stats variable: not trained); 'none' adds
  nothing. An explicit noise [B, H, W, 1] replaces the random draw."""
  features: int
  resolution: int
  kernel_size: int = 3
  up: int = 1
  use_noise: bool = True
  conv_clamp: Optional[float] = None
  conv_impl: str = 'xla'
  axis_name: Optional[str] = None   # pmap: noise drawn for the global batch, local rows kept
  dtype: Optional[Any] = None

  @nn.compact
  def __call__(self, x, w, noise_mode='random', noise=None, gain=1.0):
    """x [B, H, W, in], w [B, w_dim] -> [B, resolution, resolution, features]."""
    k, cin, res = self.kernel_size, x.shape[-1], self.resolution
    styles = FullyConnected(cin, bias_init=1.0, name='affine')(w)
    weight = self.param('kernel', std_normal(), (k, k, cin, self.features))
    x = modulated_conv2d(x, weight, styles, demodulate=True, up=self.up, impl=self.conv_impl,
                         dtype=self.dtype)
    if self.use_noise:
      const = self.variable('batch_stats', 'noise_const',
                            lambda: std_normal()(self.make_rng('params'), (res, res)))
      strength = self.param('noise_strength', nn.initializers.zeros, ())
      x = x + layer_noise(self, noise_mode, noise, const.value, x.shape,
                          self.axis_name) * strength
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, 'lrelu', LRELU_GAIN * gain, clamp)


def global_normal(key, shape, axis_name=None):
  """N(0, 1) of `shape` [b, ...]; under pmap (axis_name) this device's rows of the
  draw for the global batch, so that pmap draws what the global program does."""
  if axis_name is None:
    return jax.random.normal(key, shape, jnp.float32)
  n = lax.axis_size(axis_name)
  full = jax.random.normal(key, (shape[0] * n, *shape[1:]), jnp.float32)
  return lax.dynamic_slice_in_dim(full, lax.axis_index(axis_name) * shape[0], shape[0])


def layer_noise(module, noise_mode, noise, const, shape, axis_name=None):
  """The unscaled noise a SynthesisLayer adds to an output of `shape` [B, H, W, C]:
  [B, H, W, 1] (random, or the given noise), [H, W, 1] (const) or 0.0 (none)."""
  if noise_mode == 'none':
    return 0.0
  if noise_mode == 'const':
    return const[:, :, None]
  if noise_mode != 'random':
    raise ValueError(f'noise_mode {noise_mode!r}: use random, const or none')
  if noise is not None:
    return noise
  if not module.has_rng('noise') and not module.is_initializing():   # init falls back to 'params'
    raise ValueError("noise_mode='random' draws from the 'noise' rng stream: apply with "
                     "rngs={'noise': key}, or use noise_mode='const' / 'none'")
  return global_normal(module.make_rng('noise'), (*shape[:3], 1), axis_name)


class ToRGB(nn.Module):
  """ToRGBLayer: style affine (bias init 1) times 1/sqrt(in k k), modulated 1x1 conv
  without demodulation, bias, clamp (no activation)."""
  features: int
  kernel_size: int = 1
  conv_clamp: Optional[float] = None
  dtype: Optional[Any] = None

  @nn.compact
  def __call__(self, x, w):
    """x [B, H, W, in], w [B, w_dim] -> [B, H, W, features]."""
    k, cin = self.kernel_size, x.shape[-1]
    styles = FullyConnected(cin, bias_init=1.0, name='affine')(w) * (1 / np.sqrt(cin * k * k))
    weight = self.param('kernel', std_normal(), (k, k, cin, self.features))
    x = modulated_conv2d(x, weight, styles, demodulate=False, dtype=self.dtype)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return bias_act(x, bias, 'linear', clamp=self.conv_clamp)


def minibatch_std(x, group_size, num_channels=1):
  """MinibatchStdLayer: appends num_channels feature maps of the stddev over groups of
  min(group_size, B) samples (sample j joins j + B/G, j + 2B/G, ...); [B, H, W, C] ->
  [B, H, W, C + num_channels]."""
  n, h, w, c = x.shape
  g = min(group_size, n) if group_size is not None else n
  if n % g:
    raise ValueError(f'minibatch_std={group_size} groups the {n} images of a call: use a '
                     f'group size that divides the per-device batch')
  y = x.reshape(g, -1, h, w, num_channels, c // num_channels)
  y = jnp.sqrt(jnp.mean(jnp.square(y - y.mean(axis=0)), axis=0) + 1e-8)   # [n, H, W, F, c]
  y = y.mean(axis=(1, 2, 4))                                               # [n, F]
  y = jnp.broadcast_to(jnp.tile(y, (g, 1))[:, None, None, :], (n, h, w, num_channels))
  return jnp.concatenate([x, y.astype(x.dtype)], axis=-1)


class DiscriminatorBlock(nn.Module):
  """DiscriminatorBlock: FromRGB (first block, or every block for 'skip'), conv0 3x3,
  conv1 3x3 with x2 FIR down; 'resnet' adds a 1x1 down skip (no bias), both halves
  scaled by sqrt(0.5)."""
  in_channels: int
  tmp_channels: int
  out_channels: int
  architecture: str = 'resnet'
  conv_clamp: Optional[float] = None
  conv_impl: str = 'xla'
  dtype: Optional[Any] = None

  @nn.compact
  def __call__(self, x, img):
    """x [B, r, r, in] | None, img [B, r, r, C] | None -> (x [B, r/2, r/2, out], img)."""
    conv = lambda f, k, name, **kw: Conv2d(f, k, 'lrelu', conv_clamp=self.conv_clamp,
                                           conv_impl=self.conv_impl, dtype=self.dtype,
                                           name=name, **kw)
    if self.in_channels == 0 or self.architecture == 'skip':
      y = conv(self.tmp_channels, 1, 'fromrgb')(img)
      x = y if x is None else x + y
      img = downsample2d(img, setup_filter()) if self.architecture == 'skip' else None
    if self.architecture == 'resnet':
      y = Conv2d(self.out_channels, 1, down=2, use_bias=False, conv_impl=self.conv_impl,
                 dtype=self.dtype, name='skip')(x, np.sqrt(0.5))
      x = conv(self.tmp_channels, 3, 'conv0')(x)
      return y + conv(self.out_channels, 3, 'conv1', down=2)(x, np.sqrt(0.5)), img
    x = conv(self.tmp_channels, 3, 'conv0')(x)
    return conv(self.out_channels, 3, 'conv1', down=2)(x), img


class DiscriminatorEpilogue(nn.Module):
  """DiscriminatorEpilogue at 4x4: FromRGB ('skip'), minibatch stddev, conv 3x3, fc
  (lrelu), out fc to 1 (or cmap_dim, projected on cmap / sqrt(cmap_dim))."""
  in_channels: int
  cmap_dim: int
  architecture: str = 'resnet'
  mbstd_group_size: Optional[int] = 4
  mbstd_num_channels: int = 1
  conv_clamp: Optional[float] = None

  @nn.compact
  def __call__(self, x, img, cmap):
    """x [B, 4, 4, C], img [B, 4, 4, 3] | None, cmap [B, cmap_dim] | None -> [B, 1]."""
    if self.architecture == 'skip':   # the official epilogue's FromRGB has no clamp
      x = x + Conv2d(self.in_channels, 1, 'lrelu', name='fromrgb')(img)
    if self.mbstd_num_channels > 0:
      x = minibatch_std(x, self.mbstd_group_size, self.mbstd_num_channels)
    x = Conv2d(self.in_channels, 3, 'lrelu', conv_clamp=self.conv_clamp, name='conv')(x)
    x = FullyConnected(self.in_channels, 'lrelu', name='fc')(x.reshape(x.shape[0], -1))
    x = FullyConnected(self.cmap_dim or 1, name='out')(x)
    if self.cmap_dim:
      x = (x * cmap).sum(axis=1, keepdims=True) * (1 / np.sqrt(self.cmap_dim))
    return x
