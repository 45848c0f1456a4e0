"""StyleGAN2-ADA's generator and discriminator (Karras et al. 2020) in NHWC, equal layer
for layer to NVlabs/stylegan2-ada-pytorch's training/networks.py at commit
d72cc7d041b42ec8e806021a205ed9349f87c6a4 on its float32 path (no fp16 blocks).

G: a mapping network z (and a label embedding) -> w, broadcast to num_ws, then the
synthesis network ('skip': ToRGB at every resolution, images summed through x2 FIR
upsampling; 'orig', 'resnet' as the official). D: 'resnet' | 'orig' | 'skip' blocks,
then the epilogue (minibatch stddev, conv, fc, out) with a projection on the label
mapping's cmap. Defaults are networks.py's; CIFAR_G / CIFAR_D hold train.py's
`--cfg=cifar` settings. Buffers (noise_const, w_avg) live in 'batch_stats'.
`from_official` turns the official named tensors into these variables.
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from ganjax.models.conv import resolve_impl
from ganjax.models.stylegan2_layers import (Conv2d, DiscriminatorBlock,
                                            DiscriminatorEpilogue, FullyConnected,
                                            SynthesisLayer, ToRGB, global_normal,
                                            normalize_2nd_moment, setup_filter, upsample2d)

OFFICIAL_COMMIT = 'd72cc7d041b42ec8e806021a205ed9349f87c6a4'
# train.py's num_fp16_res: the official mixed precision runs the blocks at the top 4
# resolutions (but none below 8x8) in float16; model.dtype=bfloat16 runs their convs in it.
FP16_RES = 4
# train.py --cfg=cifar: fmaps 1 (channel_base 32768), channel_max 512, map 2, conv_clamp
# 256, mbstd 32, D architecture 'orig'; D's label mapping keeps networks.py's 8 layers.
CIFAR_G = dict(w_dim=512, mapping_layers=2, channel_base=32768, channel_max=512,
               conv_clamp=256.0, architecture='skip', style_mixing_prob=0.0)
CIFAR_D = dict(architecture='orig', channel_base=32768, channel_max=512, conv_clamp=256.0,
               mbstd_group_size=32, mapping_layers=8)


def labels_to_c(labels, num_classes):
  """Conditioning vector c [B, num_classes]: one-hot of int labels [B], or float [B, n]
  as given (the official c); None when unconditional."""
  if not num_classes:
    return None
  if labels is None:
    raise ValueError(f'this model is conditional ({num_classes} classes): pass labels')
  labels = jnp.asarray(labels)
  if labels.ndim == 2:
    return labels.astype(jnp.float32)
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def channels_at(res, channel_base, channel_max):
  """Feature maps at resolution res: min(channel_base // res, channel_max)."""
  return min(channel_base // res, channel_max)


def network_side(side):
  """The power-of-two side the networks run at for images of `side` (MNIST's 28: 32; G
  crops its centre, D pads it with zeros); the official code takes powers of two only."""
  return max(4, 1 << (int(side) - 1).bit_length())


def _pad_offsets(side):
  extra = network_side(side) - side
  return extra // 2, extra - extra // 2


def reduced(dtype, res, side):
  """The compute dtype of the block at resolution `res` of a `side` network: `dtype` for
  the top FP16_RES resolutions but not below 8, as the official num_fp16_res (float32
  elsewhere: None)."""
  return dtype if res >= max(side * 2 // 2**FP16_RES, 8) else None


def log2_resolution(side):
  """log2 of a power-of-two side >= 4; ValueError otherwise."""
  if side < 4 or side & (side - 1):
    raise ValueError(f'StyleGAN2 needs square power-of-two images >= 4, got side {side}')
  return int(np.log2(side))


class MappingNetwork(nn.Module):
  """MappingNetwork: normalize(z) ++ normalize(embed(c)), num_layers lrelu FCs (lr
  multiplier 0.01), w_avg tracked with beta in training, broadcast to num_ws, truncation."""
  w_dim: int
  num_ws: Optional[int]
  num_layers: int = 8
  embed_features: Optional[int] = None
  layer_features: Optional[int] = None
  lr_multiplier: float = 0.01
  w_avg_beta: Optional[float] = 0.995
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z, c, *, train, truncation_psi=1.0, truncation_cutoff=None,
               update_w_avg=True):
    """z [B, z_dim] | None, c [B, c_dim] | None -> w [B, num_ws, w_dim] ([B, w_dim] if
    num_ws is None)."""
    parts = [] if z is None else [normalize_2nd_moment(z.astype(jnp.float32))]
    if c is not None:
      embed = FullyConnected(self.embed_features or self.w_dim, name='embed')
      parts.append(normalize_2nd_moment(embed(c)))
    x = jnp.concatenate(parts, axis=1)
    for idx in range(self.num_layers):
      width = self.w_dim if idx == self.num_layers - 1 else (self.layer_features or self.w_dim)
      x = FullyConnected(width, 'lrelu', self.lr_multiplier, name=f'fc{idx}')(x)
    track = self.num_ws is not None and self.w_avg_beta is not None
    w_avg = self.variable('batch_stats', 'w_avg', jnp.zeros, (self.w_dim,)) if track else None
    if track and train and update_w_avg and not self.is_initializing() \
        and self.is_mutable_collection('batch_stats'):
      mean = jax.lax.stop_gradient(x).mean(axis=0)
      if self.axis_name is not None:   # pmap: one average for all replicas
        mean = jax.lax.pmean(mean, self.axis_name)
      w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)   # mean.lerp(w_avg, beta)
    if self.num_ws is None:
      return x
    x = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.num_ws, self.w_dim))
    return truncate(x, w_avg, truncation_psi, truncation_cutoff)


