"""SNGAN's residual G and D (Miyato et al. 2018; Miyato & Koyama 2018) and the blocks
BigGAN shares with them.

Layer order, widths and inits follow pfnet-research/sngan_projection (the authors'
Chainer code: gen_models/, dis_models/); the parameter layout follows PyTorch-StudioGAN's
models/resnet.py where the two differ: a D block's first conv maps straight to the
output width (sngan_projection keeps the input width there), and the 32x32 D's output
Dense has a bias (sngan_projection's has none).
"""

from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.attention import SelfAttention
from ganjax.models.cond_layers import (ConditionalBatchNorm, ProjectionOutput,
                                       check_conditioning)
from ganjax.models.layers import LabelMap, spectral

glorot = nn.initializers.glorot_uniform()
# sngan_projection's GlorotUniform(sqrt(2)) on the residual branch's 3x3 convs.
glorot_relu = nn.initializers.variance_scaling(2.0, 'fan_avg', 'uniform')
EPSILON = 2e-5   # Chainer's BatchNormalization default (decay 0.9 = Flax momentum 0.9)

# Channel widths: g[0] at the bottom (4x4), then one per up block; d per D block, with
# d_down saying which blocks halve the side.
SNGAN_WIDTHS = {
    # sngan_projection configs/sn_cifar10_*.yml: resnet_32 ch=256, snresnet_32 ch=128.
    32: dict(g=(256,) * 4, d=(128,) * 4, d_down=(True, True, False, False)),
    # sngan_projection gen_models/resnet_64.py, dis_models/snresnet_64.py at ch=64.
    64: dict(g=(1024, 512, 256, 128, 64), d=(64, 128, 256, 512, 1024), d_down=(True,) * 5),
    # sngan_projection gen_models/resnet.py, dis_models/snresnet.py at ch=64 (ImageNet 128).
    128: dict(g=(1024, 1024, 512, 256, 128, 64), d=(64, 128, 256, 512, 1024, 1024),
              d_down=(True,) * 5 + (False,)),
}

G_CONDITIONING = ('cbn', 'concat')
D_CONDITIONING = ('projection', 'concat', 'acgan')


def upsample(x):
  """Nearest-neighbour x2: [B, H, W, C] -> [B, 2H, 2W, C]."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x):
  """2x2 average pooling: [B, H, W, C] -> [B, H/2, W/2, C]."""
  return nn.avg_pool(x, (2, 2), (2, 2))


def bottom_size(image_shape, ups):
  """G's bottom (h, w) = the image's sides / 2**ups; ValueError if not integers."""
  h, w = image_shape[:2]
  if h % 2**ups or w % 2**ups:
    raise ValueError(f'a {h}x{w} image is out of reach of {ups} x2 up blocks from an '
                     f'integer bottom: make its sides multiples of {2**ups} or change channels')
  return h // 2**ups, w // 2**ups


def attention_index(sides, resolution):
  """Index of the first block whose output side is `resolution` (None for 0)."""
  if not resolution:
    return None
  if resolution not in sides:
    raise ValueError(f'attention_resolution {resolution} is no block output side; choose '
                     f'one of {sorted(set(sides))} or 0')
  return list(sides).index(resolution)


class UpBlock(nn.Module):
  """Up-sampling residual block: (C)BN, ReLU, nearest x2, conv3x3, (C)BN, ReLU, conv3x3,
  plus nearest x2 then a 1x1 conv on the shortcut.

  cond None: BN with its own scale and bias; otherwise ConditionalBatchNorm on cond
  (per-class tables when num_classes > 0, else a Dense map of the float vector cond).
  """
  features: int
  num_classes: int = 0
  spectral_norm: bool = False
  epsilon: float = EPSILON
  conv_init: Callable = glorot_relu
  shortcut_init: Callable = glorot
  axis_name: Optional[str] = None
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond, *, train):
    """[B, H, W, Cin], cond None | int [B] | float [B, D] -> [B, 2H, 2W, features]."""
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    conv = lambda k, init, name: spectral(nn.Conv(self.features, (k, k), kernel_init=init,
                                                  name=name, **prec), self.spectral_norm, train)

    def norm(h, name):
      if cond is None:
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.epsilon,
                            axis_name=self.axis_name, name=name, **prec)(h)
      return ConditionalBatchNorm(self.num_classes, self.spectral_norm, 0.9, self.epsilon,
                                  self.axis_name, self.shortcut_init, name=name, **prec)(
                                      h, cond, train=train)

    h = conv(3, self.conv_init, 'conv1')(upsample(nn.relu(norm(x, 'bn1'))))
    h = conv(3, self.conv_init, 'conv2')(nn.relu(norm(h, 'bn2')))
    return h + conv(1, self.shortcut_init, 'shortcut')(upsample(x))


class DownBlock(nn.Module):
  """D's residual block. optimized (the first): conv3x3, ReLU, conv3x3, avgpool, plus
  avgpool then a 1x1 conv on the shortcut. Otherwise ReLU, conv3x3, ReLU, conv3x3,
  avgpool if downsample, plus a 1x1 conv (then avgpool) on the shortcut when the width
  changes or it downsamples."""
  features: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = True
  conv_init: Callable = glorot_relu
  shortcut_init: Callable = glorot
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train):
    """[B, H, W, Cin] -> [B, H', W', features]; H' = H/2 when downsample."""
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    conv = lambda k, init, name: spectral(nn.Conv(self.features, (k, k), kernel_init=init,
                                                  name=name, **prec), self.spectral_norm, train)
    pool = downsample if self.downsample else (lambda t: t)
    if self.optimized:
      h = conv(3, self.conv_init, 'conv2')(nn.relu(conv(3, self.conv_init, 'conv1')(x)))
      return pool(h) + conv(1, self.shortcut_init, 'shortcut')(pool(x))
    h = conv(3, self.conv_init, 'conv1')(nn.relu(x))
    h = pool(conv(3, self.conv_init, 'conv2')(nn.relu(h)))
    if self.downsample or x.shape[-1] != self.features:
      x = pool(conv(1, self.shortcut_init, 'shortcut')(x))
    return h + x


