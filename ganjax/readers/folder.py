"""A user's folder of images: scanning, a seeded holdout split, decoding, streaming.

Only the list of paths is kept in memory; `FolderSource.load` decodes the files of a
batch on a thread pool (PIL releases the GIL while decoding). Every image becomes a
uint8 [S, S, C] square: alpha is composited onto black, then the image is
center-cropped or padded to a square and resized with an antialiasing filter.
"""

import concurrent.futures
import numbers
import os
import stat

from absl import logging
import numpy as np
from PIL import Image
from PIL import ImageOps

from ganjax.errors import GanjaxError

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.gif')
# Pillow picks the decoder from a file's content, not its name: without this list an
# EPS or PDF renamed .png would be handed to Ghostscript, a TIFF to libtiff, and so on.
FORMATS = ('PNG', 'JPEG', 'BMP', 'WEBP', 'GIF')
RESIZE_MODES = ('crop', 'pad')
SPLITS = ('train', 'test')
MIN_SIZE, MAX_SIZE = 8, 256
# Images larger than this (after a JPEG's draft scaling) are skipped rather than decoded.
# Pillow itself refuses only beyond 2 * Image.MAX_IMAGE_PIXELS (~179M pixels; a global a
# user may have raised or set to None) and merely warns from ~89M, where a tiny PNG would
# still decode to hundreds of MB, per decoding thread. No output needs more than 256x256,
# so 32M pixels (8192x4096, an 8K screenshot) is generous for PNG/WebP/BMP/GIF, and any
# JPEG up to Pillow's own limit still loads at its reduced draft size.
MAX_PIXELS = 1 << 25

# What a broken or non-image file raises while it is opened and decoded.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def check_options(image_size, channels, resize):
  """Raises GanjaxError unless (image_size, channels, resize) are supported."""
  if not isinstance(image_size, numbers.Integral) or not MIN_SIZE <= image_size <= MAX_SIZE:
    raise GanjaxError(f'image_size={image_size!r} is not supported; use an integer from '
                      f'{MIN_SIZE} to {MAX_SIZE}')
  if channels not in (1, 3):
    raise GanjaxError(f'channels={channels!r} is not supported; use 1 (grayscale) or 3 (RGB)')
  if resize not in RESIZE_MODES:
    raise GanjaxError(f'resize={resize!r} is not supported; use one of {RESIZE_MODES}')


def _visible(name):
  return not name.startswith('.')  # skips .DS_Store, ._* AppleDouble files, .git, ...


def _is_image(name):
  return _visible(name) and name.lower().endswith(EXTENSIONS)


def images_below(directory):
  """Sorted paths of the image files anywhere below `directory`."""
  found = []
  for root, dirs, files in os.walk(directory):
    dirs[:] = [d for d in dirs if _visible(d)]
    found.extend(os.path.join(root, f) for f in files if _is_image(f))
  return sorted(found)


def _is_class_folder(entry, directory):
  if not _visible(entry.name):
    return False
  try:
    if not entry.is_dir():
      return False
  except OSError:  # a symlink loop (loop -> loop) is no folder
    return False
  if not entry.is_symlink():
    return True
  # A link to `directory` or above it would hold the whole dataset again as one class.
  target = os.path.realpath(entry.path)
  return os.path.commonpath([target, os.path.realpath(directory)]) != target


def class_folders(directory):
  """Sorted names of the class subfolders of `directory` (hidden ones are ignored)."""
  return sorted(e.name for e in os.scandir(directory) if _is_class_folder(e, directory))


def _scan_classes(directory):
  """(paths, labels, class names), one class per immediate subfolder."""
  entries = sorted(e for e in os.listdir(directory) if _visible(e))
  loose = [e for e in entries if _is_image(e) and os.path.isfile(os.path.join(directory, e))]
  if loose:
    raise GanjaxError(f'{directory} has images outside class subfolders ({", ".join(loose[:3])}'
                      f'{", ..." if len(loose) > 3 else ""}); move them into a class '
                      'subfolder or set conditional off')
  names = class_folders(directory)
  paths, labels, empty = [], [], []
  for label, name in enumerate(names):
    found = images_below(os.path.join(directory, name))
    empty += [] if found else [name]
    paths += found
    labels += [label] * len(found)
  if empty and paths:
    raise GanjaxError(f'class folders without images in {directory}: {", ".join(empty[:3])}'
                      f'{", ..." if len(empty) > 3 else ""}; add images or remove them')
  return paths, labels, names