def truncate(ws, w_avg, psi, cutoff):
  """ws [B, num_ws, w_dim] pulled to w_avg by psi in its first `cutoff` ws (all if None)."""
  if psi == 1:
    return ws
  if w_avg is None:
    raise ValueError('truncation needs the tracked w_avg (w_avg_beta is None)')
  pulled = w_avg.value + psi * (ws - w_avg.value)
  if cutoff is None:
    return pulled
  return jnp.where((jnp.arange(ws.shape[1]) < cutoff)[None, :, None], pulled, ws)


def synthesis_plan(resolution, channel_base, channel_max, architecture):
  """[(res, in_channels (0: first), out_channels, num_conv, num_torgb)] per block, and
  num_ws (each block's convs, plus the last block's ToRGB)."""
  plan, num_ws = [], 0
  for log2 in range(2, log2_resolution(resolution) + 1):
    res = 2**log2
    cin = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
    torgb = int(res == resolution or architecture == 'skip')
    plan.append((res, cin, channels_at(res, channel_base, channel_max), 1 + (cin > 0), torgb))
    num_ws += 1 + (cin > 0)
  return plan, num_ws + plan[-1][4]


class SynthesisBlock(nn.Module):
  """SynthesisBlock: const 4x4 (first) or conv0 (x2 up) and conv1, a resnet skip
  ('resnet'), then img = upsample(img) + ToRGB(x) ('skip', or the last block)."""
  in_channels: int
  out_channels: int
  resolution: int
  img_channels: int
  is_last: bool
  architecture: str = 'skip'
  conv_clamp: Optional[float] = None
  conv_impl: str = 'xla'
  axis_name: Optional[str] = None
  dtype: Optional[Any] = None   # the convs' compute dtype (None: float32)

  @nn.compact
  def __call__(self, x, img, ws, noise_mode='random', noise=None):
    """x [B, res/2, res/2, in] | None, img [B, res/2, res/2, C] | None, ws [B, n, w_dim],
    noise: a [B, res, res, 1] per conv or None -> (x, img) at res."""
    layer = lambda f, up, name: SynthesisLayer(f, self.resolution, up=up,
                                               conv_clamp=self.conv_clamp,
                                               conv_impl=self.conv_impl,
                                               axis_name=self.axis_name, dtype=self.dtype,
                                               name=name)
    noise = noise or [None] * 2
    if self.in_channels == 0:
      const = self.param('const', nn.initializers.normal(1.0),
                         (self.resolution, self.resolution, self.out_channels))
      x = layer(self.out_channels, 1, 'conv1')(
          jnp.broadcast_to(const, (ws.shape[0], *const.shape)), ws[:, 0], noise_mode, noise[0])
    else:
      y = None
      if self.architecture == 'resnet':
        y = Conv2d(self.out_channels, 1, up=2, use_bias=False, conv_impl=self.conv_impl,
                   dtype=self.dtype, name='skip')(x, np.sqrt(0.5))
      x = layer(self.out_channels, 2, 'conv0')(x, ws[:, 0], noise_mode, noise[0])
      gain = np.sqrt(0.5) if y is not None else 1.0
      x = layer(self.out_channels, 1, 'conv1')(x, ws[:, 1], noise_mode, noise[1], gain)
      x = x if y is None else y + x
    if img is not None:
      img = upsample2d(img, setup_filter())
    if self.is_last or self.architecture == 'skip':
      y = ToRGB(self.img_channels, conv_clamp=self.conv_clamp, dtype=self.dtype,
                name='torgb')(x, ws[:, -1])
      img = y if img is None else img + y
    return x, img


