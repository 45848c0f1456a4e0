r"""Latent-space tools for a trained G: interpolation walks and the DCGAN paper's arithmetic.

Each mode writes OUT.png (a labelled grid), OUT.json (what every row and cell shows) and
OUT.npz (the images uint8 [N,H,W,C] in grid order and their latents [N,D]).

  # walks between seeds' latents (or rows of one seed's latents with --indices), both methods
  python -m experiments.latent --workdir=runs/mnist_mlp --mode=interpolate --seeds=3,7,11 \
      --method=both --out=/tmp/walk
  # a conditional G: one z, its label embedding blended from class 3 to class 8
  python -m experiments.latent --workdir=runs/mnist_mlp_cgan --mode=interpolate --classes=3,8 \
      --indices=0,1 --out=/tmp/morph
  # vector arithmetic on per-class mean latents, classes judged by the evaluator's classifier
  python -m experiments.latent --workdir=runs/mnist_mlp --mode=arithmetic \
      --classifier=runs/mnist_classifier --expr=7-1+4 --out=/tmp/sum
"""

import collections
import json
import os

import flax.linen as nn
import jax
import numpy as np
from absl import app, flags

from ganjax import cli, figures, inference, input_pipeline, latent, sampling
from ganjax.errors import GanjaxError
from ganjax.models import build_models

flags.DEFINE_string('workdir', None, 'A training workdir (holds config.json, checkpoints/).')
flags.DEFINE_enum('mode', None, ['interpolate', 'arithmetic'], 'interpolate: walks between '
                  'latents (or classes); arithmetic: the DCGAN paper\'s vector arithmetic.')
flags.DEFINE_string('out', None, 'Output path stem: writes OUT.png, OUT.json and OUT.npz.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest that reads back).')
flags.DEFINE_bool('raw', False, 'Use the raw G weights even if the run keeps an EMA.')
flags.DEFINE_float('truncation', None, 'Truncation psi > 0 for every latent drawn from a seed.')
flags.DEFINE_integer('seed', 0, 'Latent seed of --indices and --pool; seeds the neighbours.')
flags.DEFINE_list('seeds', None, 'interpolate: anchor latents, one per seed (seed s: the first '
                  'latent of --seed=s).')
flags.DEFINE_list('indices', None, 'interpolate: anchor latents, rows of --seed\'s latents.')
flags.DEFINE_integer('steps', 8, 'interpolate: images per leg, both ends included.')
flags.DEFINE_enum('method', 'spherical', ['linear', 'spherical', 'both'], 'interpolate: '
                  'lerp, slerp (direction on the great circle, norm linear), or both.')
flags.DEFINE_list('classes', None, 'interpolate, conditional G: walk the label embedding '
                  'through these classes (names or indices) at fixed latents.')
flags.DEFINE_string('label', None, 'Conditional G: the class (name or index) held fixed.')
flags.DEFINE_string('classifier', None, 'arithmetic: a classifier workdir '
                    '(configs/mnist_classifier.py) that tells the pool\'s classes.')
flags.DEFINE_string('expr', None, 'arithmetic: e.g. 7-1+4: class names or indices joined by '
                    '+ and -, over the classes\' mean latents.')
flags.DEFINE_integer('pool', 2000, 'arithmetic: latents sampled to find the class means.')
flags.DEFINE_float('min_confidence', 0.9, 'arithmetic: a pool sample counts towards its '
                   'predicted class when the classifier\'s softmax prob is at least this.')
flags.DEFINE_integer('min_count', 1, 'arithmetic: fewest confident samples a term\'s class needs.')
flags.DEFINE_integer('neighbours', 8, 'arithmetic: result + Gaussian perturbations rendered.')
flags.DEFINE_float('sigma', 0.25, 'arithmetic: std of the neighbours\' perturbations.')
flags.mark_flags_as_required(['workdir', 'mode', 'out'])
FLAGS = flags.FLAGS

# fold_in constant for the neighbours' noise: independent of the pool's latents (0x5A).
_NEIGHBOUR_STREAM = 0x4E1B


