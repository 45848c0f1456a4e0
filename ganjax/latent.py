"""Latent-space maths: interpolation paths, per-class mean latents and their arithmetic.

The DCGAN paper's (Radford et al. 2015) walks and vector arithmetic, as pure functions that
`experiments/latent.py` composes with a trained G and the evaluator's classifier.
"""

import re

import jax.numpy as jnp
import numpy as np

from ganjax.errors import GanjaxError

METHODS = ('linear', 'spherical')
# Below this angle (radians) slerp's sin(omega) division loses precision: use lerp instead.
_PARALLEL_ANGLE = 1e-3


def _t_column(t, dtype):
  """t (scalar or [T]) -> t[..., None], so it broadcasts against [..., D] latents."""
  return jnp.asarray(t, dtype)[..., None]


def lerp(a, b, t):
  """(1-t) a + t b for a, b [..., D] and t scalar or [T] (a, b [D] give [T, D]); exact ends."""
  a, b = jnp.asarray(a), jnp.asarray(b)
  tc = _t_column(t, jnp.result_type(a, b))
  # (1-t) a + t b rounds at t = 1; pick the anchors themselves so endpoints are bit-exact.
  return jnp.where(tc == 0, a, jnp.where(tc == 1, b, (1 - tc) * a + tc * b))


def slerp(a, b, t):
  """Spherical interpolation [..., D] (shapes as lerp): the direction moves along the great
  circle, the norm linearly; (anti-)parallel a, b fall back to lerp; exact ends."""
  a, b = jnp.asarray(a), jnp.asarray(b)
  tc = _t_column(t, jnp.result_type(a, b))
  na = jnp.linalg.norm(a, axis=-1, keepdims=True)
  nb = jnp.linalg.norm(b, axis=-1, keepdims=True)
  ua, ub = a / jnp.where(na > 0, na, 1), b / jnp.where(nb > 0, nb, 1)
  omega = jnp.arccos(jnp.clip(jnp.sum(ua * ub, -1, keepdims=True), -1, 1))
  degenerate = (omega < _PARALLEL_ANGLE) | (omega > np.pi - _PARALLEL_ANGLE) | (na == 0) | (
      nb == 0)
  # Classic slerp of unequal norms overshoots both near omega = pi; interpolating the
  # direction and the norm separately keeps |result| between |a| and |b|.
  sin = jnp.sin(jnp.where(degenerate, 1.0, omega))
  direction = (jnp.sin((1 - tc) * omega) * ua + jnp.sin(tc * omega) * ub) / sin
  spherical = ((1 - tc) * na + tc * nb) * direction
  mixed = jnp.where(degenerate, (1 - tc) * a + tc * b, spherical)
  return jnp.where(tc == 0, a, jnp.where(tc == 1, b, mixed))


def interpolate(a, b, t, method):
  """lerp or slerp by name ('linear' | 'spherical')."""
  if method not in METHODS:
    raise GanjaxError(f'unknown interpolation method {method!r}; use one of {METHODS}')
  return (lerp if method == 'linear' else slerp)(a, b, t)


def path(anchors, steps, method='linear'):
  """anchors [k, D] -> [(k-1)*(steps-1)+1, D]: `steps` points per leg, shared ends once."""
  anchors = jnp.asarray(anchors)
  if anchors.ndim != 2 or anchors.shape[0] < 2:
    raise GanjaxError(f'a path needs at least 2 anchor latents [k, D], got {anchors.shape}')
  if steps < 2:
    raise GanjaxError(f'steps must be >= 2 (both ends of each leg), got {steps}')
  t = jnp.linspace(0.0, 1.0, steps, dtype=anchors.dtype)
  legs = [interpolate(anchors[i], anchors[i + 1], t, method) for i in range(len(anchors) - 1)]
  # Each leg starts where the previous one ended: keep that point once.
  return jnp.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]])


def class_names_or_indices(class_names, num_classes):
  """The class names, or '0'..'K-1' where a run saved none."""
  return list(class_names) if class_names else [str(i) for i in range(num_classes)]