class SynthesisNetwork(nn.Module):
  """SynthesisNetwork: one SynthesisBlock per resolution 4 .. resolution; block res reads
  ws[w_idx : w_idx + num_conv + num_torgb], its ToRGB sharing the next block's first w."""
  resolution: int
  img_channels: int
  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = 'skip'
  conv_clamp: Optional[float] = None
  conv_impl: str = 'xla'
  axis_name: Optional[str] = None
  dtype: Optional[Any] = None   # for the blocks at the top FP16_RES resolutions (>= 8)

  @nn.compact
  def __call__(self, ws, noise_mode='random', noise=None):
    """ws [B, num_ws, w_dim], noise: a [B, r, r, 1] per conv layer (in order) or None
    -> images [B, resolution, resolution, img_channels]."""
    plan, _ = synthesis_plan(self.resolution, self.channel_base, self.channel_max,
                             self.architecture)
    x = img = None
    w_idx = 0
    for res, cin, cout, num_conv, num_torgb in plan:
      block_noise = None if noise is None else list(noise[w_idx:w_idx + num_conv])
      block = SynthesisBlock(cin, cout, res, self.img_channels, res == self.resolution,
                             self.architecture, self.conv_clamp, self.conv_impl,
                             self.axis_name, reduced(self.dtype, res, self.resolution),
                             name=f'b{res}')
      x, img = block(x, img, ws[:, w_idx:w_idx + num_conv + num_torgb], noise_mode, block_noise)
      w_idx += num_conv
    return img


def style_mix(mapping, ws, z, c, key, prob, axis_name=None):
  """Style mixing regularization (loss.py run_G): with probability prob, ws[:, cutoff:]
  from a fresh z (cutoff uniform in [1, num_ws)); one cutoff per (global) batch."""
  k_cut, k_coin, k_z = jax.random.split(key, 3)
  num_ws = ws.shape[1]
  cutoff = jax.random.randint(k_cut, (), 1, num_ws)
  cutoff = jnp.where(jax.random.uniform(k_coin, ()) < prob, cutoff, num_ws)
  other = mapping(global_normal(k_z, z.shape, axis_name), c, train=True,
                  update_w_avg=False)
  return jnp.where((jnp.arange(num_ws) < cutoff)[None, :, None], ws, other)