def _ints(values, flag):
  """A list flag's items as non-negative ints, or a one-line error."""
  try:
    out = [int(v) for v in values]
  except ValueError:
    raise GanjaxError(f'--{flag} takes comma-separated integers, got {",".join(values)}') from None
  if min(out) < 0:
    raise GanjaxError(f'--{flag} must be >= 0, got {",".join(values)}')
  return out


def anchor_latents(latent_dim, need):
  """(latents [k, D], descriptions [{'seed': s} | {'seed': s, 'index': i}]) of the anchors."""
  if FLAGS.seeds:
    seeds = _ints(FLAGS.seeds, 'seeds')
    z = np.stack([np.asarray(inference.truncated_latents(s, 1, latent_dim, FLAGS.truncation))[0]
                  for s in seeds])
    described = [{'seed': s} for s in seeds]
  else:
    indices = _ints(FLAGS.indices or ['0'], 'indices')
    table = inference.truncated_latents(FLAGS.seed, max(indices) + 1, latent_dim,
                                        FLAGS.truncation)
    z = np.asarray(table)[indices]
    described = [{'seed': FLAGS.seed, 'index': i} for i in indices]
  if len(z) < need:
    raise GanjaxError(f'--mode=interpolate needs at least {need} anchors: give e.g. '
                      '--seeds=3,7 or --indices=0,5,9')
  return z, described


def describe(anchor):
  """{'seed': 3} -> 'seed 3'; {'seed': 0, 'index': 5} -> 'z[5]'."""
  return f'seed {anchor["seed"]}' if 'index' not in anchor else f'z[{anchor["index"]}]'


def fixed_label(gen):
  """The --label class index for a conditional G (required there), None otherwise."""
  if not gen.num_classes:
    if FLAGS.label is not None or FLAGS.classes:
      raise GanjaxError('--label and --classes are for conditional models; this run is '
                        'unconditional')
    return None
  if FLAGS.label is None:
    raise GanjaxError('this run is conditional: hold a class fixed with --label=NAME|INDEX '
                      '(or walk between classes with --classes=3,8)')
  return latent.class_index(FLAGS.label, gen.class_names, '--label')


def methods():
  """The --method names: ['linear'], ['spherical'] or both."""
  return list(latent.METHODS) if FLAGS.method == 'both' else [FLAGS.method]