def class_index(item, class_names, what='class'):
  """A class name or index (string) -> its int index; a one-line error naming the classes."""
  item = str(item).strip()
  if item in class_names:
    return list(class_names).index(item)
  if item.isdigit() and int(item) < len(class_names):
    return int(item)
  raise GanjaxError(f'{what}: unknown class {item!r}; classes are {", ".join(class_names)} '
                    f'(or indices 0..{len(class_names) - 1})')


def class_means(latents, predicted, num_classes, min_count=1, required=None,
                class_names=None):
  """Mean latent [K, D] of the samples predicted as each class (NaN rows below min_count).

  Classes in `required` (default: all) with fewer than min_count samples are an error.
  """
  latents, predicted = np.asarray(latents, np.float64), np.asarray(predicted)
  names = class_names_or_indices(class_names, num_classes)
  counts = np.bincount(predicted, minlength=num_classes)[:num_classes]
  sums = np.zeros((num_classes, latents.shape[1]))
  np.add.at(sums, predicted, latents)
  for k in range(num_classes) if required is None else required:
    if counts[k] < max(min_count, 1):
      raise GanjaxError(f'class {names[k]!r}: {counts[k]} confidently classified samples, '
                        f'{max(min_count, 1)} needed; sample more latents (--pool), lower '
                        '--min_confidence or --min_count, or train G longer')
  with np.errstate(invalid='ignore', divide='ignore'):
    means = sums / counts[:, None]
  means[counts < max(min_count, 1)] = np.nan
  return means


def parse_expression(expr, class_names):
  """'7-1+4' -> [(+1, 7), (-1, 1), (+1, 4)]: terms are class names or indices joined by +/-.

  Names may themselves hold '-' ('t-shirt'): the longest name followed by a sign or the end
  wins.
  """
  names = sorted(class_names, key=len, reverse=True)
  term = '|'.join([re.escape(n) for n in names] + [r'\d+'])
  token = re.compile(rf'\s*([+-]?)\s*({term})\s*(?=[+-]|$)')
  expr, terms, pos = expr.strip(), [], 0
  while pos < len(expr):
    m = token.match(expr, pos)
    if m is None or m.end() == pos:
      raise _unreadable(expr, expr[pos:].strip(), class_names)
    sign, item = m.groups()
    if sign == '-' and not terms:
      raise GanjaxError(f'--expr {expr!r}: the first term must be positive (e.g. 7-1+4)')
    terms.append((-1 if sign == '-' else 1, class_index(item, class_names, f'--expr {expr!r}')))
    pos = m.end()
  if not terms:
    raise GanjaxError('--expr is empty; give e.g. 7-1+4 (class names or indices)')
  return terms


def _unreadable(expr, rest, class_names):
  """The error for the unparsable tail `rest` of `expr`: an unknown class or bad syntax."""
  body = rest[1:].strip() if rest[:1] in '+-' else rest
  word = re.split(r'[+-]', body)[0].strip()
  if word:
    return GanjaxError(f'--expr {expr!r}: unknown class {word!r}; classes are '
                       f'{", ".join(class_names)} (or indices), joined by + and -')
  return GanjaxError(f'--expr {expr!r}: cannot read {rest!r}; write class names or indices '
                     'joined by + and -, e.g. 7-1+4')


def arithmetic(means, expr, class_names=None):
  """(result latent [D], terms [(sign, class index)]) of e.g. '7-1+4' over means [K, D]."""
  means = np.asarray(means)
  names = class_names_or_indices(class_names, len(means))
  terms = parse_expression(expr, names)
  missing = [names[k] for _, k in terms if not np.all(np.isfinite(means[k]))]
  if missing:
    raise GanjaxError(f'--expr {expr!r}: no mean latent for class(es) {", ".join(missing)}; '
                      'sample more latents (--pool) or lower --min_confidence')
  return sum(sign * means[k] for sign, k in terms), terms


def format_terms(terms, class_names):
  """[(+1, 7), (-1, 1)] -> '7 - 1'."""
  out = []
  for i, (sign, k) in enumerate(terms):
    out.append(class_names[k] if i == 0 else f'{"+" if sign > 0 else "-"} {class_names[k]}')
  return ' '.join(out)
