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

StyleGAN2-ADA's own pipeline is the policy 'bgc' (alone; ada_augment.py): the official
default augpipe, blit + geometric + colour transforms, each per sample with probability
p, as training/augment.py of stylegan2-ada-pytorch does them; 'r3gan' is R3GAN's variant
(the colour ops at half the probability, and cutout).

The draws are made for the global batch from one key (draw), then applied (apply), so
that a pmap device can keep its own rows and match the global program.
"""

import dataclasses

import jax
import jax.numpy as jnp

from ganjax.objectives import ada_augment

OPS = {'color': ('brightness', 'saturation', 'contrast'), 'translation': ('translation',),
       'cutout': ('cutout',)}
# StyleGAN2-ADA's pipeline and R3GAN's variant of it, each a policy of its own.
ADA_POLICIES = tuple(ada_augment.PIPELINES)
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
# augment.p's default, 'auto': a float (not None), so that config flags and sweep grids
# parse p as one; start_p says what it means.
AUTO_P = -1.0


def start_p(p, adaptive):
  """augment.p as set, or for AUTO_P its default: 0 if adaptive (ADA starts there), else 1."""
  return (0.0 if adaptive else 1.0) if p == AUTO_P else p


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
    adaptive = bool(aug.get('adaptive', False))
    return cls(policy=parse_policy(aug.get('policy', '')),
               p=float(start_p(aug.get('p', AUTO_P), adaptive)), adaptive=adaptive,
               target=float(aug.get('target', 0.6)),
               adjust_every=int(aug.get('adjust_every', 4)), kimg=float(aug.get('kimg', 500.0)))

  @property
  def active(self):
    """Whether D's inputs are augmented at all (no ops, or a fixed p of 0: no)."""
    return bool(self.policy) and (self.adaptive or self.p > 0)


def parse_policy(text):
  """'color,translation' -> ('color', 'translation'), 'bgc' -> ('bgc',); raises
  ValueError on unknown ops and on a whole pipeline ('bgc', 'r3gan') mixed with others."""
  ops = tuple(op.strip() for op in text.split(',') if op.strip())
  unknown = [op for op in ops if op not in OPS and op not in ADA_POLICIES]
  if unknown:
    raise ValueError(f'unknown augmentation op(s) {unknown}; use a comma list of {list(OPS)}'
                     f', or one of {list(ADA_POLICIES)} alone')
  whole = [op for op in ops if op in ADA_POLICIES]
  if whole and len(ops) > 1:
    raise ValueError(f"{whole[0]!r} (a whole pipeline: StyleGAN2-ADA's 'bgc', R3GAN's "
                     f"'r3gan') goes alone: set policy={whole[0]}, or a comma list of "
                     f'DiffAugment ops {list(OPS)} without it')
  return ops


def _shifts(side, ratio):
  return int(side * ratio + 0.5)


# Per function, the uniforms it reads: whether it applies (< p), then its parameters.
PARAMS = {'brightness': ('apply', 'u'), 'saturation': ('apply', 'u'),
          'contrast': ('apply', 'u'), 'translation': ('apply', 'dy', 'dx'),
          'cutout': ('apply', 'cy', 'cx')}


def columns(policy):
  """{(function, parameter): column} of the uniforms draw() makes for a policy."""
  names = [(f, q) for op in policy for f in OPS[op] for q in PARAMS[f]]
  return {name: i for i, name in enumerate(names)}


def draw(key, batch, policy):
  """The random numbers of every function in `policy` for a batch: uniforms in [0, 1)
  [batch, len(columns(policy))], one per sample and parameter (a single draw: few ops
  for XLA to compile, and a pmap device can keep its own rows). 'bgc', 'r3gan':
  ada_augment.draw's [batch, len(ada_augment.COLUMNS)] uniforms and normals."""
  if policy[:1] and policy[0] in ADA_POLICIES:
    return ada_augment.draw(key, batch)
  return jax.random.uniform(key, (batch, len(columns(policy))))