def scan(directory, *, conditional):
  """Image paths [N], labels int32 [N] and class names of a folder (sorted order)."""
  directory = os.path.expanduser(directory)
  if not os.path.isdir(directory):
    raise GanjaxError(f'image folder {directory} does not exist; point data.dir at a '
                      'folder of images')
  if conditional:
    paths, labels, names = _scan_classes(directory)
  else:
    paths, names = images_below(directory), []
    labels = [0] * len(paths)
  if not paths:
    layout = 'in class subfolders ' if conditional else ''
    raise GanjaxError(f'no images {layout}in {directory}; add {"/".join(EXTENSIONS)} '
                      'files' + ('' if conditional else ' (subfolders are searched too)'))
  logging.info('found %d images in %d classes in %s', len(paths), max(len(names), 1),
               directory)
  return paths, np.asarray(labels, np.int32), names


def _holdout_split(paths, labels, holdout, which, seed):
  if which not in SPLITS:
    raise GanjaxError(f'unknown split {which!r}; use one of {SPLITS}')
  if not 0 <= holdout < 1:
    raise GanjaxError(f'holdout={holdout!r} must be in [0, 1); e.g. 0.2 keeps 20% for test')
  n = len(paths)
  if holdout == 0:
    if which == 'test':
      raise GanjaxError('split=test needs a holdout; set holdout to e.g. 0.2 (or use '
                        'split=train)')
    return list(paths), np.asarray(labels, np.int32)
  num_test = max(1, int(round(n * holdout)))
  if num_test >= n:
    raise GanjaxError(f'holdout={holdout} leaves no training images out of {n}; lower it '
                      'or add images')
  order = np.random.default_rng([seed, 0x5B17]).permutation(n)
  # Sorted, so a split lists its files in folder order whatever the seed.
  chosen = np.sort(order[n - num_test:] if which == 'test' else order[:n - num_test])
  return [paths[i] for i in chosen], np.asarray(labels, np.int32)[chosen]


def split(paths, labels, *, holdout, split, seed):  # pylint: disable=redefined-outer-name
  """(paths [M], labels [M]) of split; the last `holdout` of a seeded permutation is test."""
  return _holdout_split(paths, labels, holdout, split, seed)


def _to_8bit(im):
  """`im` as an 8-bit mode; PIL's own conversion clips 16-bit values instead of scaling."""
  if im.mode == 'I' or im.mode.startswith('I;16'):
    values = np.asarray(im, np.float32) / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), 'L')
  return im


def _flatten(im, channels):
  """`im` in mode 'RGB' or 'L', transparent pixels composited onto black."""
  im = _to_8bit(im)
  if 'A' in im.getbands() or 'transparency' in im.info:
    rgba = im.convert('RGBA')
    im = Image.alpha_composite(Image.new('RGBA', rgba.size, (0, 0, 0, 255)), rgba)
  return im.convert('RGB' if channels == 3 else 'L')