class StyleGAN2Generator(nn.Module):
  """StyleGAN2-ADA's G: z [B, latent], labels int [B] | float c [B, n] | None -> images
  [B, H, W, C] (not squashed: about [-1, 1], as the official).

  Rng streams: 'noise' for noise_mode 'random'; 'mixing' for style mixing in training
  (style_mixing_prob > 0). Inference: truncation_psi / truncation_cutoff, noise_mode
  ('random' | 'const' | 'none'; None: the field) or explicit noise, one [B, r, r, 1] per
  synthesis conv (r = its resolution; b4.conv1, b8.conv0, b8.conv1, ...)."""
  image_shape: Sequence[int]
  num_classes: int = 0
  w_dim: int = 512
  mapping_layers: int = 8
  mapping_lr: float = 0.01
  w_avg_beta: float = 0.995
  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = 'skip'
  conv_clamp: Optional[float] = None
  style_mixing_prob: float = 0.0
  noise_mode: str = 'random'
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'   # 'auto' | 'xla' | 'subpixel' (conv.resolve_impl): up convs
  dtype: Optional[Any] = None   # model.dtype: the top blocks' convs (None: float32)

  def ws_shape(self, batch):
    """The shape of the ws synthesis takes for `batch` images: [batch, num_ws, w_dim]."""
    side = network_side(self.image_shape[0])
    return (batch, synthesis_plan(side, self.channel_base, self.channel_max,
                                  self.architecture)[1], self.w_dim)

  @nn.compact
  def __call__(self, z, labels=None, *, train, truncation_psi=1.0, truncation_cutoff=None,
               noise_mode=None, noise=None):
    """Maps latents (and labels) to images."""
    h, w, channels = self.image_shape
    if h != w:
      raise ValueError(f'StyleGAN2 makes square images, not {h}x{w}')
    side = network_side(h)
    _, num_ws = synthesis_plan(side, self.channel_base, self.channel_max, self.architecture)
    mapping = MappingNetwork(self.w_dim, num_ws, self.mapping_layers,
                             lr_multiplier=self.mapping_lr, w_avg_beta=self.w_avg_beta,
                             axis_name=self.axis_name, name='mapping')
    c = labels_to_c(labels, self.num_classes)
    ws = mapping(z, c, train=train, truncation_psi=truncation_psi,
                 truncation_cutoff=truncation_cutoff)
    if train and self.style_mixing_prob > 0 and not self.is_initializing():
      ws = style_mix(mapping, ws, z, c, self.make_rng('mixing'), self.style_mixing_prob,
                     self.axis_name)
    # Path length regularization differentiates w.r.t. the ws synthesis sees: given
    # variables['perturbations']['ws'] (zeros, ws_shape), their gradient is that one.
    if not self.is_initializing():
      ws = self.perturb('ws', ws)
    synthesis = SynthesisNetwork(side, channels, self.channel_base, self.channel_max,
                                 self.architecture, self.conv_clamp,
                                 resolve_impl(self.conv_impl), self.axis_name, self.dtype,
                                 name='synthesis')
    mode = noise_mode or self.noise_mode
    if mode == 'random' and noise is None and not train and not self.has_rng('noise'):
      mode = 'const'   # sampling without a 'noise' stream: official generate.py's default
    img = synthesis(ws, mode, noise)
    top, _ = _pad_offsets(h)
    return img[:, top:top + h, top:top + h] if side != h else img


