"""R3GAN's G and D (Huang et al., "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS 2024), layer for layer as the authors' brownvc/R3GAN (R3GAN/Networks.py,
FusedOperators.py, Resamplers.py at commit 19a7ddf4).

Stages of bias-free residual blocks: 1x1 conv to expansion x width, bias + leaky ReLU 0.2,
grouped kxk conv (cardinality groups), bias + leaky ReLU, zero-initialised 1x1 conv back,
identity skip; no normalization. Every conv is bias-free and N(0, gain^2 / fan_in); the
blocks' first two convs take gain sqrt(2 / (1 + 0.2^2)) * L^(-1/4), L = the network's
block count (their variance scaling), every other layer gain 1. The two biases of a block
are the official BiasedActivation's; here they are the biases of the conv before it (the
same sum). G: a learned 4x4 basis scaled per channel by a Linear of [z, class embedding],
then per stage (1x1 conv when the width changes, bilinear x2) + blocks, then a 1x1 conv to
the image's channels and no output activation. D: 1x1 conv from the image, per stage
blocks + (bilinear /2, 1x1 conv when the width changes), then a depthwise 4x4 conv to 1x1,
a Linear to 1 (or embed_dim, projected on the class embedding when conditional).
The resamplers are upfirdn2d's upsample2d / downsample2d with the kernel
outer(k, k) / sum, k = convolve(resampling_filter, [1, 1]) ([1, 3, 3, 1] for [1, 2, 1]).

Left out: the official per-stage bfloat16 stages (FP16Stages); `dtype` sets one compute
dtype for the whole model. from_official maps an official state_dict to these params.
"""

import math
import re
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from jax import lax

from ganjax.models.conv import resolve_impl
from ganjax.models.layers import to_compute, to_float32

# train.py's presets (lines 178-212), in G's order (4x4 first); D takes them reversed.
# The class embedding is noise_dim wide in G and widths[0] wide in D.
R3GAN_PRESETS = {
    'cifar10': dict(widths=(768,) * 4, cardinality=(96,) * 4, blocks=(2,) * 4,
                    noise_dim=64),
    'ffhq64': dict(widths=(768,) * 4 + (384,), cardinality=(96,) * 4 + (48,),
                   blocks=(2,) * 5, noise_dim=64),
}
LEAK = 0.2
# FusedOperators.BiasedActivation.Gain: the leaky ReLU's variance gain.
ACT_GAIN = math.sqrt(2 / (1 + LEAK**2))


def preset(name):
  """{'generator': kwargs, 'discriminator': kwargs} for a preset of R3GAN_PRESETS."""
  p = R3GAN_PRESETS[name]
  g = dict(widths=p['widths'], cardinality=p['cardinality'], blocks=p['blocks'],
           noise_dim=p['noise_dim'], embed_dim=p['noise_dim'])
  d = dict(widths=p['widths'][::-1], cardinality=p['cardinality'][::-1],
           blocks=p['blocks'][::-1], embed_dim=p['widths'][0])
  return {'generator': g, 'discriminator': d}


def msr_init(gain):
  """Networks.MSRInitializer: N(0, gain^2 / fan_in) (untruncated); gain 0: zeros."""
  if gain == 0:
    return nn.initializers.zeros
  return nn.initializers.variance_scaling(gain**2, 'fan_in', 'normal')


def block_gain(total_blocks):
  """Gain of a residual block's first two convs: ACT_GAIN * L^(-1/(2*3-2)), L blocks."""
  return ACT_GAIN * total_blocks ** (-1 / 4)


def lowpass_taps(resampling_filter):
  """The separable 1-D taps of Resamplers.CreateLowpassKernel(f, Inplace=False), sum 1."""
  k = np.convolve(np.asarray(resampling_filter, np.float64), [1, 1])
  return (k / k.sum()).tolist()


