"""Hostile inputs: image files that must be skipped (bombs, loops, FIFOs, fakes) or must
still load (16-bit, CMYK, palette alpha, animations), and cut-short or mismatched IDX and
CIFAR-10 files, which must be one-line errors that name the file."""

import gzip
import logging
import os
import struct
import tarfile
import threading
import zlib

import numpy as np
from PIL import Image
import pytest

from conftest import write_cifar_bins
from ganjax import input_pipeline
from ganjax.errors import GanjaxError
from ganjax.readers import cifar
from ganjax.readers import folder

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
S = 16  # fixture images are S x S and load at S: no resize, so pixels compare exactly


def _png(width, height, depth, color_type, rows):
  """A PNG file's bytes, written by hand: Pillow cannot write 16-bit RGB or lie about
  its size. rows: the raw scanlines (each led by its filter byte), deflated here."""
  def chunk(kind, data):
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data)))
  header = struct.pack('>IIBBBBB', width, height, depth, color_type, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
          + chunk(b'IDAT', zlib.compress(rows, 1)) + chunk(b'IEND', b''))


def _rgb16_png(rgb16):
  """An S x S 16-bit-per-channel RGB PNG of one colour."""
  row = b'\x00' + np.tile(np.asarray(rgb16, '>u2'), S).tobytes()
  return _png(S, S, 16, 2, row * S)


def _palette_with_alpha():
  """Mode P, columns 0-5 opaque red, 6-10 half-transparent green, 11-15 clear blue."""
  index = np.repeat(np.array([0, 1, 2], np.uint8), [6, 5, 5])
  im = Image.fromarray(np.tile(index, (S, 1)), 'P')
  im.putpalette(list(RED + GREEN + BLUE) + [0] * 759)
  return im


def _frames():
  return [Image.new('RGB', (S, S), c) for c in (RED, GREEN, BLUE)]


def _noise_jpeg(path):
  pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
  Image.fromarray(pixels).save(path, quality=90)


# name -> the uint8 [S, S, 3] image it must load as.
GOOD = {
    'gray16.png': np.full((S, S, 3), 4),  # 1000 / 257; PIL's own conversion clips to 255
    'rgb16.png': np.full((S, S, 3), (200, 100, 30)),
    'cmyk.jpg': np.full((S, S, 3), RED),
    'palette.png': np.tile(np.repeat([RED, (0, 128, 0), (0, 0, 0)], [6, 5, 5], 0), (S, 1, 1)),
    'anim.gif': np.full((S, S, 3), RED),  # the first frame
    'anim.webp': np.full((S, S, 3), RED),
    'x.png/inner.png': np.full((S, S, 3), BLUE),  # a folder named like an image
}
BAD = ['bomb.png', 'big.png', 'truncated.jpg', 'loop.png', 'fake.png', 'tiff.png']


@pytest.fixture(scope='module')
def hostile_dir(tmp_path_factory):
  """root/cls/ with GOOD and BAD files, plus links that must not be followed."""
  root = tmp_path_factory.mktemp('hostile')
  d = root / 'cls'
  (d / 'x.png').mkdir(parents=True)
  Image.new('I;16', (S, S), 1000).save(d / 'gray16.png')
  (d / 'rgb16.png').write_bytes(_rgb16_png([257 * 200, 257 * 100, 257 * 30]))
  Image.new('CMYK', (S, S), (0, 255, 255, 0)).save(d / 'cmyk.jpg', quality=100)
  _palette_with_alpha().save(d / 'palette.png', transparency=bytes([255, 128, 0]))
  first, *rest = _frames()
  first.save(d / 'anim.gif', save_all=True, append_images=rest, duration=50, loop=0)
  first.save(d / 'anim.webp', save_all=True, append_images=rest, duration=50,
             lossless=True)
  Image.new('RGB', (S, S), BLUE).save(d / 'x.png' / 'inner.png')
  # 30000^2 pixels declared in 100 bytes: beyond 2 * MAX_IMAGE_PIXELS, Pillow refuses.
  (d / 'bomb.png').write_bytes(_png(30000, 30000, 8, 0, b''))
  # A valid 9500^2 black PNG (90M pixels, ~0.4 MB): Pillow only warns and would decode it.
  assert Image.MAX_IMAGE_PIXELS < 9500 ** 2 < 2 * Image.MAX_IMAGE_PIXELS
  (d / 'big.png').write_bytes(_png(9500, 9500, 8, 0, bytes(9501 * 9500)))
  _noise_jpeg(d / 'full.jpg')
  (d / 'truncated.jpg').write_bytes((d / 'full.jpg').read_bytes()[:1500])
  (d / 'full.jpg').unlink()
  (d / 'fake.png').write_text('not an image, whatever the name says')
  Image.new('RGB', (S, S), RED).save(d / 'tiff.png', format='TIFF')  # not a PNG inside
  os.symlink('loop.png', d / 'loop.png')
  os.symlink('..', d / 'up')  # would list the folder inside itself, forever
  os.symlink('.', root / 'self')  # as a class: the whole dataset again
  os.symlink('toploop', root / 'toploop')
  return root