class StyleGAN2Discriminator(nn.Module):
  """StyleGAN2-ADA's D: images [B, H, W, C], labels int [B] | float c [B, n] | None ->
  float32 logits [B, 1]. A DiscriminatorBlock per resolution H .. 8, then the epilogue;
  conditional: a MappingNetwork (z_dim 0, mapping_layers) maps c to cmap (cmap_dim,
  default channels at 4x4) for the output projection."""
  num_classes: int = 0
  architecture: str = 'resnet'
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: Optional[float] = None
  cmap_dim: Optional[int] = None
  mapping_layers: int = 8
  mbstd_group_size: Optional[int] = 4
  mbstd_num_channels: int = 1
  axis_name: Optional[str] = None   # unused: D keeps no statistics
  conv_impl: str = 'auto'   # 'auto' | 'xla' | 'subpixel' (conv.resolve_impl): strided convs
  dtype: Optional[Any] = None   # model.dtype: the top blocks' convs (None: float32)

  @property
  def couples_batch(self):
    """Whether a sample's score depends on the others in its call (minibatch-stddev):
    the step then scores reals and fakes in separate calls, as the official loss."""
    return self.mbstd_num_channels > 0

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (and labels); train changes nothing (no BN, no dropout)."""
    del train
    ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
    top, bottom = _pad_offsets(x.shape[1])
    if top or bottom:   # zeros around the image: the same frame for reals and fakes
      x = jnp.pad(x, ((0, 0), (top, bottom), (top, bottom), (0, 0)))
    side = x.shape[1]
    h, img = None, x.astype(jnp.float32)
    for res in [2**i for i in range(log2_resolution(side), 2, -1)]:
      block = DiscriminatorBlock(ch(res) if res < side else 0, ch(res), ch(res // 2),
                                 self.architecture, self.conv_clamp,
                                 resolve_impl(self.conv_impl), reduced(self.dtype, res, side),
                                 name=f'b{res}')
      h, img = block(h, img)
    cmap_dim = (self.cmap_dim or ch(4)) if self.num_classes else 0
    cmap = None
    if self.num_classes:
      cmap = MappingNetwork(cmap_dim, None, self.mapping_layers, w_avg_beta=None,
                            name='mapping')(None, labels_to_c(labels, self.num_classes),
                                            train=False)
    epilogue = DiscriminatorEpilogue(ch(4), cmap_dim, self.architecture, self.mbstd_group_size,
                                     self.mbstd_num_channels, self.conv_clamp, name='b4')
    return epilogue(h, img, cmap)


def _convert(name, value):
  """One official tensor (NCHW layouts) -> (collection, path, array in ganjax's layout)."""
  path = name.split('.')
  value = np.asarray(value, np.float32)
  if path[-1] in ('noise_const', 'w_avg'):
    return 'batch_stats', path, value
  if path[-1] == 'const':                         # [C, H, W] -> [H, W, C]
    return 'params', path, value.transpose(1, 2, 0)
  if path[-1] != 'weight':
    return 'params', path, value
  path = path[:-1] + ['kernel']
  if value.ndim == 4:                             # [O, I, kh, kw] -> [kh, kw, I, O]
    return 'params', path, value.transpose(2, 3, 1, 0)
  if path[-3:-1] == ['b4', 'fc'] and 'synthesis' not in path:
    # D's epilogue fc reads a flattened [C, 4, 4] (NCHW); ganjax flattens [4, 4, C].
    out, c = value.shape[0], value.shape[0]
    side = int(round(np.sqrt(value.shape[1] // c)))
    value = value.reshape(out, c, side, side).transpose(2, 3, 1, 0).reshape(-1, out)
    return 'params', path, value
  return 'params', path, value.T                  # [out, in] -> [in, out]


def from_official(named_tensors):
  """{official name: array} (named_parameters() and named_buffers() of an official G or
  D, e.g. 'synthesis.b8.conv0.weight') -> {'params', 'batch_stats'} for the ganjax
  module; resample_filter buffers (the fixed [1,3,3,1] filter) are dropped."""
  flat = {'params': {}, 'batch_stats': {}}
  for name, value in named_tensors.items():
    if name.endswith('resample_filter'):
      continue
    collection, path, array = _convert(name, value)
    flat[collection][tuple(path)] = jnp.asarray(array)
  return {k: traverse_util.unflatten_dict(v) for k, v in flat.items() if v}