def legs(points, steps):
  """A path [(k-1)*(steps-1)+1, D] -> its k-1 legs [steps, D]."""
  return [points[i * (steps - 1):i * (steps - 1) + steps]
          for i in range((len(points) - 1) // (steps - 1))]


def latent_walk(gen):
  """Rows between consecutive anchors, a row per pair and method: (images, z, rows, columns,
  extra sidecar fields)."""
  label = fixed_label(gen)
  anchors, described = anchor_latents(gen.latent_dim, need=2)
  paths = {m: legs(np.asarray(latent.path(anchors, FLAGS.steps, m)), FLAGS.steps)
           for m in methods()}
  rows, zs = [], []
  for i in range(len(anchors) - 1):
    for m in methods():
      zs.append(paths[m][i])
      rows.append({'method': m, 'from': described[i], 'to': described[i + 1],
                   'name': f'{m}: {describe(described[i])} -> {describe(described[i + 1])}'})
  z = np.concatenate(zs)
  labels = None if label is None else np.full(len(z), label, np.int32)
  extra = {} if label is None else {'label': gen.class_names[label]}
  return gen.images(z, labels), z, rows, t_columns(), extra


def t_columns():
  """[{'t': 0.0}, ..., {'t': 1.0}]: the --steps columns of a walk."""
  return [{'t': round(float(v), 6)} for v in np.linspace(0.0, 1.0, FLAGS.steps)]


class LabelBlender:
  """A conditional G whose label embedding (its nn.Embed) is blended between two classes.

  The model code stays untouched: Flax's method interception swaps the Embed lookup of
  class a for interpolate(E[a], E[b], t) while G runs.
  """

  def __init__(self, gen):
    self.gen = gen
    self.generator, _ = build_models(gen.config.model, image_shape=gen.image_shape,
                                     num_classes=gen.num_classes,
                                     conv_impl=gen.config.get('conv_impl', 'auto'))
    self._render = jax.jit(self._apply, static_argnames='method')

  def _apply(self, variables, z, la, lb, t, method, seen=None):
    def blend(next_fun, args, kwargs, context):
      if isinstance(context.module, nn.Embed) and context.method_name == '__call__':
        if seen is not None:
          seen.append(context.module.name)
        return latent.interpolate(next_fun(la), next_fun(lb), t, method)
      return next_fun(*args, **kwargs)
    with nn.intercept_methods(blend):
      return self.generator.apply(variables, z, la, train=False)

  def _variables(self):
    return {'params': self.gen.params, 'batch_stats': self.gen.batch_stats}

  def can_blend(self):
    """Whether G looks its labels up with an nn.Embed (so there is an embedding to blend)."""
    seen, one = [], np.zeros((1,), np.int32)
    jax.eval_shape(lambda v, z: self._apply(v, z, one, one, np.zeros(1, np.float32),
                                            'linear', seen),
                   self._variables(), np.zeros((1, self.gen.latent_dim), np.float32))
    return bool(seen)

  def images(self, z, la, lb, t, method):
    """uint8 [N,H,W,C] of latents z [N,D] with labels blended from la [N] to lb [N] by t [N]."""
    out = self._render(self._variables(), np.asarray(z, np.float32), np.asarray(la, np.int32),
                       np.asarray(lb, np.int32), np.asarray(t, np.float32), method=method)
    return sampling.to_uint8(out)


def class_walk(gen):
  """Rows at fixed z whose label embedding walks through --classes (as latent_walk)."""
  if not gen.num_classes:
    raise GanjaxError('--classes is for conditional models; this run is unconditional')
  if FLAGS.label is not None:
    raise GanjaxError('give --label (a fixed class) or --classes (a walk), not both')
  classes = [latent.class_index(c, gen.class_names, '--classes') for c in FLAGS.classes]
  if len(classes) < 2:
    raise GanjaxError('--classes needs at least 2 classes, e.g. --classes=3,8')
  anchors, described = anchor_latents(gen.latent_dim, need=1)
  blender = LabelBlender(gen)
  if not blender.can_blend():
    return class_columns(gen, anchors, described, classes)
  t = np.linspace(0.0, 1.0, FLAGS.steps, dtype=np.float32)
  images, zs, rows = [], [], []
  for z, anchor in zip(anchors, described):
    for a, b in zip(classes[:-1], classes[1:]):
      for m in methods():
        zs.append(np.repeat(z[None], len(t), 0))
        images.append(blender.images(zs[-1], np.full(len(t), a), np.full(len(t), b), t, m))
        rows.append({'method': m, 'z': anchor, 'from_class': gen.class_names[a],
                     'to_class': gen.class_names[b],
                     'name': f'{m}: {describe(anchor)}, {gen.class_names[a]} -> '
                             f'{gen.class_names[b]}'})
  extra = {'blend': 'label embedding (the nn.Embed output) interpolated at fixed z'}
  return np.concatenate(images), np.concatenate(zs), rows, t_columns(), extra


def class_columns(gen, anchors, described, classes):
  """The honest fallback without an embedding to blend: each z rendered for each class."""
  z = np.repeat(anchors, len(classes), 0)
  labels = np.tile(np.asarray(classes, np.int32), len(anchors))
  rows = [{'z': anchor, 'name': describe(anchor)} for anchor in described]
  extra = {'blend': None, 'note': 'G has no nn.Embed label embedding to blend: each row is '
           'one z rendered once per class in --classes (one column per class), not a blend'}
  columns = [{'class': gen.class_names[c]} for c in classes]
  return gen.images(z, labels), z, rows, columns, extra


def interpolate_mode(gen):
  """Writes the walk's PNG/JSON/NPZ; returns the one-line summary."""
  walk = class_walk if FLAGS.classes else latent_walk
  images, z, rows, columns, extra = walk(gen)
  cols = len(columns)
  header = [c['class'] if 'class' in c else f't={c["t"]:.2f}' for c in columns]
  picture = figures.labelled_grid(np.reshape(images, (len(rows), cols, *images.shape[1:])),
                                  [r['name'] for r in rows], header=header)
  meta = {'mode': 'interpolate', 'kind': 'classes' if FLAGS.classes else 'latents',
          'methods': methods(), 'steps': FLAGS.steps, 'grid_shape': [len(rows), cols],
          'rows': rows, 'columns': columns, **extra}
  stem = write_outputs(gen, picture, meta, images=images, latents=z)
  return (f'wrote {stem}.png, .json and .npz: a {len(rows)}x{cols} grid '
          f'({", ".join(meta["methods"])}) from step {gen.step} ({how(gen)})')


def softmax(logits):
  """float64 logits [N,K] -> probabilities [N,K]."""
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def verdicts(clf, images, names):
  """The classifier's [{'class', 'index', 'p'}] for uint8 images [N,H,W,C]."""
  probs = softmax(clf(images)[0])
  top = probs.argmax(-1)
  return [{'class': names[k], 'index': int(k), 'p': round(float(p[k]), 4)}
          for k, p in zip(top, probs)]


def pool_means(gen, clf, labels_of, num_classes, terms, names):
  """(means [K,D], confident counts [K], all counts [K]) from the --pool samples."""
  z = np.asarray(inference.truncated_latents(FLAGS.seed, FLAGS.pool, gen.latent_dim,
                                             FLAGS.truncation))
  probs = softmax(clf(gen.images(z, labels_of(len(z))))[0])
  predicted, confidence = probs.argmax(-1), probs.max(-1)
  keep = confidence >= FLAGS.min_confidence
  means = latent.class_means(z[keep], predicted[keep], num_classes, FLAGS.min_count,
                             required=sorted({k for _, k in terms}), class_names=names)
  return (means, np.bincount(predicted[keep], minlength=num_classes),
          np.bincount(predicted, minlength=num_classes))


def check_flags():
  """The flag errors found before any network loads."""
  if FLAGS.mode == 'interpolate':
    if FLAGS.steps < 2:
      raise GanjaxError(f'--steps must be >= 2 (both ends of each leg), got {FLAGS.steps}')
    if FLAGS.seeds and FLAGS.indices:
      raise GanjaxError('give --seeds or --indices, not both')
    return
  if not FLAGS.classifier:
    raise GanjaxError('--mode=arithmetic needs --classifier=WORKDIR: train one with python -m '
                      'experiments.train --config=configs/mnist_classifier.py --workdir=...')
  if not FLAGS.expr:
    raise GanjaxError('--mode=arithmetic needs --expr, e.g. --expr=7-1+4 (class names or '
                      'indices joined by + and -)')
  if FLAGS.pool < 1 or FLAGS.neighbours < 0 or FLAGS.sigma < 0:
    raise GanjaxError('--pool must be >= 1, --neighbours and --sigma >= 0')


def arithmetic_mode(gen):
  """Writes the arithmetic's PNG/JSON/NPZ; returns the one-line summary."""
  clf = inference.Classifier(FLAGS.classifier)
  names = latent.class_names_or_indices(clf.class_names,
                                        input_pipeline.describe(clf.config.data).num_classes)
  terms = latent.parse_expression(FLAGS.expr, names)  # a typo fails before G's pool runs
  label = fixed_label(gen)
  labels_of = lambda n: None if label is None else np.full(n, label, np.int32)
  means, counts, pool_counts = pool_means(gen, clf, labels_of, len(names), terms, names)
  result, terms = latent.arithmetic(means, FLAGS.expr, names)
  noise = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), _NEIGHBOUR_STREAM),
                            (FLAGS.neighbours, gen.latent_dim))
  near = result[None] + FLAGS.sigma * np.asarray(noise, np.float64)
  z = np.concatenate([np.stack([means[k] for _, k in terms] + [result]), near])
  images = gen.images(z.astype(np.float32), labels_of(len(z)))
  judged = verdicts(clf, images, names)
  meta = arithmetic_meta(terms, names, counts, pool_counts, judged)
  meta['label'] = None if label is None else gen.class_names[label]
  # Means over many samples sit near the origin, far inside the N(0, I) shell (norm ~ sqrt D):
  # worth knowing when the result looks off.
  meta['result_norm'], meta['typical_norm'] = float(np.linalg.norm(result)), gen.latent_dim ** .5
  row_labels = ['terms = result', f'neighbours (sigma {FLAGS.sigma:g})']
  picture = figures.labelled_grid(arithmetic_rows(images, len(terms)),
                                  row_labels[:1 + bool(FLAGS.neighbours)],
                                  captions=arithmetic_captions(terms, names, counts, judged))
  stem = write_outputs(gen, picture, meta, images=images, latents=z.astype(np.float32),
                       means=means, counts=counts)
  return f'{summary_line(meta)} (wrote {stem}.png, .json and .npz)'


