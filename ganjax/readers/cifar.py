"""CIFAR-10 from the official binary version, never the pickled python version.

Reads `cifar-10-binary.tar.gz` straight from the archive (nothing is extracted to
disk) or the extracted `cifar-10-batches-bin/` folder. Each record is 3073 bytes: a
label byte, then the 32x32 R, G and B planes in row-major order.
"""

import os
import posixpath
import tarfile
import zlib

from absl import logging
import numpy as np

from ganjax.errors import GanjaxError

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
                   'horse', 'ship', 'truck')
URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
ARCHIVE = 'cifar-10-binary.tar.gz'
BIN_DIR = 'cifar-10-batches-bin'
SPLIT_FILES = {
    'train': tuple(f'data_batch_{i}.bin' for i in range(1, 6)),
    'test': ('test_batch.bin',),
}
ALL_FILES = SPLIT_FILES['train'] + SPLIT_FILES['test']
SIZE = 32
RECORD = 1 + 3 * SIZE * SIZE

# What the pickled python version looks like; we refuse it rather than unpickle.
_PYTHON_ARCHIVE = 'cifar-10-python.tar.gz'
_PYTHON_DIR = 'cifar-10-batches-py'
_PYTHON_FILES = tuple(os.path.splitext(name)[0] for name in ALL_FILES)


def _refuse_python(where):
  raise GanjaxError(f'{where} is the pickled python version of CIFAR-10 and ganjax never '
                    f'unpickles files; download {ARCHIVE} ({URL}) and point at it instead')


def _has_any(directory, names):
  return any(os.path.isfile(os.path.join(directory, name)) for name in names)


def _locate(path):
  """(archive path, None) or (None, folder of .bin files) for a user-given path."""
  if os.path.isfile(path):
    if os.path.basename(path) == _PYTHON_ARCHIVE:
      _refuse_python(path)
    return path, None
  if not os.path.isdir(path):
    raise GanjaxError(f'CIFAR-10 path {path} does not exist; download {URL} and point '
                      'data.dir at the folder holding it')
  for folder in (path, os.path.join(path, BIN_DIR)):
    if _has_any(folder, ALL_FILES):
      return None, folder
  if os.path.isfile(os.path.join(path, ARCHIVE)):
    return os.path.join(path, ARCHIVE), None
  if (os.path.basename(os.path.normpath(path)) == _PYTHON_DIR
      or _has_any(path, _PYTHON_FILES) or _has_any(path, (_PYTHON_ARCHIVE,))
      or os.path.isdir(os.path.join(path, _PYTHON_DIR))):
    _refuse_python(path)
  raise GanjaxError(f'no CIFAR-10 binary data in {path}: looked for {ARCHIVE}, {BIN_DIR}/ '
                    f'and data_batch_1.bin..test_batch.bin; download {URL} into it')


def _read_folder(folder, names):
  """{name: bytes} for each of `names` in `folder`."""
  missing = [name for name in names if not os.path.isfile(os.path.join(folder, name))]
  if missing:
    raise GanjaxError(f'{folder} lacks {", ".join(missing)}; re-download {URL} and '
                      'extract all of it (or point at the .tar.gz)')
  out = {}
  for name in names:
    with open(os.path.join(folder, name), 'rb') as f:
      out[name] = f.read()
  return out


def _scan_archive(tar, names):
  """({name: bytes} of the members named `names`, whether python-version files were seen)."""
  found, python = {}, False
  for member in tar:
    base = posixpath.basename(member.name)
    if member.isfile() and base in names and base not in found:
      found[base] = tar.extractfile(member).read()
      if len(found) == len(names):
        break
    elif base in _PYTHON_FILES or _PYTHON_DIR in member.name:
      python = True
  return found, python


def _read_archive(archive, names):
  """{name: bytes} for the members of `archive` whose base names are `names`."""
  try:
    with tarfile.open(archive, 'r:*') as tar:
      found, python = _scan_archive(tar, names)
  except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
    raise GanjaxError(f'cannot read {archive} as a tar archive ({e}); re-download {URL} '
                      'and point at it or at the extracted folder') from None
  if not found and python:
    _refuse_python(archive)
  missing = [name for name in names if name not in found]
  if missing:
    raise GanjaxError(f'{archive} lacks {", ".join(missing)}; it is not the CIFAR-10 '
                      f'binary version or is incomplete; re-download {URL}')
  return found


def parse_records(raw, name):
  """Images uint8 [N, 32, 32, 3] and labels int32 [N] from the bytes of one .bin file."""
  if not raw or len(raw) % RECORD:
    raise GanjaxError(f'{name} is truncated or corrupt ({len(raw)} bytes, not a multiple '
                      f'of the {RECORD}-byte record); re-download {URL}')
  records = np.frombuffer(raw, np.uint8).reshape(-1, RECORD)
  labels = records[:, 0].astype(np.int32)
  if labels.max() >= len(CIFAR10_CLASSES):
    raise GanjaxError(f'{name} is corrupt (label {labels.max()} >= 10); is it CIFAR-100? '
                      f're-download {URL}')
  # Records store channel planes (CHW); images are HWC.
  images = records[:, 1:].reshape(-1, 3, SIZE, SIZE).transpose(0, 2, 3, 1)
  return images, labels


def load_cifar10(path, split):
  """Images uint8 [N, 32, 32, 3] and labels int32 [N] of CIFAR-10 'train' or 'test'."""
  if split not in SPLIT_FILES:
    raise GanjaxError(f'unknown CIFAR-10 split {split!r}; use one of {sorted(SPLIT_FILES)}')
  path = os.path.expanduser(path)
  archive, folder = _locate(path)
  names = SPLIT_FILES[split]
  raw = _read_archive(archive, names) if archive else _read_folder(folder, names)
  parts = [parse_records(raw[name], os.path.join(archive or folder, name)) for name in names]
  images = np.concatenate([images for images, _ in parts])  # also makes it contiguous
  labels = np.concatenate([labels for _, labels in parts])
  logging.info('CIFAR-10 %s: %d images from %s', split, len(images), archive or folder)
  return images, labels