def _square(im, resize):
  """The largest central square of `im` ('crop'), or `im` centered on black ('pad')."""
  w, h = im.size
  if w == h:
    return im
  if resize == 'crop':
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))
  s = max(w, h)
  out = Image.new(im.mode, (s, s), 0)
  out.paste(im, ((s - w) // 2, (s - h) // 2))
  return out


def _exif_upright(im):
  try:
    return ImageOps.exif_transpose(im)
  except Exception:  # pylint: disable=broad-except
    return im.copy()  # a malformed EXIF block must not drop an image that decodes


def _decode(path, image_size, channels, resize):
  if not stat.S_ISREG(os.stat(path).st_mode):  # opening a FIFO would block forever
    raise OSError(f'{path} is not a regular file')
  with Image.open(path, formats=FORMATS) as im:
    # JPEGs decode at a reduced scale that still covers image_size: much faster for
    # photos, and both sides stay >= image_size so the result is still downsampled.
    im.draft(im.mode, (image_size, image_size))
    if im.width * im.height > MAX_PIXELS:
      raise Image.DecompressionBombError(f'{path} is {im.width}x{im.height} pixels')
    im.load()  # decode now (an animation's first frame), so truncated files fail here
    im = _exif_upright(im)
  im = _square(_flatten(im, channels), resize)
  if im.size != (image_size, image_size):
    im = im.resize((image_size, image_size), Image.Resampling.LANCZOS)
  return np.asarray(im, np.uint8).reshape(image_size, image_size, channels)


def load_image(path, *, image_size, channels, resize):
  """One image file as uint8 [image_size, image_size, channels], or None if unreadable."""
  check_options(image_size, channels, resize)
  try:
    return _decode(path, image_size, channels, resize)
  except _DECODE_ERRORS:
    return None


def _folder_of(paths):
  common = os.path.commonpath([os.path.abspath(p) for p in paths])
  return common if os.path.isdir(common) else os.path.dirname(common)


def validate(paths, labels, *, image_size, channels, resize, num_threads=8):
  """The (paths [M], labels [M], skipped paths) of the files that decode; M >= 1."""
  check_options(image_size, channels, resize)
  if not len(paths):
    raise GanjaxError('no image files to validate; check data.dir and the split')

  def readable(path):
    return load_image(path, image_size=image_size, channels=channels, resize=resize) is not None

  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    ok = np.fromiter(pool.map(readable, paths), bool, len(paths))
  skipped = [p for p, good in zip(paths, ok) if not good]
  if skipped:
    logging.warning('skipping %d unreadable or non-image files of %d, e.g. %s', len(skipped),
                    len(paths), ', '.join(skipped[:3]))
  if not ok.any():
    raise GanjaxError(f'none of the {len(paths)} image files in {_folder_of(paths)} could '
                      'be decoded; check that they are valid png/jpg/bmp/webp/gif images')
  return [p for p, good in zip(paths, ok) if good], np.asarray(labels, np.int32)[ok], skipped


class FolderSource:
  """Validated image paths and labels, decoded on demand into uint8 [..., S, S, C]."""

  def __init__(self, paths, labels, *, image_size, channels, resize, class_names=(),
               num_threads=8):
    check_options(image_size, channels, resize)
    self.paths = list(paths)
    self.labels = np.asarray(labels, np.int32)
    if len(self.paths) != len(self.labels):
      raise ValueError(f'{len(self.paths)} paths but {len(self.labels)} labels')
    self.class_names = list(class_names)
    self.image_size, self.channels, self.resize = image_size, channels, resize
    self._pool = concurrent.futures.ThreadPoolExecutor(num_threads)

  @classmethod
  def from_directory(cls, directory, *, conditional, holdout, split, seed, image_size,
                     channels, resize, num_threads=8):  # pylint: disable=redefined-outer-name
    """scan -> split -> validate: the split is drawn before unreadable files are dropped."""
    paths, labels, names = scan(directory, conditional=conditional)
    paths, labels = _holdout_split(paths, labels, holdout, split, seed)
    paths, labels, _ = validate(paths, labels, image_size=image_size, channels=channels,
                                resize=resize, num_threads=num_threads)
    return cls(paths, labels, image_size=image_size, channels=channels, resize=resize,
               class_names=names, num_threads=num_threads)

  @property
  def num_examples(self):
    return len(self.paths)

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def image_shape(self):
    return (self.image_size, self.image_size, self.channels)

  def _load_one(self, index):
    path = self.paths[index]
    image = load_image(path, image_size=self.image_size, channels=self.channels,
                       resize=self.resize)
    if image is None:
      raise GanjaxError(f'{path} can no longer be decoded (it changed after validation); '
                        'restore or remove it and restart')
    return image

  def load(self, indices):
    """Images uint8 [*indices.shape, S, S, C] of the examples at int `indices`."""
    indices = np.asarray(indices)
    flat = indices.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= self.num_examples):
      raise IndexError(f'indices out of range [0, {self.num_examples})')
    # Decode each distinct file once, even if a batch repeats it.
    unique, inverse = np.unique(flat, return_inverse=True)
    images = np.empty((len(unique), *self.image_shape), np.uint8)
    for i, image in enumerate(self._pool.map(self._load_one, unique.tolist())):
      images[i] = image
    return images[inverse.reshape(-1)].reshape(*indices.shape, *self.image_shape)

  def labels_at(self, indices):
    """Labels int32 [*indices.shape] of the examples at int `indices`."""
    return self.labels[np.asarray(indices)]

  def close(self):
    self._pool.shutdown(wait=True)
