"""Data: the only module that touches tfds / tf.data.

A dataset is loaded once into host memory as uint8 images [N, H, W, C] (and int32
labels [N]); training keeps it resident on the devices and gathers each batch there
from indices that are a pure function of (seed, step), so a resumed run sees exactly
the batches an uninterrupted one would have.
"""

import dataclasses
import gzip
import math
import os
import time
from typing import Optional, Tuple
import zlib

import numpy as np
from absl import logging

from ganjax import clustering
from ganjax.errors import GanjaxError
from ganjax.readers import cifar, folder

# name -> (tfds name, image shape, class names); from the original files or tfds.
DATASETS = {
    'mnist': ('mnist', (28, 28, 1), tuple('0123456789')),
    'fashion_mnist': ('fashion_mnist', (28, 28, 1), (
        't-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker',
        'bag', 'ankle-boot')),
    'cifar10': ('cifar10', (32, 32, 3), cifar.CIFAR10_CLASSES),
}
FOLDER = 'folder'  # a user's image folder: shape and classes come from data.*
IDX_SPLITS = {'train': 'train', 'test': 't10k', 't10k': 't10k'}
SOURCES = ('auto', 'files', 'tfds')


@dataclasses.dataclass(frozen=True)
class DataInfo:
  """What the models need to know about a dataset, without loading it."""
  image_shape: Tuple[int, int, int]
  num_classes: int


def describe(data_config):
  """The DataInfo of `data_config` (checks the name; reads no images)."""
  if data_config.name == FOLDER:
    size, channels = data_config.image_size, data_config.channels
    if not (32 <= size <= 256 and size % 8 == 0) or channels not in (1, 3):
      raise GanjaxError(f'data.image_size={size}, data.channels={channels}: folders need a '
                        'square size 32..256 divisible by 8 and 1 or 3 channels')
    return DataInfo((size, size, channels), _folder_classes(data_config))
  if data_config.name not in DATASETS:
    raise GanjaxError(f'unknown dataset data.name={data_config.name!r}; '
                      f'choose one of {sorted(DATASETS) + [FOLDER]}')
  _, shape, classes = DATASETS[data_config.name]
  return DataInfo(shape, len(classes))


def _folder_classes(data_config):
  """Subfolders of data.dir (the classes), or data.num_classes when it is not at hand."""
  directory = os.path.expanduser(data_config.dir or '')
  if directory and os.path.isdir(directory):
    classes = folder.class_folders(directory)
    if classes:
      return len(classes)
  return data_config.num_classes


@dataclasses.dataclass(frozen=True)
class Dataset:
  """An in-memory dataset: images uint8 [N, H, W, C], labels int32 [N]; conditions int32
  [N] when G and D condition on something finer than the labels (data.clusters_per_class)."""
  name: str
  images: np.ndarray
  labels: Optional[np.ndarray]
  class_names: Tuple[str, ...]
  conditions: Optional[np.ndarray] = None

  @property
  def condition_ids(self):
    """What G and D are conditioned on: the conditions if set, else the labels."""
    return self.labels if self.conditions is None else self.conditions

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def image_shape(self):
    return tuple(self.images.shape[1:])

  @property
  def num_examples(self):
    return self.images.shape[0]


def idx_bytes(array):
  """An unsigned-byte IDX file's bytes for a uint8 array of any rank (read_idx's inverse)."""
  header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, '>u4').tobytes()
  return header + np.ascontiguousarray(array, np.uint8).tobytes()


def read_idx(path):
  """Reads an IDX file (raw or .gz) into a numpy array of its stored shape."""
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      raw = f.read()
  except (OSError, EOFError, zlib.error) as e:  # zlib.error: a damaged .gz stream
    raise GanjaxError(f'cannot read IDX file {path} ({e}); re-download it') from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise GanjaxError(f'{path} is not an unsigned-byte IDX file (bad magic number); '
                      're-download it')
  ndim = raw[3]
  offset = 4 + 4 * ndim
  if len(raw) < offset:
    raise GanjaxError(f'{path} is truncated: its header is cut short ({len(raw)} bytes); '
                      're-download it')
  # Python ints: a product of huge (hostile) dimensions must not wrap around in int64.
  dims = [int(d) for d in np.frombuffer(raw, dtype='>u4', count=ndim, offset=4)]
  expected = math.prod(dims)
  if len(raw) - offset != expected:
    raise GanjaxError(f'{path} is truncated or corrupt: header says {expected} bytes of '
                      f'data, file has {len(raw) - offset}; re-download it')
  return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _find(directory, stem):
  for candidate in (stem, stem + '.gz'):
    path = os.path.join(directory, candidate)
    if os.path.exists(path):
      return path
  raise GanjaxError(f'no {stem}[.gz] in data.dir={directory}; put the original IDX files '
                    'there (e.g. ../shared/data/mnist) or use data.source=tfds')


