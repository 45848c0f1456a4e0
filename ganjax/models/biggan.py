"""BigGAN's G and D (Brock et al. 2019) at 32 to 128 pixels, after PyTorch-StudioGAN's
models/big_resnet.py.

G: a shared class embedding (shared_dim); z split into hierarchical chunks, one for the
first Dense and one per block; every block's BatchNorms take gain 1 + Dense(c) and bias
Dense(c) from c = [shared embedding, z chunk] (the z chunk alone when unconditional);
SelfAttention at one resolution; SN in G and D; orthogonal init on every conv, Dense
and embedding. D: SNGAN's residual D (resnet.discriminate) with BigGAN's widths, init
and attention, and the projection output when conditional.

The shared embedding is not spectrally normalized (StudioGAN, BigGAN-PyTorch).
Left out: orthogonal regularization, the large-batch tricks and the truncation trick (a
sampling choice); cross-replica BN is axis_name, and G's EMA belongs to the trainer.
BatchNorm: StudioGAN's eps 1e-4, momentum 0.1 (Flax 0.9).
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.attention import SelfAttention
from ganjax.models.layers import spectral
from ganjax.models.resnet import (G_CONDITIONING, UpBlock, attention_index, bottom_size,
                                  check_conditioning, discriminate, to_image)

ortho = nn.initializers.orthogonal()
EPSILON = 1e-4

# StudioGAN's big_resnet widths: g[0] at 4x4 then one per G block, d per D block,
# d_down the halving D blocks; latent = z_dim, attention = the side after attn_g_loc /
# attn_d_loc (the same in G and D).
BIGGAN_WIDTHS = {
    # src/configs/CIFAR10/BigGAN.yaml: z_dim 80, g/d_conv_dim 96, attn_g_loc [2], attn_d_loc [1].
    32: dict(g=(384,) * 4, d=(192,) * 4, d_down=(True, True, False, False), attention=16,
             latent=80),
    # src/configs/Baby_ImageNet/BigGAN.yaml (64x64): z_dim 100, conv dims 80, attn [3] / [1].
    64: dict(g=(1280, 640, 320, 160, 80), d=(80, 160, 320, 640, 1280),
             d_down=(True,) * 4 + (False,), attention=32, latent=100),
    # src/configs/ImageNet/BigGAN-256.yaml (128x128): z_dim 120, conv dims 96, attn [4] / [1].
    128: dict(g=(1536, 1536, 768, 384, 192, 96), d=(96, 192, 384, 768, 1536, 1536),
              d_down=(True,) * 5 + (False,), attention=64, latent=120),
}


class BigGANGenerator(nn.Module):
  """BigGAN's G: z [B, latent], labels int [B] | None -> [B, H, W, C] in [-1, 1].

  z splits into len(channels) chunks (sizes as jnp.array_split: the first ones are one
  longer when latent does not divide): chunk 0 -> Dense to bottom x bottom x channels[0],
  chunk i -> block i's conditional BN. Conditioning (when num_classes > 0): 'cbn', the
  shared embedding joins every block's chunk; 'concat', it joins chunk 0 instead.
  """
  image_shape: Sequence[int]
  channels: Sequence[int] = BIGGAN_WIDTHS[32]['g']
  shared_dim: int = 128
  attention_resolution: int = BIGGAN_WIDTHS[32]['attention']
  num_classes: int = 0
  conditioning: str = 'cbn'
  spectral_norm: bool = True
  axis_name: Optional[str] = None
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    """Maps latents (and class labels) to images in [-1, 1]."""
    check_conditioning(self, G_CONDITIONING, labels)
    ups = len(self.channels) - 1
    if z.shape[-1] < ups + 1:
      raise ValueError(f'latent size {z.shape[-1]} < {ups + 1} z chunks (1 + one per block)')
    bh, bw = bottom_size(self.image_shape, ups)
    at = attention_index([bh * 2**(i + 1) for i in range(ups)], self.attention_resolution)
    prec = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    cond = self.conditioning if self.num_classes else None
    if self.dtype is not None:
      z = z.astype(self.dtype)
    first, *chunks = jnp.array_split(z, ups + 1, axis=-1)
    if cond:
      shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=ortho, name='shared',
                        **prec)(labels)
      if cond == 'cbn':
        chunks = [jnp.concatenate([shared, c], axis=-1) for c in chunks]
      else:
        first = jnp.concatenate([first, shared], axis=-1)
    x = spectral(nn.Dense(bh * bw * self.channels[0], kernel_init=ortho, name='dense', **prec),
                 self.spectral_norm, train)(first)
    x = x.reshape((z.shape[0], bh, bw, self.channels[0]))
    for i, (feat, c) in enumerate(zip(self.channels[1:], chunks)):
      x = UpBlock(feat, 0, self.spectral_norm, EPSILON, ortho, ortho, self.axis_name,
                  name=f'block{i}', **prec)(x, c, train=train)
      if i == at:
        x = SelfAttention(self.spectral_norm, kernel_init=ortho, name='attention', **prec)(
            x, train=train)
    return to_image(self, x, train, EPSILON, ortho)


class BigGANDiscriminator(nn.Module):
  """BigGAN's D: resnet.ResNetDiscriminator's structure with BigGAN's widths, orthogonal
  init and SelfAttention at attention_resolution; [B, H, W, C], labels -> float32 [B, 1]
  ([B, 1 + num_classes] for 'acgan')."""
  channels: Sequence[int] = BIGGAN_WIDTHS[32]['d']
  downsample: Sequence[bool] = BIGGAN_WIDTHS[32]['d_down']
  attention_resolution: int = BIGGAN_WIDTHS[32]['attention']
  num_classes: int = 0
  conditioning: str = 'projection'
  embed_dim: int = 50
  spectral_norm: bool = True
  axis_name: Optional[str] = None   # unused: D has no BatchNorm
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    """Scores images (and labels)."""
    return discriminate(self, x, labels, train, ortho, ortho)
