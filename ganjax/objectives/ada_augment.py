"""StyleGAN2-ADA's 'bgc' augmentation pipeline (Karras et al. 2020), as pure functions.

'bgc' is the official train.py's default augpipe: pixel blitting (xflip, rotate90, xint),
general geometric transforms (scale, rotate, aniso, xfrac) and colour transforms
(brightness, contrast, lumaflip, hue, saturation), each applied per sample with
probability p (rotate: twice, before and after aniso, each with 1 - sqrt(1 - p)). The
numbers follow training/augment.py of NVlabs/stylegan2-ada-pytorch (commit d72cc7d):
the geometric transforms compose into one inverse 3x3 matrix per sample, executed by one
resampling exactly as the official forward (reflect pad, 2x upsample with the sym6
wavelet low-pass, bilinear sampling with zeros outside, align_corners=False, 2x
downsample with the same filter; so, as there, a flip or quarter turn is not an exact
pixel copy: sym6 is asymmetric); the colour transforms compose into one 4x4 matrix (a
grayscale image uses the mean of its RGB rows, hue and saturation off, as the official).

Why: ADA keeps D from overfitting a small data set with augmentations that do not leak
into G's samples for p < ~0.8, and every op is differentiable w.r.t. the images (fakes
carry G's gradient through it).

The one deviation: the official pads by a margin computed from the whole batch's
matrices (at most side - 1); here every batch is padded by side - 1, so that shapes are
static and a sample's result does not depend on the rest of its batch. The two agree
wherever the official margin covers the filters' support, which it is sized to do (on
single-sample batches, the official's tightest margins, within 1e-4 but for rare
strong zoom-outs, ~2e-4 at the corners' filter tails).

draw makes every random number for the global batch from one key ([B, K] in the official
code's call order, so a pmap device keeps its own rows); apply derives the discrete
draws and the gates from them, for a fixed or a traced p.
"""

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np

# The official columns in call order: (name, 'u' uniform | 'n' normal); the colour's hue
# and saturation come last (the official draws them only for RGB images).
COLUMNS = (('xflip', 'u'), ('xflip_on', 'u'), ('rotate90', 'u'), ('rotate90_on', 'u'),
           ('xint_x', 'u'), ('xint_y', 'u'), ('xint_on', 'u'), ('scale', 'n'),
           ('scale_on', 'u'), ('rotate_pre', 'u'), ('rotate_pre_on', 'u'), ('aniso', 'n'),
           ('aniso_on', 'u'), ('rotate_post', 'u'), ('rotate_post_on', 'u'),
           ('xfrac_x', 'n'), ('xfrac_y', 'n'), ('xfrac_on', 'u'), ('brightness', 'n'),
           ('brightness_on', 'u'), ('contrast', 'n'), ('contrast_on', 'u'),
           ('lumaflip', 'u'), ('lumaflip_on', 'u'), ('hue', 'u'), ('hue_on', 'u'),
           ('saturation', 'n'), ('saturation_on', 'u'),
           ('cutout_on', 'u'), ('cutout_x', 'u'), ('cutout_y', 'u'))
COL = {name: i for i, (name, _) in enumerate(COLUMNS)}
# The pipelines' probability multipliers: StyleGAN2-ADA train.py's augpipe 'bgc', and
# R3GAN train.py's (--aug=1: bgc with the colour ops at half and cutout). Every op of
# both is on, so the official draws come in COLUMNS' order for either.
PIPELINES = {
    'bgc': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    'r3gan': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                  brightness=0.5, contrast=0.5, lumaflip=0.5, hue=0.5, saturation=0.5,
                  cutout=1),
}
CUTOUT_SIZE = 0.5   # the cutout rectangle's side, relative to the image's
# The official AugmentPipe's defaults.
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057,
        -0.048311742585633, 0.4910559419267466, 0.787641141030194, 0.3379294217276218,
        -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148)
HZ_PAD = len(SYM6) // 4   # output pixels of filter support beyond the frame
LUMA = (np.asarray([1, 1, 1, 0]) / np.sqrt(3)).astype(np.float32)   # the luma axis
_HIGH = jax.lax.Precision.HIGHEST