def arithmetic_rows(images, num_terms):
  """[term means..., result] and [neighbours...] as a ragged list of rows."""
  rows = [images[:num_terms + 1]]
  return rows + [images[num_terms + 1:]] if len(images) > num_terms + 1 else rows


def arithmetic_captions(terms, names, counts, judged):
  """Per-cell captions: each term's sign, class and sample count; the verdicts."""
  first = [f'{"+" if s > 0 else "-"}{names[k]} n={counts[k]}' for s, k in terms]
  first.append(f'={judged[len(terms)]["class"]} p={judged[len(terms)]["p"]:.2f}')
  near = [f'{v["class"]} p={v["p"]:.2f}' for v in judged[len(terms) + 1:]]
  return [first, near] if near else [first]


def arithmetic_meta(terms, names, counts, pool_counts, judged):
  """The sidecar: terms, class counts and the classifier's verdicts."""
  n = len(terms)
  return {
      'mode': 'arithmetic', 'expr': FLAGS.expr,
      'expression': latent.format_terms(terms, names),
      'terms': [{'sign': '+' if s > 0 else '-', 'class': names[k], 'index': k,
                 'count': int(counts[k]), 'image_verdict': judged[i]}
                for i, (s, k) in enumerate(terms)],
      'counts': {names[k]: int(c) for k, c in enumerate(counts)},
      'pool_counts': {names[k]: int(c) for k, c in enumerate(pool_counts)},
      'pool': FLAGS.pool, 'min_confidence': FLAGS.min_confidence, 'min_count': FLAGS.min_count,
      'seed': FLAGS.seed, 'sigma': FLAGS.sigma, 'classifier': FLAGS.classifier,
      'result': judged[n], 'neighbours': judged[n + 1:],
      'rows': [{'name': 'terms = result',
                'cells': [f'{"+" if s > 0 else "-"}{names[k]} mean' for s, k in terms]
                         + ['result']},
               {'name': 'neighbours',
                'cells': [f'result + noise {i}' for i in range(len(judged) - n - 1)]}],
  }


