"""Differentiable augmentation of every image D sees (DiffAugment), at a fixed or an
adaptive probability (ADA's heuristic).

DiffAugment (Zhao et al. 2020, the authors' DiffAugment_pytorch.py): 'color' is random
brightness, saturation and contrast; 'translation' shifts by up to 1/8 of the side,
filling with zeros; 'cutout' zeroes a square of half the side. The ops run in the order
the policy lists them, each is differentiable w.r.t. the images (fakes carry G's
gradient through them), and every random draw is per sample. With probability p < 1
each function (brightness, saturation, contrast, translation, cutout) applies to each
sample independently with probability p, as ADA applies its transforms; p = 1 is
DiffAugment exactly.

The draws are made for the global batch from one key (draw), then applied (apply), so
that a pmap device can keep its own rows and match the global program.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

OPS = {'color': ('brightness', 'saturation', 'contrast'), 'translation': ('translation',),
       'cutout': ('cutout',)}
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """The augment.* fields the step uses (hashable)."""
  policy: tuple = ()          # op names in order, e.g. ('color', 'translation', 'cutout')
  p: float = 1.0              # probability per function and sample (the start value if adaptive)
  adaptive: bool = False      # ADA: adjust p from r_t = E[sign(D(x_real))]
  target: float = 0.6         # ADA's target for r_t
  adjust_every: int = 4       # G steps between adjustments
  kimg: float = 500.0         # ADA's speed: p can move by 1 per `kimg` thousand real images

  @classmethod
  def from_config(cls, aug):
    """From a config's `augment` ConfigDict ('' policy: off)."""
    return cls(policy=parse_policy(aug.get('policy', '')), p=float(aug.get('p', 1.0)),
               adaptive=bool(aug.get('adaptive', False)),
               target=float(aug.get('target', 0.6)),
               adjust_every=int(aug.get('adjust_every', 4)), kimg=float(aug.get('kimg', 500.0)))

  @property
  def active(self):
    """Whether D's inputs are augmented at all (no ops, or a fixed p of 0: no)."""
    return bool(self.policy) and (self.adaptive or self.p > 0)


def parse_policy(text):
  """'color,translation' -> ('color', 'translation'); raises ValueError on unknown ops."""
  ops = tuple(op.strip() for op in text.split(',') if op.strip())
  unknown = [op for op in ops if op not in OPS]
  if unknown:
    raise ValueError(f'unknown augmentation op(s) {unknown}; use a comma list of {list(OPS)}')
  return ops


def _shifts(side, ratio):
  return int(side * ratio + 0.5)


def draw(key, batch, image_shape, policy):
  """The random parameters of every function in `policy` for a batch: a dict of [batch]
  arrays (uniforms in [0, 1), integer shifts and cutout offsets), plus one uniform per
  function deciding whether it applies (compared with p)."""
  h, w = image_shape[:2]
  names = [f for op in policy for f in OPS[op]]
  out = {}
  for i, name in enumerate(names):
    k_apply, k1, k2 = jax.random.split(jax.random.fold_in(key, i), 3)
    out[f'{name}_apply'] = jax.random.uniform(k_apply, (batch,))
    if name == 'translation':
      sh, sw = _shifts(h, TRANSLATION_RATIO), _shifts(w, TRANSLATION_RATIO)
      out['translation_y'] = jax.random.randint(k1, (batch,), -sh, sh + 1)
      out['translation_x'] = jax.random.randint(k2, (batch,), -sw, sw + 1)
    elif name == 'cutout':
      ch, cw = _shifts(h, CUTOUT_RATIO), _shifts(w, CUTOUT_RATIO)
      out['cutout_y'] = jax.random.randint(k1, (batch,), 0, h + (1 - ch % 2))
      out['cutout_x'] = jax.random.randint(k2, (batch,), 0, w + (1 - cw % 2))
    else:
      out[name] = jax.random.uniform(k1, (batch,))
  return out


def _per_sample(v, x):
  return v.reshape((-1,) + (1,) * (x.ndim - 1))


def brightness(x, u):
  """x + (u - 0.5): a brightness shift in [-0.5, 0.5) per sample; x [B,H,W,C], u [B]."""
  return x + _per_sample(u - 0.5, x)


def saturation(x, u):
  """Scales each pixel's distance from its channel mean by 2u in [0, 2)."""
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * _per_sample(2.0 * u, x) + mean


def contrast(x, u):
  """Scales each image's distance from its mean by u + 0.5 in [0.5, 1.5)."""
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * _per_sample(u + 0.5, x) + mean


def translation(x, dy, dx):
  """Shifts image i by (dy[i], dx[i]) pixels, zeros where it leaves the frame:
  out[i, r, c] = x[i, r + dy, c + dx]."""
  b, h, w, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = jnp.clip(jnp.arange(h)[None, :] + dy[:, None] + 1, 0, h + 1)
  cols = jnp.clip(jnp.arange(w)[None, :] + dx[:, None] + 1, 0, w + 1)
  return padded[jnp.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def cutout(x, cy, cx):
  """Zeroes a (H/2 x W/2) square of image i whose centre is (cy[i], cx[i]), clipped to
  the frame."""
  _, h, w, _ = x.shape
  ch, cw = _shifts(h, CUTOUT_RATIO), _shifts(w, CUTOUT_RATIO)
  r = jnp.arange(h)[None, :] - (cy[:, None] - ch // 2)
  c = jnp.arange(w)[None, :] - (cx[:, None] - cw // 2)
  inside = ((r >= 0) & (r < ch))[:, :, None] & ((c >= 0) & (c < cw))[:, None, :]
  return x * (1.0 - inside[..., None].astype(x.dtype))


def _function(name, x, d):
  if name == 'translation':
    return translation(x, d['translation_y'], d['translation_x'])
  if name == 'cutout':
    return cutout(x, d['cutout_y'], d['cutout_x'])
  return {'brightness': brightness, 'saturation': saturation, 'contrast': contrast}[name](
      x, d[name])


def apply(x, draws, policy, p=1.0):
  """Augments images x [B,H,W,C] with `draws` (from draw, B rows); p: a float or a traced
  scalar. A function applies to sample i when its apply-uniform is < p (always when p is
  the constant 1)."""
  for op in policy:
    for name in OPS[op]:
      y = _function(name, x, draws)
      if isinstance(p, (int, float)) and p >= 1.0:
        x = y
      else:
        x = jnp.where(_per_sample(draws[f'{name}_apply'] < p, x), y, x)
  return x


def ada_adjust(p, r_t, *, target, images, kimg):
  """ADA's rule: p + sign(r_t - target) * images / (kimg * 1000), clipped to [0, 1].

  r_t = E[sign(D(x_real))] over the `images` reals seen since the last adjustment: near
  1 when D is confident on every real (overfitting), so p rises; below the target, falls.
  """
  return jnp.clip(p + jnp.sign(r_t - target) * images / (kimg * 1000.0), 0.0, 1.0)