def load_idx_dataset(name, directory, split):
  """Loads MNIST-format IDX files `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`."""
  if split not in IDX_SPLITS:
    raise GanjaxError(f'unknown data.split {split!r}; use one of {sorted(IDX_SPLITS)}')
  if not os.path.isdir(directory):
    raise GanjaxError(f'data.dir={directory} does not exist; point it at the folder with '
                      'the IDX files (e.g. ../shared/data/mnist)')
  prefix = IDX_SPLITS[split]
  images_path = _find(directory, f'{prefix}-images-idx3-ubyte')
  labels_path = _find(directory, f'{prefix}-labels-idx1-ubyte')
  images, labels = read_idx(images_path), read_idx(labels_path)
  if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
    raise GanjaxError(f'IDX files do not match: {images_path} holds images of shape '
                      f'{images.shape}, {labels_path} labels of shape {labels.shape}; '
                      're-download both')
  return Dataset(name, images[..., None], labels.astype(np.int32), DATASETS[name][2])


def load_tfds_dataset(name, tfds_dir, split):
  """Loads a prepared tfds dataset fully into memory (no download is attempted)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')  # keep TF off accelerators JAX uses
  where = tfds_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')
  try:
    data = tfds.load(DATASETS[name][0], split=split, data_dir=tfds_dir or None,
                     download=False)
  except Exception as e:  # tfds raises several types for "not prepared"
    raise GanjaxError(
        f'tfds dataset {name!r} split {split!r} is not prepared in {where} '
        f'({type(e).__name__}); run `tfds build {DATASETS[name][0]} --data_dir=DIR` on a '
        'machine with network and set data.tfds_dir=DIR, or set data.dir to the original '
        'files') from None
  # Batched reads, not batch_size=-1: the latter aborts on generator-backed sources.
  batches = list(tfds.as_numpy(data.batch(4096)))
  images = np.concatenate([b['image'] for b in batches]).astype(np.uint8)
  labels = np.concatenate([b['label'] for b in batches]).astype(np.int32)
  return Dataset(name, images, labels, DATASETS[name][2])


def load_dataset(data_config, conditional=False):
  """Loads `data_config.name` from files (data.dir) or tfds, per data.source; a folder
  streams instead (a readers.folder.FolderSource)."""
  describe(data_config)
  if data_config.source not in SOURCES:
    raise GanjaxError(f'unknown data.source={data_config.source!r}; use one of {SOURCES}')
  if data_config.name == FOLDER:
    return load_folder(data_config, conditional)
  use_files = data_config.source == 'files' or (
      data_config.source == 'auto' and data_config.dir)
  if not use_files:
    return load_tfds_dataset(data_config.name, data_config.tfds_dir, data_config.split)
  if not data_config.dir:
    raise GanjaxError('data.source=files needs data.dir; set --config.data.dir=PATH')
  directory = os.path.expanduser(data_config.dir)
  if data_config.name == 'cifar10':
    images, labels = cifar.load_cifar10(directory, data_config.split)
    return Dataset('cifar10', images, labels, cifar.CIFAR10_CLASSES)
  return load_idx_dataset(data_config.name, directory, data_config.split)


def with_clusters(dataset, data_config):
  """The dataset with k-means conditions when data.clusters / data.clusters_per_class ask
  (seed 0: the same clusters for every training seed and every resume); unchanged
  otherwise. run_config.validate has refused streaming folders."""
  if data_config.get('clusters_per_class', 0):
    return _clusters_per_class(dataset, data_config.clusters_per_class)
  if data_config.get('clusters', 0):
    return _clusters(dataset, data_config.clusters)
  return dataset


def _pixels(dataset):
  """The dataset's images as float32 rows in [0, 1]: [N, H*W*C], what k-means clusters."""
  return dataset.images.reshape(len(dataset.images), -1).astype(np.float32) / 255.0