def draw(key, batch):
  """[batch, len(COLUMNS)] float32: uniforms in [0, 1), normals in the 'n' columns."""
  ku, kn = jax.random.split(key)
  u = jax.random.uniform(ku, (batch, len(COLUMNS)))
  n = jax.random.normal(kn, (batch, len(COLUMNS)))
  return jnp.where(jnp.asarray([kind == 'n' for _, kind in COLUMNS]), n, u)


def _matrix(rows):
  """Rows of scalars or [B] arrays -> [B, R, C] float32."""
  b = next((jnp.shape(v)[0] for row in rows for v in row if jnp.ndim(v)), 1)
  full = [[jnp.broadcast_to(jnp.asarray(v, jnp.float32), (b,)) for v in row] for row in rows]
  return jnp.stack([jnp.stack(row, -1) for row in full], -2)


def _translate(tx, ty):
  return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale(sx, sy):
  return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate(theta):
  return _matrix([[jnp.cos(theta), jnp.sin(-theta), 0], [jnp.sin(theta), jnp.cos(theta), 0],
                  [0, 0, 1]])


def _gated(d, name, p, value, off):
  """value where sample's '<name>_on' uniform < p, else off."""
  return jnp.where(d[:, COL[name + '_on']] < p, value, off)


def _strengths(p, pipeline):
  """{op: p x its multiplier} of a pipeline (0 for ops it lacks)."""
  return collections.defaultdict(float, {op: p * m for op, m in PIPELINES[pipeline].items()})


def geometry(d, p, height, width, pipeline='bgc'):
  """The inverse transform G_inv [B, 3, 3] (output pixel -> input pixel, centred)."""
  q = _strengths(p, pipeline)
  flip = _gated(d, 'xflip', q['xflip'], jnp.floor(d[:, COL['xflip']] * 2), 0.0)
  quarter = _gated(d, 'rotate90', q['rotate90'], jnp.floor(d[:, COL['rotate90']] * 4), 0.0)
  t = (d[:, [COL['xint_x'], COL['xint_y']]] * 2 - 1) * XINT_MAX
  t = _gated(d, 'xint', q['xint'], t.T, 0.0)
  s = _gated(d, 'scale', q['scale'], jnp.exp2(d[:, COL['scale']] * SCALE_STD), 1.0)
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - jnp.asarray(q['rotate'], jnp.float32), 0, 1))
  pre = _gated(d, 'rotate_pre', p_rot, (d[:, COL['rotate_pre']] * 2 - 1) * np.pi * ROTATE_MAX,
               0.0)
  a = _gated(d, 'aniso', q['aniso'], jnp.exp2(d[:, COL['aniso']] * ANISO_STD), 1.0)
  post = _gated(d, 'rotate_post', p_rot,
                (d[:, COL['rotate_post']] * 2 - 1) * np.pi * ROTATE_MAX, 0.0)
  f = _gated(d, 'xfrac', q['xfrac'], d[:, [COL['xfrac_x'], COL['xfrac_y']]].T * XFRAC_STD, 0.0)
  # The inverses of: x-flip, quarter turns, integer shift, scale, rotation, aniso,
  # rotation, fractional shift; G_inv = G_inv @ step, in the official order.
  steps = [_scale(1 - 2 * flip, 1.0), _rotate(np.pi / 2 * quarter),
           _translate(-jnp.round(t[0] * width), -jnp.round(t[1] * height)),
           _scale(1 / s, 1 / s), _rotate(pre), _scale(1 / a, a), _rotate(post),
           _translate(-f[0] * width, -f[1] * height)]
  g = steps[0]
  for m in steps[1:]:
    g = jnp.matmul(g, m, precision=_HIGH)
  return g