def _integers(u, low, high):
  """Uniforms in [0, 1) -> integers uniform in [low, high]."""
  return jnp.clip(jnp.floor(u * (high - low + 1)).astype(jnp.int32) + low, low, high)


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


def _shift_matrix(n, shift):
  """[B, n, n] one-hot rows: row i picks i + shift[b] (none where that leaves 0..n-1)."""
  i = jnp.arange(n)
  return (i[None, None, :] == i[None, :, None] + shift[:, None, None]).astype(jnp.float32)


def translation(x, dy, dx):
  """Shifts image i by (dy[i], dx[i]) pixels, zeros where it leaves the frame:
  out[i, r, c] = x[i, r + dy, c + dx]; two one-hot matmuls (their gradients are matmuls
  too, where a gather's would be a scatter)."""
  _, h, w, _ = x.shape
  rows, cols = _shift_matrix(h, dy).astype(x.dtype), _shift_matrix(w, dx).astype(x.dtype)
  return jnp.einsum('brh,bhwc,bsw->brsc', rows, x, cols)


def cutout(x, cy, cx):
  """Zeroes a (H/2 x W/2) square of image i whose centre is (cy[i], cx[i]), clipped to
  the frame."""
  _, h, w, _ = x.shape
  ch, cw = _shifts(h, CUTOUT_RATIO), _shifts(w, CUTOUT_RATIO)
  r = jnp.arange(h)[None, :] - (cy[:, None] - ch // 2)
  c = jnp.arange(w)[None, :] - (cx[:, None] - cw // 2)
  inside = ((r >= 0) & (r < ch))[:, :, None] & ((c >= 0) & (c < cw))[:, None, :]
  return x * (1.0 - inside[..., None].astype(x.dtype))


def _function(name, x, u):
  """Applies function `name` with its uniforms u {parameter: [B]}."""
  _, h, w, _ = x.shape
  if name == 'translation':
    sh, sw = _shifts(h, TRANSLATION_RATIO), _shifts(w, TRANSLATION_RATIO)
    return translation(x, _integers(u['dy'], -sh, sh), _integers(u['dx'], -sw, sw))
  if name == 'cutout':
    ch, cw = _shifts(h, CUTOUT_RATIO), _shifts(w, CUTOUT_RATIO)
    return cutout(x, _integers(u['cy'], 0, h - ch % 2), _integers(u['cx'], 0, w - cw % 2))
  return {'brightness': brightness, 'saturation': saturation, 'contrast': contrast}[name](
      x, u['u'])


def apply(x, draws, policy, p=1.0):
  """Augments images x [B,H,W,C] with `draws` (from draw, B rows); p: a float or a traced
  scalar. A function applies to sample i when its 'apply' uniform is < p (always when p
  is the constant 1). 'bgc', 'r3gan': ada_augment.apply (C 1 or 3, H == W)."""
  if policy[:1] and policy[0] in ADA_POLICIES:
    return ada_augment.apply(x, draws, p, policy[0])
  cols = columns(policy)
  for op in policy:
    for name in OPS[op]:
      u = {q: draws[:, cols[(name, q)]] for q in PARAMS[name]}
      y = _function(name, x, u)
      if isinstance(p, (int, float)) and p >= 1.0:
        x = y
      else:
        x = jnp.where(_per_sample(u['apply'] < p, x), y, x)
  return x


def ada_adjust(p, r_t, *, target, images, kimg):
  """ADA's rule: p + sign(r_t - target) * images / (kimg * 1000), clipped to [0, 1].

  r_t = E[sign(D(x_real))] over the `images` reals seen since the last adjustment: near
  1 when D is confident on every real (overfitting), so p rises; below the target, falls.
  """
  return jnp.clip(p + jnp.sign(r_t - target) * images / (kimg * 1000.0), 0.0, 1.0)