def _clusters(dataset, k):
  """Labels replaced by balanced k-means cluster ids of the pixels (class names too)."""
  start = time.perf_counter()
  ids = clustering.balanced_kmeans(_pixels(dataset), k, seed=0)
  logging.info('data.clusters: %d balanced k-means clusters of %d images in %.1f s',
               k, len(ids), time.perf_counter() - start)
  names = tuple(f'cluster_{j}' for j in range(k))
  return dataclasses.replace(dataset, labels=ids, class_names=names)


def _clusters_per_class(dataset, m):
  """Conditions: class c's images split into m balanced k-means clusters of their
  pixels, ids c * m .. c * m + m - 1; the labels stay the classes."""
  start = time.perf_counter()
  pixels = _pixels(dataset)
  ids = np.zeros(len(pixels), np.int32)
  for c, name in enumerate(dataset.class_names):
    members = np.flatnonzero(dataset.labels == c)
    if len(members) < m:
      raise GanjaxError(f'class {name!r} has {len(members)} images, fewer than '
                        f'data.clusters_per_class={m}: lower it')
    ids[members] = c * m + clustering.balanced_kmeans(pixels[members], m, seed=0)
  logging.info('data.clusters_per_class: %d balanced k-means clusters in each of %d '
               'classes in %.1f s', m, dataset.num_classes, time.perf_counter() - start)
  return dataclasses.replace(dataset, conditions=ids)


def load_folder(data_config, conditional):
  """A streaming FolderSource over data.dir's readable images (split per data.holdout)."""
  if not data_config.dir:
    raise GanjaxError('data.name=folder needs data.dir; set --config.data.dir=PATH')
  directory = os.path.expanduser(data_config.dir)
  # The holdout split has its own fixed seed: every training seed sees the same split.
  return folder.FolderSource.from_directory(
      directory, conditional=conditional, holdout=data_config.holdout,
      split=data_config.split, seed=0, image_size=data_config.image_size,
      channels=data_config.channels, resize=data_config.resize)


SAMPLING = ('epochs', 'replacement')


class IndexSampler:
  """Global example indices per step, a pure function of (seed, step).

  'epochs': step s uses the examples at stream positions [s*n*B, (s+1)*n*B) (n real
  batches of B per step) of a stream of epoch-wise permutations seeded by (seed, epoch),
  so the order does not depend on how the run was split up. 'replacement': each step
  draws its n*B indices uniformly with replacement from a generator seeded by (seed,
  step), as seed 001's np.random.randint does.
  """

  def __init__(self, seed, num_examples, batch, batches=1, sampling='epochs'):
    if sampling not in SAMPLING:
      raise GanjaxError(f'unknown data.sampling={sampling!r}; use one of {SAMPLING}')
    self.seed, self.n, self.batch, self.batches = seed, num_examples, batch, batches
    self.sampling = sampling
    self._perms = {}

  def _perm(self, epoch):
    if epoch not in self._perms:
      if len(self._perms) > 2:
        self._perms.pop(min(self._perms))
      rng = np.random.default_rng([self.seed, 0xDA7A, epoch])
      self._perms[epoch] = rng.permutation(self.n).astype(np.int32)
    return self._perms[epoch]

  def indices(self, step, num_steps):
    """int32 [num_steps, batches, batch] indices for steps [step, step + num_steps)."""
    per_step = self.batches * self.batch
    if self.sampling == 'replacement':
      rows = [np.random.default_rng([self.seed, 0x5A3E, s]).integers(0, self.n, per_step)
              for s in range(step, step + num_steps)]
      return np.asarray(rows, np.int32).reshape(num_steps, self.batches, self.batch)
    pos = np.arange(step * per_step, (step + num_steps) * per_step, dtype=np.int64)
    epochs, within = np.divmod(pos, self.n)
    out = np.empty(pos.shape, np.int32)
    for epoch in np.unique(epochs):
      mask = epochs == epoch
      out[mask] = self._perm(int(epoch))[within[mask]]
    return out.reshape(num_steps, self.batches, self.batch)