def to_image(module, x, train, epsilon, init):
  """G's output: BN, ReLU, conv3x3 to the image's channels, tanh; float32 [B, H, W, C]."""
  prec = dict(dtype=module.dtype, param_dtype=module.param_dtype)
  x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=epsilon,
                   axis_name=module.axis_name, name='bn_out', **prec)(x)
  x = spectral(nn.Conv(module.image_shape[2], (3, 3), kernel_init=init, name='conv_out',
                       **prec), module.spectral_norm, train)(nn.relu(x))
  # tanh in float32: in bfloat16 images near ±1 would round to steps of 2**-8.
  return jnp.tanh(x.astype(jnp.float32))


class ResNetGenerator(nn.Module):
  """SNGAN's ResNet G: z [B, latent], labels int [B] | None -> [B, H, W, C] in [-1, 1].

  Dense to bottom x bottom x channels[0], one UpBlock per later entry of channels, BN,
  ReLU, conv3x3, tanh; bottom = side / 2**(len(channels) - 1). Conditioning (when
  num_classes > 0): 'cbn', per-class BN gains and biases in every block; 'concat', a
  label embedding (embed_dim) joined to z. SelfAttention after the first block whose
  output side is attention_resolution (0: none).
  """
  image_shape: Sequence[int]
  channels: Sequence[int] = SNGAN_WIDTHS[32]['g']
  num_classes: int = 0
  conditioning: str = 'cbn'
  embed_dim: int = 128
  attention_resolution: int = 0
  spectral_norm: bool = False
  axis_name: Optional[str] = None
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents (and class labels) to images in [-1, 1]."""
    check_conditioning(self, G_CONDITIONING, labels)
    ups = len(self.channels) - 1
    bh, bw = bottom_size(self.image_shape, ups)
    at = attention_index([bh * 2**(i + 1) for i in range(ups)], self.attention_resolution)
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    cond = self.conditioning if self.num_classes else None
    if self.dtype is not None:
      z = z.astype(self.dtype)
    if cond == 'concat':
      z = jnp.concatenate([z, nn.Embed(self.num_classes, self.embed_dim, embedding_init=glorot,
                                       name='embed', **prec)(labels)], axis=-1)
    sn = lambda layer: spectral(layer, self.spectral_norm, train)
    x = sn(nn.Dense(bh * bw * self.channels[0], kernel_init=glorot, name='dense', **prec))(z)
    x = x.reshape((z.shape[0], bh, bw, self.channels[0]))
    for i, feat in enumerate(self.channels[1:]):
      x = UpBlock(feat, self.num_classes, self.spectral_norm, axis_name=self.axis_name,
                  name=f'block{i}', **prec)(x, labels if cond == 'cbn' else None, train=train)
      if i == at:
        x = SelfAttention(self.spectral_norm, kernel_init=glorot, name='attention', **prec)(
            x, train=train)
    return to_image(self, x, train, EPSILON, glorot)


def discriminate(module, x, labels, train, conv_init, init):
  """The residual D of ResNetDiscriminator and BigGANDiscriminator: [B, H, W, C], labels
  -> float32 [B, 1] or [B, 1 + num_classes] (acgan); conv_init for the 3x3 convs, init
  for every other layer. Sows φ(x) [B, F] as intermediates/features."""
  m = module
  check_conditioning(m, D_CONDITIONING, labels)
  if len(m.downsample) != len(m.channels):
    raise ValueError(f'downsample {tuple(m.downsample)} needs one entry per channels entry '
                     f'{tuple(m.channels)}')
  h, w, halvings = x.shape[1], x.shape[2], sum(map(bool, m.downsample))
  if h % 2**halvings or w % 2**halvings:
    raise ValueError(f'a {h}x{w} image cannot be halved {halvings} times; change downsample')
  sides = [h // 2**sum(map(bool, m.downsample[:i + 1])) for i in range(len(m.channels))]
  at = attention_index(sides, m.attention_resolution)
  prec = dict(dtype=m.dtype, param_dtype=m.param_dtype)
  cond = m.conditioning if m.num_classes else None
  if m.dtype is not None:
    x = x.astype(m.dtype)
  if cond == 'concat':
    plane = LabelMap(m.num_classes, h, w, m.embed_dim, m.spectral_norm, train, kernel_init=init,
                     embedding_init=init, name='label', **prec)(labels)
    x = jnp.concatenate([x, plane.astype(x.dtype)], axis=-1)
  for i, (feat, down) in enumerate(zip(m.channels, m.downsample)):
    x = DownBlock(feat, bool(down), i == 0, m.spectral_norm, conv_init, init, name=f'block{i}',
                  **prec)(x, train=train)
    if i == at:
      x = SelfAttention(m.spectral_norm, kernel_init=init, name='attention', **prec)(
          x, train=train)
  features = jnp.sum(nn.relu(x), axis=(1, 2))   # global sum pooling, as SNGAN
  m.sow('intermediates', 'features', features)
  out = ProjectionOutput(m.num_classes if cond == 'projection' else 0, m.spectral_norm, init,
                         name='head', **prec)(features, labels, train=train)
  if cond == 'acgan':
    classes = spectral(nn.Dense(m.num_classes, use_bias=False, kernel_init=init,
                                name='classifier', **prec), m.spectral_norm, train)(features)
    out = jnp.concatenate([out, classes], axis=-1)
  return out.astype(jnp.float32)


class ResNetDiscriminator(nn.Module):
  """SNGAN's ResNet D: [B, H, W, C], labels int [B] | None -> float32 logits [B, 1].

  An optimized first block, then DownBlocks (channels, downsample: one entry per block),
  ReLU, global sum pooling φ, Dense 1 (ψ); SN on every layer when spectral_norm.
  Conditioning (when num_classes > 0): 'projection' adds <embed(y), φ>; 'concat' joins a
  label plane (embed_dim) to the input; 'acgan' appends num_classes logits of a Dense on
  φ ([B, 1 + num_classes]). SelfAttention after the first block whose output side is
  attention_resolution (0: none).
  """
  channels: Sequence[int] = SNGAN_WIDTHS[32]['d']
  downsample: Sequence[bool] = SNGAN_WIDTHS[32]['d_down']
  num_classes: int = 0
  conditioning: str = 'projection'
  embed_dim: int = 50
  attention_resolution: int = 0
  spectral_norm: bool = True
  axis_name: Optional[str] = None   # unused: D has no BatchNorm
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (and labels)."""
    return discriminate(self, x, labels, train, glorot_relu, glorot)
