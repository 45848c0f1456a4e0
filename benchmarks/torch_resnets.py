"""SNGAN's and BigGAN's ResNet G and D for 32x32 images in plain PyTorch, after the layer
structure of PyTorch-StudioGAN (POSTECH-CVLab/PyTorch-StudioGAN, commit
947b35e9835b67860fdce44d337f6d7fee7c8db3), for benchmarks/resnet.py's PyTorch contender.

Written anew from these places in that commit (the code is ours; the structure, widths,
layer order and parameter layout are theirs):
  src/models/resnet.py      GenBlock L15-59, Generator L62-169 (SNGAN: one-hot cBN input),
                            DiscOptBlock L172-204, DiscBlock L207-254, Discriminator
                            L257-442 (32x32: widths L262/L270, downsampling L279, the
                            projection L333-334 / L400-401)
  src/models/big_resnet.py  GenBlock L15-42, Generator L45-158 (hierarchical z: chunks of
                            z_dim // (blocks + 1), L77-79 / L132-141; shared class embedding
                            L96-98), the same D at L161-428
  src/utils/ops.py          ConditionalBatchNorm2d L14-28 (BN without affine, eps 1e-4, gains
                            1 + Linear(y) and biases Linear(y), both bias-free), SelfAttention
                            L31-103 (theta/phi C/8, g C/2, 2x2 max-pooled phi and g, sigma
                            from 0), init_weights L135-162 (orthogonal), sn* L195-224
                            (torch.nn.utils.spectral_norm, eps 1e-6), batchnorm_2d L227-228
  src/config.py             define_modules L435-495 (SN on every conv / linear / D embedding
                            of a net when apply_*_sn; cBN whenever backbone is big_resnet),
                            defaults L59-120 (z_dim 128, conv dims 64, ReLU, ortho init) and
                            L220-256 (batch 64, Adam 2e-4 (0.5, 0.999), 5 D updates per step)
  src/configs/CIFAR10/SNGAN.yaml   resnet backbone, cBN G, projection D, SN in D, hinge
  src/configs/CIFAR10/BigGAN.yaml  big_resnet, cBN G, projection D, SN in G and D, attention
                                   after G block 2 and D block 1, z_dim 80, shared 128,
                                   conv dims 96, G EMA 0.9999

Tensors are NCHW (torch's layout). D returns [B, 1] (StudioGAN squeezes it to [B]).
StudioGAN's activations are nn.ReLU(inplace=True), so in its DiscBlock the shortcut x0,
an alias of x, is ReLU-ed too; here (as in sngan_projection and ganjax) the shortcut
takes x itself. With non-inplace ReLUs in StudioGAN's classes and these weights, G and
D outputs agree exactly; parameter and buffer shapes are the same either way.
"""

import torch
from torch import nn
import torch.nn.functional as F

SN_EPS = 1e-6   # ops.snconv2d / snlinear / sn_embedding
BN_EPS = 1e-4   # ops.batchnorm_2d, ConditionalBatchNorm2d


def spectral(layer, enabled):
  """`layer` under torch.nn.utils.spectral_norm (a power iteration per training forward),
  as StudioGAN's sn* wrappers, or as it is."""
  return nn.utils.spectral_norm(layer, eps=SN_EPS) if enabled else layer