def _load(path, size=S, channels=3):
  return folder.load_image(str(path), image_size=size, channels=channels, resize='crop')


def _rel(root, paths):
  return sorted(os.path.relpath(p, root).replace(os.sep, '/') for p in paths)


@pytest.mark.parametrize('conditional', [True, False])
def test_scan_lists_files_once_and_follows_no_loop(hostile_dir, conditional):
  paths, labels, names = folder.scan(str(hostile_dir), conditional=conditional)
  assert names == (['cls'] if conditional else [])
  assert _rel(hostile_dir, paths) == sorted(f'cls/{n}' for n in [*GOOD, *BAD])
  assert labels.tolist() == [0] * len(paths)
  assert folder.class_folders(str(hostile_dir)) == ['cls']


def test_validate_skips_exactly_the_hostile_files(hostile_dir, caplog):
  paths, labels, _ = folder.scan(str(hostile_dir), conditional=True)
  with caplog.at_level(logging.WARNING):
    kept, _, skipped = folder.validate(paths, labels, image_size=S, channels=3,
                                       resize='crop', num_threads=4)
  assert _rel(hostile_dir / 'cls', kept) == sorted(GOOD)
  assert _rel(hostile_dir / 'cls', skipped) == sorted(BAD)
  warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warning) == 1 and warning[0].startswith(f'skipping {len(BAD)} unreadable')


@pytest.mark.parametrize('name', sorted(GOOD))
def test_unusual_images_load_with_the_right_pixels(hostile_dir, name):
  image = _load(hostile_dir / 'cls' / name)
  assert image.shape == (S, S, 3) and image.dtype == np.uint8
  tolerance = 3 if name.endswith('.jpg') else 0
  np.testing.assert_allclose(image, GOOD[name], atol=tolerance)
  gray = _load(hostile_dir / 'cls' / name, channels=1)
  assert gray.shape == (S, S, 1)


def test_fixture_animations_really_have_frames(hostile_dir):
  for name in ('anim.gif', 'anim.webp'):
    with Image.open(hostile_dir / 'cls' / name) as im:
      assert im.n_frames == 3, name


def test_16_bit_gray_scales_rather_than_clips(hostile_dir):
  assert _load(hostile_dir / 'cls' / 'gray16.png', channels=1).max() == 4


@pytest.mark.parametrize('name', BAD)
def test_hostile_files_load_as_none(hostile_dir, name):
  assert _load(hostile_dir / 'cls' / name) is None


def test_a_folder_named_like_an_image_loads_as_none(hostile_dir):
  assert _load(hostile_dir / 'cls' / 'x.png') is None


def test_own_pixel_limit_holds_even_if_pillow_has_none(hostile_dir, monkeypatch):
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', None)  # e.g. raised by the user
  assert _load(hostile_dir / 'cls' / 'big.png') is None


def test_pixel_limit_counts_a_jpeg_at_its_draft_size(tmp_path, monkeypatch):
  monkeypatch.setattr(folder, 'MAX_PIXELS', 32 * 32)
  Image.new('RGB', (32, 32), RED).save(tmp_path / 'at.png')
  Image.new('RGB', (33, 32), RED).save(tmp_path / 'over.png')
  Image.new('RGB', (64, 64), RED).save(tmp_path / 'big.jpg', quality=95)
  assert _load(tmp_path / 'at.png', 8) is not None
  assert _load(tmp_path / 'over.png', 8) is None
  # Loaded at 8x8, the JPEG decodes at 1/8 scale (8x8); at 64x64 it is too large.
  np.testing.assert_allclose(_load(tmp_path / 'big.jpg', 8), np.full((8, 8, 3), RED),
                             atol=3)
  assert _load(tmp_path / 'big.jpg', 64) is None