def _fir(x, taps, axis, pad, stride=1):
  """upfirdn2d's FIR along `axis`: zero-pad (before, after), convolve (flipped taps),
  keep every stride-th output."""
  widths = [(0, 0)] * x.ndim
  widths[axis] = pad
  x = jnp.pad(x, widths)
  n = (x.shape[axis] - len(taps)) // stride + 1
  out = 0
  for i, t in enumerate(taps[::-1]):
    out = out + t * lax.slice_in_dim(x, i, i + stride * (n - 1) + 1, stride, axis)
  return out


def upsample(x, taps):
  """upfirdn2d.upsample2d (gain 4): [B, H, W, C] -> [B, 2H, 2W, C]."""
  n = len(taps)
  for axis in (1, 2):
    zeros = jnp.zeros_like(x)
    shape = list(x.shape)
    shape[axis] *= 2
    x = jnp.stack([x, zeros], axis + 1).reshape(shape)   # x at even, 0 at odd places
    x = _fir(x, [2 * t for t in taps], axis, ((n + 1) // 2, (n - 2) // 2))
  return x


def downsample(x, taps):
  """upfirdn2d.downsample2d: [B, H, W, C] -> [B, H/2, W/2, C]."""
  n = len(taps)
  for axis in (1, 2):
    x = _fir(x, taps, axis, ((n - 1) // 2, (n - 2) // 2), stride=2)
  return x


def tap_matmul_conv(lhs, rhs, window_strides, padding, *args, feature_group_count=1,
                    **kwargs):
  """lax.conv_general_dilated (NHWC, HWIO, stride 1) of a grouped kernel [k, k, C/g, O]
  as k*k shifted views of the input and one matmul batched over the groups. XLA:CPU runs
  grouped convolutions, and above all their gradients, on a slow path (mnist_r3gan's
  step, in a bare script: 26 s grouped, 5.7 s as a block-diagonal dense conv, 5.5 s
  here; 2 cores)."""
  g = feature_group_count
  plain = lambda name: tuple(kwargs.get(name) or (1, 1)) == (1, 1)
  if (g == 1 or tuple(window_strides) != (1, 1) or args or isinstance(padding, str) or
      not plain('lhs_dilation') or not plain('rhs_dilation')):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, *args,
                                    feature_group_count=g, **kwargs)
  kh, kw, cin, cout = rhs.shape
  x = jnp.pad(lhs, ((0, 0), *padding, (0, 0)))
  oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  taps = jnp.stack([x[:, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)], 3)
  taps = taps.reshape(*taps.shape[:4], g, cin)                    # [B, oh, ow, t, g, c]
  kernel = rhs.reshape(kh * kw, cin, g, cout // g)                # [t, c, g, o]
  out = jnp.einsum('bhwtgc,tcgo->bhwgo', taps, kernel.astype(taps.dtype),
                   precision=kwargs.get('precision'),
                   preferred_element_type=kwargs.get('preferred_element_type'))
  return out.reshape(*out.shape[:3], cout)


def grouped_convs(conv_impl):
  """The conv function for grouped convs: taps and a batched matmul where conv_impl
  resolves to the CPU formulations ('auto' on CPU, 'subpixel'), XLA's own otherwise."""
  cpu = resolve_impl(conv_impl) == 'subpixel'
  return tap_matmul_conv if cpu else lax.conv_general_dilated


def conv(features, kernel_size, gain, name, prec, groups=1, padding=None,
         conv_impl='auto'):
  """Networks.Convolution: a bias-free conv, padding (k-1)//2, MSR init."""
  p = (kernel_size - 1) // 2 if padding is None else padding
  return nn.Conv(features, (kernel_size, kernel_size), padding=((p, p), (p, p)),
                 feature_group_count=groups, use_bias=False, kernel_init=msr_init(gain),
                 conv_general_dilated=grouped_convs(conv_impl), name=name, **prec)


class ResidualBlock(nn.Module):
  """Networks.ResidualBlock: x + conv3(act(conv2(act(conv1(x))))), [B, H, W, C] -> same.

  conv1, conv2 carry the official BiasedActivation biases (zero at init); conv3 is zero at
  init, so the block starts as the identity.
  """
  cardinality: int
  expansion: int
  kernel_size: int
  gain: float
  conv_impl: str = 'auto'
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    """[B, H, W, C] -> [B, H, W, C]."""
    c, k = x.shape[-1], self.kernel_size
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    wide = c * self.expansion
    y = nn.Conv(wide, (1, 1), kernel_init=msr_init(self.gain), name='conv1', **prec)(x)
    y = nn.leaky_relu(y, LEAK)
    y = nn.Conv(wide, (k, k), padding=(((k - 1) // 2,) * 2,) * 2,
                feature_group_count=self.cardinality, kernel_init=msr_init(self.gain),
                conv_general_dilated=grouped_convs(self.conv_impl), name='conv2', **prec)(y)
    y = nn.leaky_relu(y, LEAK)
    return x + conv(c, 1, 0, 'conv3', prec)(y)


class GenerativeBasis(nn.Module):
  """Networks.GenerativeBasis: a learned [s, s, F] basis times Linear(v) per channel."""
  features: int
  size: int = 4
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, v):
    """[B, D] -> [B, s, s, features]."""
    basis = self.param('basis', nn.initializers.normal(1.0), (self.size, self.size,
                                                               self.features),
                       self.param_dtype)
    h = nn.Dense(self.features, use_bias=False, kernel_init=msr_init(1), name='linear',
                 dtype=self.dtype, param_dtype=self.param_dtype)(v)
    return jnp.asarray(basis, h.dtype)[None] * h[:, None, None, :]


class DiscriminativeBasis(nn.Module):
  """Networks.DiscriminativeBasis: a depthwise sxs valid conv to 1x1 (s: the input's
  side, 4 officially), then a Linear."""
  features: int
  conv_impl: str = 'auto'
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    """[B, s, s, C] -> [B, features]."""
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = conv(x.shape[-1], x.shape[1], 1, 'depthwise', prec, groups=x.shape[-1], padding=0,
             conv_impl=self.conv_impl)(x)
    return nn.Dense(self.features, use_bias=False, kernel_init=msr_init(1), name='linear',
                    **prec)(x.reshape((x.shape[0], -1)))


def check_stages(m):
  """ValueError unless widths, cardinality and blocks have one entry per stage."""
  n = len(m.widths)
  if not n or len(m.cardinality) != n or len(m.blocks) != n:
    raise ValueError(f'widths {tuple(m.widths)}, cardinality {tuple(m.cardinality)} and '
                     f'blocks {tuple(m.blocks)} need one entry per stage')


def check_labels(m, labels):
  """ValueError when a conditional model gets no labels."""
  if m.num_classes and labels is None:
    raise ValueError(f'{type(m).__name__}: num_classes {m.num_classes} needs labels')


class R3GANGenerator(nn.Module):
  """R3GAN's G: z [B, noise_dim], labels int [B] | None -> [B, H, W, C] (no tanh: the
  official output is unbounded, near [-1, 1] once trained).

  Stage 0 is the basis_size x basis_size GenerativeBasis (4 officially; 7 makes 28x28
  with 3 stages), each later stage doubles the side; H = W = basis_size * 2**(stages - 1). Conditional (num_classes > 0): an embed_dim class embedding
  (the official bias-free Linear of the one-hot label) joins z.
  """
  image_shape: Sequence[int]
  widths: Sequence[int] = R3GAN_PRESETS['cifar10']['widths']
  cardinality: Sequence[int] = R3GAN_PRESETS['cifar10']['cardinality']
  blocks: Sequence[int] = R3GAN_PRESETS['cifar10']['blocks']
  expansion: int = 2
  kernel_size: int = 3
  resampling_filter: Sequence[int] = (1, 2, 1)
  noise_dim: int = 64
  embed_dim: int = 64
  basis_size: int = 4
  conv_impl: str = 'auto'           # grouped convs: auto (a batched matmul on CPU) | xla
  num_classes: int = 0
  axis_name: Optional[str] = None   # unused: no normalization
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train=False):
    """Maps latents (and class labels) to images."""
    del train   # no batch statistics, no dropout
    check_stages(self)
    check_labels(self, labels)
    side = self.basis_size * 2**(len(self.widths) - 1)
    if tuple(self.image_shape[:2]) != (side, side):
      raise ValueError(f'{len(self.widths)} stages make {side}x{side} images, not '
                       f'{tuple(self.image_shape[:2])}: change widths or image_shape')
    if z.shape[-1] != self.noise_dim:
      raise ValueError(f'z has {z.shape[-1]} dims, noise_dim is {self.noise_dim}')
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = to_compute(z, self.dtype)
    if self.num_classes:
      e = nn.Embed(self.num_classes, self.embed_dim, name='embed', param_dtype=self.param_dtype,
                   embedding_init=nn.initializers.normal(1 / math.sqrt(self.num_classes)))
      x = jnp.concatenate([x, e(labels).astype(x.dtype)], axis=-1)
    gain, taps = block_gain(sum(self.blocks)), lowpass_taps(self.resampling_filter)
    for i, (width, groups, count) in enumerate(zip(self.widths, self.cardinality,
                                                   self.blocks)):
      if i == 0:
        x = GenerativeBasis(width, self.basis_size, name='basis', **prec)(x)
      else:
        if x.shape[-1] != width:
          x = conv(width, 1, 1, f'stage{i}_transition', prec)(x)
        x = upsample(x, taps)
      for j in range(count):
        x = ResidualBlock(groups, self.expansion, self.kernel_size, gain, self.conv_impl,
                          name=f'stage{i}_block{j}', **prec)(x)
    x = conv(self.image_shape[2], 1, 1, 'to_rgb', prec)(x)
    return to_float32(x, self.dtype)


class R3GANDiscriminator(nn.Module):
  """R3GAN's D: [B, H, W, C], labels int [B] | None -> float32 logits [B, 1].

  widths in D's order (the image side first, G's reversed); every stage but the last
  halves the side, so H = W = basis_size * 2**(len(widths) - 1). Conditional (num_classes > 0):
  the basis maps to embed_dim and the logit is its dot product with the class embedding.
  """
  widths: Sequence[int] = R3GAN_PRESETS['cifar10']['widths'][::-1]
  cardinality: Sequence[int] = R3GAN_PRESETS['cifar10']['cardinality'][::-1]
  blocks: Sequence[int] = R3GAN_PRESETS['cifar10']['blocks'][::-1]
  expansion: int = 2
  kernel_size: int = 3
  resampling_filter: Sequence[int] = (1, 2, 1)
  embed_dim: int = 768
  basis_size: int = 4
  conv_impl: str = 'auto'           # grouped convs: auto (a batched matmul on CPU) | xla
  num_classes: int = 0
  axis_name: Optional[str] = None   # unused: no normalization
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train=False):
    """Scores images (and labels)."""
    del train
    check_stages(self)
    check_labels(self, labels)
    side = self.basis_size * 2**(len(self.widths) - 1)
    if x.shape[1:3] != (side, side):
      raise ValueError(f'{len(self.widths)} stages take {side}x{side} images, not '
                       f'{x.shape[1:3]}: change widths')
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    gain, taps = block_gain(sum(self.blocks)), lowpass_taps(self.resampling_filter)
    x = conv(self.widths[0], 1, 1, 'from_rgb', prec)(to_compute(x, self.dtype))
    last = len(self.widths) - 1
    for i, (groups, count) in enumerate(zip(self.cardinality, self.blocks)):
      for j in range(count):
        x = ResidualBlock(groups, self.expansion, self.kernel_size, gain, self.conv_impl,
                          name=f'stage{i}_block{j}', **prec)(x)
      if i < last:
        x = downsample(x, taps)
        if x.shape[-1] != self.widths[i + 1]:
          x = conv(self.widths[i + 1], 1, 1, f'stage{i}_transition', prec)(x)
    out = DiscriminativeBasis(self.embed_dim if self.num_classes else 1, self.conv_impl,
                              name='basis', **prec)(x)
    if self.num_classes:
      e = nn.Embed(self.num_classes, self.embed_dim, name='embed', param_dtype=self.param_dtype,
                   embedding_init=nn.initializers.normal(
                       1 / math.sqrt(self.embed_dim * self.num_classes)))
      out = jnp.sum(out * e(labels).astype(out.dtype), axis=-1, keepdims=True)
    return to_float32(out, self.dtype)


# Official state_dict names (R3GAN.Networks, with or without training.networks' 'Model.'
# prefix) -> (ganjax path, layout). {s} the stage, {j} the official layer in the stage.
_RULES = (
    (r'EmbeddingLayer\.weight', ('embed', 'embedding'), 'linear'),
    (r'AggregationLayer\.Layer\.weight', ('to_rgb', 'kernel'), 'conv'),
    (r'ExtractionLayer\.Layer\.weight', ('from_rgb', 'kernel'), 'conv'),
    (r'MainLayers\.\d+\.Layers\.\d+\.Basis', ('basis', 'basis'), 'basis'),
    (r'MainLayers\.\d+\.Layers\.\d+\.Basis\.weight', ('basis', 'depthwise', 'kernel'), 'conv'),
    (r'MainLayers\.\d+\.Layers\.\d+\.LinearLayer\.weight', ('basis', 'linear', 'kernel'),
     'linear'),
    (r'MainLayers\.(\d+)\.Layers\.\d+\.LinearLayer\.Layer\.weight',
     ('stage{s}_transition', 'kernel'), 'conv'),
    (r'MainLayers\.(\d+)\.Layers\.(\d+)\.LinearLayer([123])\.Layer\.weight',
     ('stage{s}_block{j}', 'conv{n}', 'kernel'), 'conv'),
    (r'MainLayers\.(\d+)\.Layers\.(\d+)\.NonLinearity([12])\.Bias',
     ('stage{s}_block{j}', 'conv{n}', 'bias'), 'bias'),
    (r'.*Resampler\.Kernel', None, None),   # a fixed buffer: resampling_filter here
)
_LAYOUTS = {
    'conv': lambda w: np.transpose(w, (2, 3, 1, 0)),    # [O, I/g, kh, kw] -> [kh, kw, I/g, O]
    'linear': lambda w: np.transpose(w),                # [out, in] -> [in, out]
    'basis': lambda w: np.transpose(w, (1, 2, 0)),      # [C, 4, 4] -> [4, 4, C]
    'bias': lambda w: w,
}


def _official_path(key, block_offset):
  """(ganjax path tuple, layout) for an official key, None for a buffer; KeyError if
  unknown. block_offset: 1 in G (the transition comes first in a stage), 0 in D."""
  for pattern, path, layout in _RULES:
    m = re.fullmatch(pattern, key)
    if m is None:
      continue
    if path is None:
      return None
    g = m.groups() + (None,) * 3
    names = dict(s=g[0], j=None if g[1] is None else int(g[1]) - block_offset, n=g[2])
    return tuple(p.format(**names) for p in path), layout
  raise KeyError(f'no ganjax parameter for the official {key!r}')


def from_official(state_dict):
  """Params for R3GANGenerator / R3GANDiscriminator from an official G or D state_dict
  ({name: array}, torch tensors or numpy; the kind is told by AggregationLayer, G's)."""
  as_numpy = lambda v: v.detach().cpu().numpy() if hasattr(v, 'detach') else v
  arrays = {re.sub(r'^Model\.', '', k): np.asarray(as_numpy(v), np.float32)
            for k, v in state_dict.items()}
  offset = 1 if 'AggregationLayer.Layer.weight' in arrays else 0
  params = {}
  for key, value in arrays.items():
    found = _official_path(key, offset)
    if found is None:
      continue
    path, layout = found
    node = params
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = _LAYOUTS[layout](value)
  return params
