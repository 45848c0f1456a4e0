"""Data: the IDX reader on the shared MNIST files, tfds via mock_data, the index sampler."""

import gzip
import os
import shutil

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import MNIST_DIR
from ganjax import input_pipeline
from ganjax.errors import GanjaxError


def _data_config(**kw):
  base = dict(name='mnist', dir='', split='train', source='auto', tfds_dir='')
  return ml_collections.ConfigDict({**base, **kw})


def test_idx_reader_on_the_shared_test_split():
  ds = input_pipeline.load_dataset(_data_config(dir=MNIST_DIR, split='test'))
  assert ds.images.shape == (10_000, 28, 28, 1) and ds.images.dtype == np.uint8
  assert ds.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the t10k labels
  assert np.bincount(ds.labels).tolist()[:3] == [980, 1135, 1032]
  assert ds.images.max() == 255 and ds.images.min() == 0
  assert ds.images[0, :5].sum() == 0  # MNIST's border rows are blank


def test_raw_and_gz_files_read_the_same(tmp_path):
  for name in os.listdir(MNIST_DIR):
    with gzip.open(os.path.join(MNIST_DIR, name)) as src, open(tmp_path / name[:-3], 'wb') as dst:
      shutil.copyfileobj(src, dst)
  raw = input_pipeline.load_dataset(_data_config(dir=str(tmp_path), split='test'))
  gz = input_pipeline.load_dataset(_data_config(dir=MNIST_DIR, split='test'))
  np.testing.assert_array_equal(raw.images, gz.images)


def _write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, '>u4').tobytes()
  with open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_corrupt_and_mismatched_files_are_clear_errors(tmp_path):
  images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
  _write_idx(tmp_path / 'train-images-idx3-ubyte', images)
  _write_idx(tmp_path / 'train-labels-idx1-ubyte', np.arange(5))
  ds = input_pipeline.load_dataset(_data_config(dir=str(tmp_path)))
  np.testing.assert_array_equal(ds.images[..., 0], images)
  _write_idx(tmp_path / 'train-labels-idx1-ubyte', np.arange(4))
  with pytest.raises(GanjaxError, match='do not match'):
    input_pipeline.load_dataset(_data_config(dir=str(tmp_path)))
  data = (tmp_path / 'train-images-idx3-ubyte').read_bytes()
  (tmp_path / 'train-images-idx3-ubyte').write_bytes(data[:-100])
  with pytest.raises(GanjaxError, match='truncated'):
    input_pipeline.read_idx(str(tmp_path / 'train-images-idx3-ubyte'))
  (tmp_path / 'train-images-idx3-ubyte').write_bytes(b'\x01\x02' + data[2:])
  with pytest.raises(GanjaxError, match='magic'):
    input_pipeline.read_idx(str(tmp_path / 'train-images-idx3-ubyte'))
  (tmp_path / 'bad.gz').write_bytes(b'not gzip at all')
  with pytest.raises(GanjaxError, match='cannot read'):
    input_pipeline.read_idx(str(tmp_path / 'bad.gz'))


@pytest.mark.parametrize('kw, match', [
    (dict(name='cifar11'), 'unknown dataset'),
    (dict(dir='/nonexistent/mnist'), 'does not exist'),
    (dict(dir='/tmp', split='train'), r'no train-images-idx3-ubyte\[.gz\] in data.dir'),
    (dict(dir=MNIST_DIR, split='validation'), 'unknown data.split'),
    (dict(source='files'), 'needs data.dir'),
    (dict(source='web'), 'unknown data.source'),
])
def test_bad_data_configs(kw, match):
  with pytest.raises(GanjaxError, match=match):
    input_pipeline.load_dataset(_data_config(**kw))


def test_tfds_source_with_mock_data():
  with tfds.testing.mock_data(num_examples=12):
    ds = input_pipeline.load_dataset(_data_config(source='tfds'))
  assert ds.images.shape == (12, 28, 28, 1) and ds.images.dtype == np.uint8
  assert ds.labels.shape == (12,) and ds.num_classes == 10


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
  with pytest.raises(GanjaxError, match='tfds build mnist'):
    input_pipeline.load_dataset(_data_config(tfds_dir=str(tmp_path)))


def test_index_order_is_a_pure_function_of_seed_and_step():
  a = input_pipeline.IndexSampler(seed=3, num_examples=50, batch=8, batches=2)
  whole = a.indices(0, 10)
  assert whole.shape == (10, 2, 8)
  fresh = input_pipeline.IndexSampler(seed=3, num_examples=50, batch=8, batches=2)
  np.testing.assert_array_equal(np.concatenate([fresh.indices(6, 4), fresh.indices(0, 6)][::-1]),
                                whole)
  stream = whole.reshape(-1)  # 160 positions = 3 full epochs of 50 + 10
  for epoch in range(3):
    assert sorted(stream[epoch * 50:(epoch + 1) * 50]) == list(range(50))
  assert not np.array_equal(stream[:50], stream[50:100])  # a fresh shuffle each epoch
  other = input_pipeline.IndexSampler(seed=4, num_examples=50, batch=8, batches=2)
  assert not np.array_equal(other.indices(0, 10), whole)


def test_sampling_with_replacement_is_a_pure_function_of_seed_and_step():
  """Seed 001's np.random.randint: each step draws its own indices, repeats allowed."""
  a = input_pipeline.IndexSampler(seed=3, num_examples=20, batch=16, batches=2,
                                  sampling='replacement')
  whole = a.indices(0, 10)
  assert whole.shape == (10, 2, 16) and whole.min() >= 0 and whole.max() < 20
  np.testing.assert_array_equal(np.concatenate([a.indices(0, 4), a.indices(4, 6)]), whole)
  assert any(len(set(step.ravel())) < 32 for step in whole)   # 32 draws of 20: repeats
  with pytest.raises(GanjaxError, match="data.sampling='bootstrap'"):
    input_pipeline.IndexSampler(0, 20, 4, sampling='bootstrap')