def colour(d, p, channels, pipeline='bgc'):
  """The colour transform C [B, 4, 4] (homogeneous RGB in -> out)."""
  q = _strengths(p, pipeline)
  eye = jnp.eye(4, dtype=jnp.float32)
  vv = jnp.asarray(np.outer(LUMA, LUMA))
  b = _gated(d, 'brightness', q['brightness'], d[:, COL['brightness']] * BRIGHTNESS_STD, 0.0)
  c = _gated(d, 'contrast', q['contrast'], jnp.exp2(d[:, COL['contrast']] * CONTRAST_STD), 1.0)
  i = _gated(d, 'lumaflip', q['lumaflip'], jnp.floor(d[:, COL['lumaflip']] * 2), 0.0)
  # Brightness, contrast, luma flip (a Householder reflection), hue (a rotation about the
  # luma axis), saturation; C = step @ C, in the official order.
  steps = [_matrix([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]]),
           _matrix([[c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]]),
           eye - 2 * vv * i[:, None, None]]
  if channels > 1:
    theta = _gated(d, 'hue', q['hue'], (d[:, COL['hue']] * 2 - 1) * np.pi * HUE_MAX, 0.0)
    s = _gated(d, 'saturation', q['saturation'], jnp.exp2(d[:, COL['saturation']] * SATURATION_STD), 1.0)
    steps += [_rotate3d(theta), vv + (eye - vv) * s[:, None, None]]
  m = steps[0]
  for step in steps[1:]:
    m = jnp.matmul(step, m, precision=_HIGH)
  return m


def _rotate3d(theta):
  """[B, 4, 4]: rotation by theta about the luma axis."""
  vx, vy, vz = (float(v) for v in LUMA[:3])
  s, c = jnp.sin(theta), jnp.cos(theta)
  cc = 1 - c
  return _matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                  [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                  [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                  [0, 0, 0, 1]])


@functools.lru_cache(maxsize=None)
def _filters(n):
  """(up [2(3n - 2), n], down [n, 2(n + 2 HZ_PAD)]) for a side of n pixels: reflect
  padding by n - 1 (the official margin's largest) then the official upsample2d (sym6,
  gain 2 per axis), and the official downsample2d (flip_filter, padding -2 HZ_PAD), as
  matrices."""
  f = np.asarray(SYM6, np.float32).astype(np.float64)
  f /= f.sum()
  taps, padded = len(f), 3 * n - 2
  src = np.abs(np.arange(padded) - (n - 1))
  src = np.where(src > n - 1, 2 * (n - 1) - src, src)   # reflect, no edge repeat
  # Output k of the zero-inserted, (6, 5)-padded signal meets input i at tap t.
  t = (taps + 1) // 2 + 2 * np.arange(padded)[None, :] - np.arange(2 * padded)[:, None]
  weights = np.where((t >= 0) & (t < taps), 2 * f[::-1][np.clip(t, 0, taps - 1)], 0.0)
  up = np.zeros((2 * padded, n))
  np.add.at(up.T, src, weights.T)
  down = np.zeros((n, 2 * (n + 2 * HZ_PAD)))
  for k in range(n):
    down[k, 1 + 2 * k:1 + 2 * k + taps] = f
  return up.astype(np.float32), down.astype(np.float32)


def _sample_points(g_inv, n_in, n_out):
  """Source (row, col) indices into the upsampled image [B, n_out, n_out] of each output
  grid pixel: the official chain G_inv -> 2x, half-pixel shifts, align_corners=False."""
  shift, half = _translate(-0.5, -0.5)[:1], _translate(0.5, 0.5)[:1]
  g = shift @ _scale(2.0, 2.0)[:1] @ g_inv @ _scale(0.5, 0.5)[:1] @ half
  j = jnp.arange(n_out, dtype=jnp.float32) - (n_out - 1) / 2
  gx, gy = j[None, None, :], j[None, :, None]
  sx = g[:, 0, 0, None, None] * gx + g[:, 0, 1, None, None] * gy + g[:, 0, 2, None, None]
  sy = g[:, 1, 0, None, None] * gx + g[:, 1, 1, None, None] * gy + g[:, 1, 2, None, None]
  return sy + (n_in - 1) / 2, sx + (n_in - 1) / 2