def conv(cin, cout, kernel, sn, bias=True):
  """A stride-1 'same' conv (kernel 1 or 3), spectrally normalized when sn."""
  return spectral(nn.Conv2d(cin, cout, kernel, 1, kernel // 2, bias=bias), sn)


def linear(cin, cout, sn, bias=True):
  return spectral(nn.Linear(cin, cout, bias=bias), sn)


class ConditionalBatchNorm2d(nn.Module):
  """ops.ConditionalBatchNorm2d: BN(x) * (1 + W_g y) + W_b y, per sample and channel."""

  def __init__(self, in_features, channels, sn):
    super().__init__()
    self.bn = nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.1, affine=False)
    self.gain = linear(in_features, channels, sn, bias=False)
    self.bias = linear(in_features, channels, sn, bias=False)

  def forward(self, x, y):
    gain = (1 + self.gain(y))[:, :, None, None]
    return self.bn(x) * gain + self.bias(y)[:, :, None, None]


class SelfAttention(nn.Module):
  """ops.SelfAttention (SAGAN's, as BigGAN uses it): x + sigma * attention(x)."""

  def __init__(self, channels, sn):
    super().__init__()
    self.theta = conv(channels, channels // 8, 1, sn, bias=False)
    self.phi = conv(channels, channels // 8, 1, sn, bias=False)
    self.g = conv(channels, channels // 2, 1, sn, bias=False)
    self.attn = conv(channels // 2, channels, 1, sn, bias=False)
    self.sigma = nn.Parameter(torch.zeros(1))

  def forward(self, x):
    b, c, h, w = x.shape
    theta = self.theta(x).view(b, c // 8, h * w)
    phi = F.max_pool2d(self.phi(x), 2).view(b, c // 8, h * w // 4)
    attn = torch.softmax(torch.bmm(theta.permute(0, 2, 1), phi), dim=-1)   # [b, hw, hw/4]
    g = F.max_pool2d(self.g(x), 2).view(b, c // 2, h * w // 4)
    out = torch.bmm(g, attn.permute(0, 2, 1)).view(b, c // 2, h, w)
    return x + self.sigma * self.attn(out)


class GenBlock(nn.Module):
  """resnet.GenBlock / big_resnet.GenBlock: BN-ReLU-up2-conv3-BN-ReLU-conv3, plus a
  nearest-upsampled 1x1 conv shortcut. affine_dim > 0: conditional BN on a [B, affine_dim]
  vector; 0: BatchNorm with its own scale and offset (an unconditional SNGAN)."""

  def __init__(self, cin, cout, affine_dim, sn):
    super().__init__()
    if affine_dim:
      self.bn1 = ConditionalBatchNorm2d(affine_dim, cin, sn)
      self.bn2 = ConditionalBatchNorm2d(affine_dim, cout, sn)
    else:
      self.bn1 = nn.BatchNorm2d(cin, eps=BN_EPS)
      self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
    self.conditional = bool(affine_dim)
    self.conv2d0 = conv(cin, cout, 1, sn)
    self.conv2d1 = conv(cin, cout, 3, sn)
    self.conv2d2 = conv(cout, cout, 3, sn)

  def forward(self, x, affine=None):
    bn = (lambda m, h: m(h, affine)) if self.conditional else (lambda m, h: m(h))
    h = F.interpolate(F.relu(bn(self.bn1, x)), scale_factor=2, mode='nearest')
    h = self.conv2d2(F.relu(bn(self.bn2, self.conv2d1(h))))
    return h + self.conv2d0(F.interpolate(x, scale_factor=2, mode='nearest'))


class Generator(nn.Module):
  """StudioGAN's ResNet G at 32x32: Linear(z) -> 4x4x(4 g_conv_dim) -> 3 GenBlocks (each
  x2) -> BN-ReLU-conv3 -> tanh, with SelfAttention after the blocks in attn_loc (1-based).

  hierarchical=False (resnet.py, SNGAN): z whole into the Linear; num_classes > 0: every
  BN conditional on the one-hot label. hierarchical=True (big_resnet.py, BigGAN): z split
  into blocks + 1 chunks, the first into the Linear, chunk i + 1 joined to the shared
  class embedding (shared_dim; none when num_classes is 0) conditions block i's BNs.
  """

  def __init__(self, z_dim=128, g_conv_dim=64, num_classes=0, *, hierarchical=False,
               shared_dim=0, attn_loc=(), sn=False, out_channels=3, bottom=4):
    super().__init__()
    width, blocks = 4 * g_conv_dim, 3   # g_in_dims / g_out_dims at '32'
    self.z_dim, self.num_classes, self.hierarchical = z_dim, num_classes, hierarchical
    self.width, self.bottom = width, bottom
    if hierarchical:
      assert z_dim % (blocks + 1) == 0, 'z_dim should be divided by the number of blocks'
      self.chunk = z_dim // (blocks + 1)
      affine_dim, z_in = self.chunk + (shared_dim if num_classes else 0), self.chunk
    else:
      affine_dim, z_in = num_classes, z_dim
    self.linear0 = linear(z_in, width * bottom * bottom, sn)
    if hierarchical:   # not spectrally normalized (ops.embedding)
      self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
    layers = []
    for index in range(blocks):
      layers.append(GenBlock(width, width, affine_dim, sn))
      if index + 1 in attn_loc:
        layers.append(SelfAttention(width, sn))
    self.blocks = nn.ModuleList(layers)
    self.bn4 = nn.BatchNorm2d(width, eps=BN_EPS)
    self.conv2d5 = conv(width, out_channels, 3, sn)
    init_weights(self)

  def forward(self, z, labels=None):
    if self.hierarchical:
      zs = torch.split(z, self.chunk, 1)
      z, chunks = zs[0], zs[1:]
      if self.num_classes:
        shared = self.shared(labels)
        affines = [torch.cat([shared, c], 1) for c in chunks]
      else:
        affines = list(chunks)
    else:
      one_hot = F.one_hot(labels, self.num_classes).float() if self.num_classes else None
      affines = [one_hot] * len(self.blocks)
    h = self.linear0(z).view(-1, self.width, self.bottom, self.bottom)
    counter = 0
    for block in self.blocks:
      if isinstance(block, SelfAttention):
        h = block(h)
      else:
        h = block(h, affines[counter])
        counter += 1
    return torch.tanh(self.conv2d5(F.relu(self.bn4(h))))


class DiscOptBlock(nn.Module):
  """The first D block: conv3-ReLU-conv3-avgpool, plus avgpool-conv1 shortcut."""

  def __init__(self, cin, cout, sn):
    super().__init__()
    self.conv2d0 = conv(cin, cout, 1, sn)
    self.conv2d1 = conv(cin, cout, 3, sn)
    self.conv2d2 = conv(cout, cout, 3, sn)

  def forward(self, x):
    h = F.avg_pool2d(self.conv2d2(F.relu(self.conv2d1(x))), 2)
    return h + self.conv2d0(F.avg_pool2d(x, 2))


class DiscBlock(nn.Module):
  """ReLU-conv3-ReLU-conv3(-avgpool), plus a conv1(-avgpool) shortcut when it downsamples
  or changes width (else the identity)."""

  def __init__(self, cin, cout, sn, downsample=True):
    super().__init__()
    self.downsample = downsample
    self.conv2d0 = conv(cin, cout, 1, sn) if downsample or cin != cout else None
    self.conv2d1 = conv(cin, cout, 3, sn)
    self.conv2d2 = conv(cout, cout, 3, sn)

  def forward(self, x):
    h, x0 = self.conv2d2(F.relu(self.conv2d1(F.relu(x)))), x
    if self.downsample:
      h = F.avg_pool2d(h, 2)
    if self.conv2d0 is not None:   # present whenever it downsamples
      x0 = self.conv2d0(x)
      if self.downsample:
        x0 = F.avg_pool2d(x0, 2)
    return h + x0


class Discriminator(nn.Module):
  """StudioGAN's ResNet D at 32x32 (resnet.py and big_resnet.py alike): OptBlock (down),
  DiscBlock (down), 2 DiscBlocks, all 2 d_conv_dim wide, SelfAttention after the blocks in
  attn_loc -> ReLU -> sum over space -> Linear(1); num_classes > 0: plus the projection
  <Embedding(y), h> (Miyato & Koyama). No BN: the config's SN (apply_d_sn)."""

  def __init__(self, d_conv_dim=64, num_classes=0, *, attn_loc=(), sn=True, in_channels=3):
    super().__init__()
    width, down = 2 * d_conv_dim, (True, True, False, False)   # d_*_dims / d_down at '32'
    layers = [DiscOptBlock(in_channels, width, sn)]
    if 1 in attn_loc:
      layers.append(SelfAttention(width, sn))
    for index in range(1, len(down)):
      layers.append(DiscBlock(width, width, sn, down[index]))
      if index + 1 in attn_loc:
        layers.append(SelfAttention(width, sn))
    self.blocks = nn.ModuleList(layers)
    self.linear1 = linear(width, 1, sn)
    self.embedding = spectral(nn.Embedding(num_classes, width), sn) if num_classes else None
    init_weights(self)

  def forward(self, x, labels=None):
    h = x
    for block in self.blocks:
      h = block(h)
    h = torch.sum(F.relu(h), dim=(2, 3))
    out = self.linear1(h)
    if self.embedding is not None:
      out = out + torch.sum(self.embedding(labels) * h, 1, keepdim=True)
    return out


def init_weights(net):
  """ops.init_weights(..., 'ortho'): orthogonal conv / linear / embedding weights, zero
  biases (under SN, the weight is weight_orig)."""
  for m in net.modules():
    if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
      w = getattr(m, 'weight_orig', None)
      w = m.weight if w is None else w
      nn.init.orthogonal_(w)
      if getattr(m, 'bias', None) is not None:
        nn.init.zeros_(m.bias)


def sngan(num_classes=0, z_dim=128, g_conv_dim=64, d_conv_dim=64):
  """(G, D) of StudioGAN's CIFAR10/SNGAN.yaml (num_classes=10: cBN G, projection D;
  0: the same nets without conditioning)."""
  return (Generator(z_dim, g_conv_dim, num_classes),
          Discriminator(d_conv_dim, num_classes, sn=True))


def biggan(num_classes=10, z_dim=80, shared_dim=128, g_conv_dim=96, d_conv_dim=96,
           attn_g=(2,), attn_d=(1,)):
  """(G, D) of StudioGAN's CIFAR10/BigGAN.yaml."""
  return (Generator(z_dim, g_conv_dim, num_classes, hierarchical=True, shared_dim=shared_dim,
                    attn_loc=attn_g, sn=True),
          Discriminator(d_conv_dim, num_classes, attn_loc=attn_d, sn=True))


def count_params(net):
  """Parameters, all trained (SN's u / v and BN's running statistics are buffers), also
  while a training loop has their requires_grad off."""
  return sum(p.numel() for p in net.parameters())