def summary_line(meta):
  """'7 - 1 + 4 -> classifier says 9 (p=0.71); neighbours: 9 x5, 4 x3'."""
  result = meta['result']
  tally = collections.Counter(v['class'] for v in meta['neighbours']).most_common()
  near = ', '.join(f'{c} x{n}' for c, n in tally) or 'none'
  return (f'{meta["expression"]} -> classifier says {result["class"]} (p={result["p"]:.2f}); '
          f'neighbours: {near}')


def how(gen):
  """'EMA weights, truncation 0.7'."""
  return ', '.join(['EMA weights' if gen.uses_ema else 'raw weights']
                   + ([f'truncation {FLAGS.truncation:g}'] if FLAGS.truncation else []))


def write_outputs(gen, picture, meta, **arrays):
  """OUT.png, OUT.json (meta plus the run's provenance) and OUT.npz; returns OUT."""
  stem = figures.output_stem(FLAGS.out)
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  sampling.save_png(picture, stem + '.png')
  meta = {**meta, 'workdir': FLAGS.workdir, 'step': int(gen.step), 'uses_ema': gen.uses_ema,
          'truncation': FLAGS.truncation}
  with open(stem + '.json', 'w') as f:
    json.dump(meta, f, indent=2)
  np.savez(stem + '.npz', **arrays)
  return stem


@cli.user_errors
def main(argv):
  del argv
  cli.initialize_distributed()
  check_flags()
  gen = inference.Generator(FLAGS.workdir, step=FLAGS.step, raw=FLAGS.raw)
  mode = interpolate_mode if FLAGS.mode == 'interpolate' else arithmetic_mode
  print(mode(gen))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