def _bilinear(img, sy, sx):
  """img [B, H, W, C] sampled at float indices sy, sx [B, h, w] (zeros outside)."""
  b, h, w, c = img.shape
  flat = img.reshape(b, h * w, c)
  y0, x0 = jnp.floor(sy), jnp.floor(sx)
  out = 0.0
  for dy in (0, 1):
    for dx in (0, 1):
      yy, xx = y0 + dy, x0 + dx
      weight = (1 - jnp.abs(sy - yy)) * (1 - jnp.abs(sx - xx))
      inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
      idx = (jnp.clip(yy, 0, h - 1) * w + jnp.clip(xx, 0, w - 1)).astype(jnp.int32)
      vals = jnp.take_along_axis(flat, idx.reshape(b, -1, 1), axis=1)
      out = out + vals.reshape(sy.shape + (c,)) * (weight * inside)[..., None]
  return out


def resample(x, g_inv):
  """x [B, H, W, C] (H == W) transformed by G_inv [B, 3, 3] as the official geometric
  step: padded and upsampled (two matmuls), sampled, downsampled and cropped (two)."""
  _, h, w, _ = x.shape
  if h != w:
    raise ValueError(f'bgc augments square images, got {h}x{w}')
  up, down = _filters(h)
  big = jnp.einsum('ah,bhwc,gw->bagc', up, x, up, precision=_HIGH)
  sy, sx = _sample_points(g_inv, big.shape[1], down.shape[1])
  moved = _bilinear(big, sy, sx)
  return jnp.einsum('ah,bhwc,gw->bagc', down, moved, down, precision=_HIGH)


def recolour(x, c):
  """x [B, H, W, C] (C 3, or 1: the mean of the RGB rows) through C [B, 4, 4]."""
  if x.shape[-1] == 3:
    return (jnp.einsum('bij,bhwj->bhwi', c[:, :3, :3], x, precision=_HIGH)
            + c[:, None, None, :3, 3])
  if x.shape[-1] == 1:
    row = jnp.mean(c[:, :3, :], axis=1)
    return x * jnp.sum(row[:, :3], axis=1)[:, None, None, None] + row[:, None, None, None, 3]
  raise ValueError(f'bgc augments RGB (3 channels) or L (1 channel) images, got '
                   f'{x.shape[-1]} channels')


def _unless_identity(m, x, y):
  """y, but x for the samples whose matrix m [B, n, n] is the identity."""
  same = jnp.all(m == jnp.eye(m.shape[-1], dtype=m.dtype), axis=(1, 2))
  return jnp.where(same[:, None, None, None], x, y)


def cutout(x, d, p):
  """Zeroes a CUTOUT_SIZE-sided rectangle at a uniform centre where the sample's gate is
  < p (the official: pixel centres within half the size of it in both axes)."""
  _, h, w, _ = x.shape
  size = _gated(d, 'cutout', p, CUTOUT_SIZE, 0.0)[:, None]
  inside_x = jnp.abs((jnp.arange(w) + 0.5) / w - d[:, COL['cutout_x'], None]) < size / 2
  inside_y = jnp.abs((jnp.arange(h) + 0.5) / h - d[:, COL['cutout_y'], None]) < size / 2
  inside = inside_y[:, :, None] & inside_x[:, None, :]
  return x * (1.0 - inside[..., None].astype(x.dtype))


def apply(x, draws, p, pipeline='bgc'):
  """x [B, H, W, C] in [-1, 1] augmented with draws [B, len(COLUMNS)] at probability p
  (a float or a traced scalar) by a PIPELINES pipeline; C 1 or 3, H == W."""
  if isinstance(p, (int, float)) and p == 0:
    return x
  _, h, w, channels = x.shape
  g_inv = geometry(draws, p, h, w, pipeline)
  x = _unless_identity(g_inv, x, resample(x, g_inv))
  c = colour(draws, p, channels, pipeline)
  x = _unless_identity(c, x, recolour(x, c))
  return cutout(x, draws, p * PIPELINES[pipeline]['cutout']) if 'cutout' in PIPELINES[
      pipeline] else x