@pytest.mark.skipif(not hasattr(os, 'mkfifo'), reason='no FIFOs here')
def test_a_fifo_named_like_an_image_does_not_hang(tmp_path):
  fifo = tmp_path / 'pipe.png'
  os.mkfifo(fifo)
  result = []
  thread = threading.Thread(target=lambda: result.append(_load(fifo)), daemon=True)
  thread.start()
  thread.join(10)
  if thread.is_alive():  # blocked in open(): give it a writer so the thread can end
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    pytest.fail('reading a FIFO blocked')
  assert result == [None]


# ----------------------------------------------------------------- IDX and CIFAR-10


def _idx(array):
  header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, '>u4').tobytes()
  return header + array.astype(np.uint8).tobytes()


def _one_line_error(fn, *args, match):
  with pytest.raises(GanjaxError, match=match) as e:
    fn(*args)
  assert '\n' not in str(e.value)
  return str(e.value)


@pytest.mark.parametrize('raw, match', [
    (_idx(np.zeros((5, 28, 28)))[:-1], 'truncated or corrupt: header says 3920 bytes'),
    (_idx(np.zeros((5, 28, 28)))[:9], 'truncated: its header is cut short'),
    (b'\x00\x00\x08', 'bad magic'),
    # 2^31 * 2^31 * 4 wraps to 0 in int64: must not read as a 0-byte payload.
    (bytes([0, 0, 8, 3]) + np.array([2**31, 2**31, 4], '>u4').tobytes(), 'header says'),
])
def test_cut_short_idx_files_are_one_line_errors(tmp_path, raw, match):
  path = tmp_path / 'train-images-idx3-ubyte'
  path.write_bytes(raw)
  message = _one_line_error(input_pipeline.read_idx, str(path), match=match)
  assert str(path) in message and 're-download' in message


def test_damaged_gzip_idx_files_are_one_line_errors(tmp_path):
  data = gzip.compress(_idx(np.arange(50 * 28 * 28).reshape(50, 28, 28) % 97))
  short = tmp_path / 'short.gz'
  short.write_bytes(data[:len(data) // 2])  # gzip: EOFError
  _one_line_error(input_pipeline.read_idx, str(short), match=f'cannot read IDX file {short}')
  garbled = tmp_path / 'garbled.gz'
  garbled.write_bytes(data[:20] + b'\xff' * 16 + data[36:])  # zlib.error: bad Huffman codes
  message = _one_line_error(input_pipeline.read_idx, str(garbled),
                            match=f'cannot read IDX file {garbled}')
  assert 'invalid' in message and 're-download' in message


def test_idx_image_and_label_counts_must_match(tmp_path):
  (tmp_path / 'train-images-idx3-ubyte').write_bytes(_idx(np.zeros((5, 28, 28))))
  (tmp_path / 'train-labels-idx1-ubyte.gz').write_bytes(gzip.compress(_idx(np.arange(4))))
  message = _one_line_error(input_pipeline.load_idx_dataset, 'mnist', str(tmp_path),
                            'train', match='do not match')
  assert str(tmp_path / 'train-images-idx3-ubyte') in message
  assert str(tmp_path / 'train-labels-idx1-ubyte.gz') in message
  assert '(5, 28, 28)' in message and '(4,)' in message and 're-download' in message


@pytest.mark.parametrize('size', [0, 2 * cifar.RECORD + 1, 3 * (cifar.RECORD + 1)])
def test_cifar_batch_of_the_wrong_length_names_the_file(tmp_path, size):
  """Empty, cut mid-record, and CIFAR-100's 3074-byte records."""
  directory = write_cifar_bins(tmp_path / 'bins', per_file=3)
  (directory / 'test_batch.bin').write_bytes(bytes(size))
  message = _one_line_error(cifar.load_cifar10, str(directory), 'test',
                            match='is truncated or corrupt')
  assert str(directory / 'test_batch.bin') in message and 're-download' in message
  # The same member inside the archive names the archive and the member.
  archive = tmp_path / cifar.ARCHIVE
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(directory / 'test_batch.bin', f'{cifar.BIN_DIR}/test_batch.bin')
  message = _one_line_error(cifar.load_cifar10, str(archive), 'test',
                            match='is truncated or corrupt')
  assert f'{archive}/test_batch.bin' in message and 're-download' in message
