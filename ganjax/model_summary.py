"""Per-layer parameter tables, like seed 002's printout and Keras' model.summary()."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.layers import Activation


def _count(tree):
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def _subtree(tree, path):
  for name in path:
    if not isinstance(tree, dict) or name not in tree:
      return {}
    tree = tree[name]
  return tree


def _shape(x):
  if not hasattr(x, 'shape'):
    return '-'
  return 'x'.join(str(d) for d in x.shape[1:]) or 'label'


def layer_rows(module, *inputs, **kwargs):
  """Runs `module.init` abstractly and returns one dict per leaf layer called, in order.

  Each row: name, type, shape_in, shape_out, activation, trainable, non_trainable.
  Parameter-free activation modules fold into the activation column of the layer before.
  """
  calls = []

  def interceptor(next_fun, args, kw, context):
    out = next_fun(*args, **kw)
    if context.method_name == '__call__' and context.module.path:
      calls.append((context.module, args[0] if args else None, out))
    return out

  def init():
    with nn.intercept_methods(interceptor):
      return module.init({'params': jax.random.PRNGKey(0), 'dropout': jax.random.PRNGKey(1)},
                         *inputs, **kwargs)

  # eval_shape avoids computing anything; the interceptor only reads static shapes.
  variables = jax.eval_shape(init)
  paths = [c[0].path for c in calls]
  rows, seen = [], set()
  for mod, x, y in calls:
    if any(len(p) > len(mod.path) and p[:len(mod.path)] == mod.path for p in paths):
      # A composite module: its leaves are listed instead, and a row of its own params
      # (e.g. R3GAN's learned basis) when it has any.
      own = {k: v for k, v in _subtree(variables.get('params', {}), mod.path).items()
             if not isinstance(v, dict)}
      if own and mod.path not in seen:
        seen.add(mod.path)
        rows.append(dict(name='/'.join(mod.path), type=type(mod).__name__, shape_in=_shape(x),
                         shape_out=_shape(y), activation='', trainable=_count(own),
                         non_trainable=0))
      continue
    if mod.path in seen:
      continue  # SpectralNorm's variable transform runs its layer twice at init
    seen.add(mod.path)
    if isinstance(mod, nn.SpectralNorm) and rows:
      # SN wraps the layer listed just before it: one row, u and σ counted as statistics.
      rows[-1]['type'] += '+SN'
      rows[-1]['non_trainable'] += _count({k: _subtree(v, mod.path)
                                           for k, v in variables.items() if k != 'params'})
      continue
    if isinstance(mod, Activation) and rows and not rows[-1]['activation']:
      rows[-1]['activation'] = mod.describe()
      rows[-1]['shape_out'] = _shape(y)
      continue
    stats = {k: _subtree(v, mod.path) for k, v in variables.items() if k != 'params'}
    rows.append(dict(name='/'.join(mod.path), type=type(mod).__name__, shape_in=_shape(x),
                     shape_out=_shape(y), activation=mod.describe() if isinstance(
                         mod, Activation) else '', trainable=_count(
                             _subtree(variables.get('params', {}), mod.path)),
                     non_trainable=_count(stats)))
  return rows


def format_table(title, rows):
  """Renders rows from layer_rows as a fixed-width table with a totals line."""
  head = ('layer', 'type', 'in -> out', 'activation', 'params')
  body = [(r['name'], r['type'], f"{r['shape_in']} -> {r['shape_out']}", r['activation'],
           f"{r['trainable'] + r['non_trainable']:,}") for r in rows]
  widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
  line = lambda cells: '  '.join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
  rule = '-' * len(line(head))
  return '\n'.join([title, rule, line(head), rule, *map(line, body), rule,
                    totals_line(rows)])


def totals(rows):
  """(trainable, non_trainable, total) parameter counts of a table."""
  t = sum(r['trainable'] for r in rows)
  n = sum(r['non_trainable'] for r in rows)
  return t, n, t + n


def totals_line(rows):
  """'trainable: a  non-trainable: b  total: c' with thousands separators."""
  t, n, total = totals(rows)
  return f'trainable: {t:,}  non-trainable: {n:,}  total: {total:,}'


def model_summary(generator, discriminator, *, latent_dim, image_shape, num_classes=0):
  """The full text summary of G and D, with the GAN total; needs no data."""
  labels = jnp.zeros((1,), jnp.int32) if num_classes else None
  g_rows = layer_rows(generator, jnp.zeros((1, latent_dim)), labels, train=False)
  d_rows = layer_rows(discriminator, jnp.zeros((1, *image_shape)), labels, train=False)
  g, d = totals(g_rows), totals(d_rows)
  total = tuple(a + b for a, b in zip(g, d))
  return '\n\n'.join([
      format_table(f'GENERATOR ({type(generator).__name__})', g_rows),
      format_table(f'DISCRIMINATOR ({type(discriminator).__name__})', d_rows),
      f'GAN  trainable: {total[0]:,}  non-trainable: {total[1]:,}  total: {total[2]:,}'])
