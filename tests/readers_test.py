"""Readers: CIFAR-10 binary files and archives, and a user's folder of mixed images."""

import io
import logging
import os
import tarfile

import numpy as np
from PIL import Image
import pytest

from ganjax.errors import GanjaxError
from ganjax.readers import cifar
from ganjax.readers import folder

# --------------------------------------------------------------------------- CIFAR-10

RECORDS_PER_FILE = 3


def _cifar_images(first, count):
  """HWC images whose value encodes (record, row, column, channel): R, G, B all differ."""
  r, h, w, c = np.meshgrid(np.arange(first, first + count), np.arange(32), np.arange(32),
                           np.arange(3), indexing='ij')
  return ((r * 37 + c * 100 + h * 3 + w) % 256).astype(np.uint8)


def _cifar_labels(first, count):
  return (np.arange(first, first + count) * 3 % 10).astype(np.int32)


def _cifar_file_bytes(file_index):
  first = file_index * RECORDS_PER_FILE
  images = _cifar_images(first, RECORDS_PER_FILE)
  labels = _cifar_labels(first, RECORDS_PER_FILE)
  chw = images.transpose(0, 3, 1, 2).reshape(RECORDS_PER_FILE, -1)  # the file's planes
  return np.concatenate([labels[:, None].astype(np.uint8), chw], axis=1).tobytes()


def _write_bin_dir(directory):
  os.makedirs(directory, exist_ok=True)
  for i, name in enumerate(cifar.ALL_FILES):
    with open(os.path.join(directory, name), 'wb') as f:
      f.write(_cifar_file_bytes(i))
  return directory


def _write_tar(path, members):
  with tarfile.open(path, 'w:gz') as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return str(path)


@pytest.fixture
def cifar_archive(tmp_path):
  members = {f'cifar-10-batches-bin/{name}': _cifar_file_bytes(i)
             for i, name in enumerate(cifar.ALL_FILES)}
  members['cifar-10-batches-bin/batches.meta.txt'] = '\n'.join(cifar.CIFAR10_CLASSES).encode()
  (tmp_path / 'dl').mkdir()
  return _write_tar(tmp_path / 'dl' / cifar.ARCHIVE, members)


def test_cifar_classes():
  assert len(cifar.CIFAR10_CLASSES) == 10
  assert cifar.CIFAR10_CLASSES[:3] == ('airplane', 'automobile', 'bird')
  assert cifar.CIFAR10_CLASSES[-1] == 'truck'


def test_cifar_bin_folder_gives_hwc_images_and_labels(tmp_path):
  _write_bin_dir(tmp_path / 'cifar-10-batches-bin')
  images, labels = cifar.load_cifar10(str(tmp_path), 'train')
  assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8
  assert labels.dtype == np.int32
  assert labels.tolist() == [0, 3, 6, 9, 2, 5, 8, 1, 4, 7, 0, 3, 6, 9, 2]  # 5 files, in order
  np.testing.assert_array_equal(images, _cifar_images(0, 15))
  # The planes became channels: R, G, B of record 1 at (0, 0) and one step right/down.
  assert images[1, 0, 0].tolist() == [37, 137, 237]
  assert images[1, 0, 1].tolist() == [38, 138, 238]
  assert images[1, 1, 0].tolist() == [40, 140, 240]
  test_images, test_labels = cifar.load_cifar10(str(tmp_path / 'cifar-10-batches-bin'), 'test')
  np.testing.assert_array_equal(test_images, _cifar_images(15, 3))
  assert test_labels.tolist() == [5, 8, 1]


def test_cifar_archive_reads_like_the_folder(tmp_path, cifar_archive):
  _write_bin_dir(tmp_path / 'bin')
  for split in ('train', 'test'):
    want_images, want_labels = cifar.load_cifar10(str(tmp_path / 'bin'), split)
    for path in (cifar_archive, os.path.dirname(cifar_archive)):
      images, labels = cifar.load_cifar10(path, split)
      np.testing.assert_array_equal(images, want_images)
      np.testing.assert_array_equal(labels, want_labels)
  assert not os.path.exists(tmp_path / 'dl' / 'cifar-10-batches-bin')  # nothing extracted


def test_cifar_truncated_file_and_bad_label_are_errors(tmp_path):
  folder_path = _write_bin_dir(tmp_path / 'bin')
  with open(folder_path / 'test_batch.bin', 'r+b') as f:
    f.truncate(2 * cifar.RECORD + 100)
  with pytest.raises(GanjaxError, match=r'test_batch.bin is truncated or corrupt.*re-download'):
    cifar.load_cifar10(str(folder_path), 'test')
  raw = bytearray(_cifar_file_bytes(0))
  raw[cifar.RECORD] = 10  # label byte of the second record
  (folder_path / 'data_batch_1.bin').write_bytes(bytes(raw))
  with pytest.raises(GanjaxError, match='label 10'):
    cifar.load_cifar10(str(folder_path), 'train')


def test_cifar_truncated_archive_is_an_error(tmp_path, cifar_archive):
  with open(cifar_archive, 'rb') as f:
    raw = f.read()
  short = tmp_path / cifar.ARCHIVE
  short.write_bytes(raw[:len(raw) // 2])
  with pytest.raises(GanjaxError, match='re-download'):
    cifar.load_cifar10(str(short), 'test')


def _python_layouts(tmp_path):
  (tmp_path / 'a' / 'cifar-10-batches-py').mkdir(parents=True)
  (tmp_path / 'a' / 'cifar-10-batches-py' / 'data_batch_1').write_bytes(b'')
  (tmp_path / 'b').mkdir()
  (tmp_path / 'b' / 'cifar-10-python.tar.gz').write_bytes(b'not really')
  (tmp_path / 'c').mkdir()
  (tmp_path / 'c' / 'data_batch_1').write_bytes(b'')
  renamed = _write_tar(tmp_path / 'c' / 'download.tar.gz',
                       {'cifar-10-batches-py/data_batch_1': b'\x80\x04'})
  return [tmp_path / 'a', tmp_path / 'a' / 'cifar-10-batches-py', tmp_path / 'b',
          tmp_path / 'b' / 'cifar-10-python.tar.gz', tmp_path / 'c', renamed]


def test_cifar_python_version_is_refused(tmp_path):
  for path in _python_layouts(tmp_path):
    with pytest.raises(GanjaxError, match='never unpickles.*cifar-10-binary.tar.gz') as e:
      cifar.load_cifar10(str(path), 'train')
    assert 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz' in str(e.value)
    assert '\n' not in str(e.value)


def test_cifar_missing_files_are_errors(tmp_path):
  with pytest.raises(GanjaxError, match=f'no CIFAR-10 binary data in {tmp_path}.*data_batch_1'):
    cifar.load_cifar10(str(tmp_path), 'train')
  with pytest.raises(GanjaxError, match='does not exist'):
    cifar.load_cifar10(str(tmp_path / 'nope'), 'train')
  bin_dir = _write_bin_dir(tmp_path / 'cifar-10-batches-bin')
  os.remove(bin_dir / 'data_batch_3.bin')
  with pytest.raises(GanjaxError, match=f'{bin_dir} lacks data_batch_3.bin'):
    cifar.load_cifar10(str(tmp_path), 'train')
  assert len(cifar.load_cifar10(str(tmp_path), 'test')[0]) == 3  # test needs no batch 3
  partial = _write_tar(tmp_path / 'partial.tar.gz',
                       {'cifar-10-batches-bin/data_batch_1.bin': _cifar_file_bytes(0)})
  with pytest.raises(GanjaxError, match='lacks test_batch.bin'):
    cifar.load_cifar10(partial, 'test')
  with pytest.raises(GanjaxError, match='unknown CIFAR-10 split'):
    cifar.load_cifar10(str(tmp_path), 'validation')


# ---------------------------------------------------------------------- image folder


def _half_white(width, height, mode='RGB'):
  """White left half, black right half."""
  a = np.zeros((height, width), np.uint8)
  a[:, :width // 2] = 255
  return Image.fromarray(a).convert(mode)


def _rgba_half_transparent():
  """Left half opaque red; right half fully transparent *white*."""
  a = np.zeros((16, 16, 4), np.uint8)
  a[:, :8] = (255, 0, 0, 255)
  a[:, 8:] = (255, 255, 255, 0)
  return Image.fromarray(a, 'RGBA')


def _palette_half_transparent():
  """Mode P: index 1 (red) on the left, index 0 (white, transparent) on the right."""
  im = Image.fromarray(np.tile(np.array([1] * 8 + [0] * 8, np.uint8), (16, 1)), 'P')
  im.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)
  im.info['transparency'] = 0
  return im


def _noise_bytes(fmt):
  im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
  buf = io.BytesIO()
  im.save(buf, fmt)
  return buf.getvalue()


# Relative paths of the fixture, in the sorted order scan() must return.
GOOD = ['cats/gray.bmp', 'cats/half.png', 'cats/nested/deep.webp', 'cats/tall.JPG',
        'dogs/palette.png', 'dogs/rgba.png']
BAD = ['cats/broken.png', 'dogs/broken.jpg', 'dogs/fake.png']
ALL = sorted(GOOD + BAD)


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('images')
  for d in ('cats/nested', 'dogs'):
    (root / d).mkdir(parents=True)
  _half_white(40, 20).save(root / 'cats/half.png')
  Image.new('RGB', (17, 33), (10, 200, 30)).save(root / 'cats/tall.JPG', quality=95)
  Image.new('L', (64, 64), 77).save(root / 'cats/gray.bmp')
  Image.new('RGB', (30, 30), (0, 0, 255)).save(root / 'cats/nested/deep.webp', lossless=True)
  _rgba_half_transparent().save(root / 'dogs/rgba.png')
  _palette_half_transparent().save(root / 'dogs/palette.png', transparency=0)
  (root / 'cats/broken.png').write_bytes(_noise_bytes('PNG')[:2000])
  (root / 'dogs/broken.jpg').write_bytes(_noise_bytes('JPEG')[:1500])
  (root / 'dogs/fake.png').write_text('this is not a png')
  (root / 'cats/notes.txt').write_text('not an image, and no image extension')
  (root / 'cats/._half.png').write_bytes(b'\x00\x05\x16\x07 AppleDouble')  # macOS litter
  (root / '.ipynb_checkpoints').mkdir()  # hidden: not a class
  _half_white(8, 8).save(root / '.ipynb_checkpoints' / 'half.png')
  return root


def _rel(root, paths):
  return [os.path.relpath(p, root).replace(os.sep, '/') for p in paths]


def test_scan_conditional_finds_classes_recursively(image_dir):
  paths, labels, names = folder.scan(str(image_dir), conditional=True)
  assert names == ['cats', 'dogs'] == folder.class_folders(str(image_dir))
  assert _rel(image_dir, paths) == ALL
  assert labels.dtype == np.int32
  assert labels.tolist() == [0 if p.startswith('cats') else 1 for p in ALL]


def test_scan_unconditional_labels_everything_zero(image_dir):
  paths, labels, names = folder.scan(str(image_dir), conditional=False)
  assert _rel(image_dir, paths) == ALL and names == []
  assert labels.tolist() == [0] * len(ALL)


def test_validate_drops_exactly_the_broken_files(image_dir, caplog):
  paths, labels, _ = folder.scan(str(image_dir), conditional=True)
  with caplog.at_level(logging.WARNING):
    kept, kept_labels, skipped = folder.validate(paths, labels, image_size=16, channels=3,
                                                 resize='crop', num_threads=2)
  assert _rel(image_dir, kept) == GOOD
  assert kept_labels.tolist() == [0, 0, 0, 0, 1, 1]
  assert sorted(_rel(image_dir, skipped)) == sorted(BAD)
  warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warning) == 1 and warning[0].startswith('skipping 3 unreadable')
  assert 'broken.png' in warning[0]


def test_validate_errors_when_nothing_decodes(image_dir):
  bad = [str(image_dir / p) for p in BAD]
  with pytest.raises(GanjaxError, match=f'none of the 3 image files in {image_dir} could'):
    folder.validate(bad, [0, 0, 0], image_size=16, channels=3, resize='crop')


@pytest.mark.parametrize('channels', [1, 3])
def test_source_loads_any_index_shape(image_dir, channels):
  paths, labels, _ = folder.validate(*folder.scan(str(image_dir), conditional=True)[:2],
                                     image_size=24, channels=channels, resize='pad')
  source = folder.FolderSource(paths, labels, image_size=24, channels=channels, resize='pad',
                               class_names=['cats', 'dogs'], num_threads=2)
  assert source.num_examples == 6 and source.num_classes == 2
  indices = np.array([[0, 5, 2], [5, 1, 0]])
  batch = source.load(indices)
  assert batch.shape == (2, 3, 24, 24, channels) and batch.dtype == np.uint8
  np.testing.assert_array_equal(batch[0, 0], batch[1, 2])  # the same file twice
  assert source.labels_at(indices).tolist() == [[0, 1, 0], [1, 0, 0]]
  assert source.load(np.array(3)).shape == (24, 24, channels)
  assert source.load(np.zeros((0,), np.int32)).shape == (0, 24, 24, channels)
  gray = source.load(np.array([0]))[0]  # gray.bmp: 77 everywhere, whatever the channels
  assert np.all(gray == 77)
  with pytest.raises(IndexError):
    source.load(np.array([6]))
  source.close()


def _load(path, size, channels=3, resize='crop'):
  return folder.load_image(str(path), image_size=size, channels=channels, resize=resize)


def test_crop_and_pad_of_a_wide_image(image_dir):
  path = image_dir / 'cats/half.png'  # 40 x 20: white left half, black right half
  crop = _load(path, 20)  # the central 20 x 20 (columns 10..29): no resize needed
  assert crop.shape == (20, 20, 3)
  assert np.all(crop[:, :10] == 255) and np.all(crop[:, 10:] == 0)
  assert np.all(_load(path, 20, channels=1)[..., 0] == crop[..., 0])
  pad = _load(path, 20, resize='pad').astype(float)  # 40 x 40 with 10 black rows each side
  assert abs(pad.mean() - 255 / 4) < 3
  assert pad[:4].max() < 8 and pad[16:].max() < 8  # the padding
  assert pad[7:13, 1:8].min() > 245 and pad[7:13, 12:19].max() < 10
  small = _load(path, 8).astype(float)  # downsampled crop: still half white
  assert abs(small.mean() - 127.5) < 4 and small[:, :3].min() > 245


def test_resize_of_a_tall_jpeg(image_dir):
  for resize in ('crop', 'pad'):
    image = _load(image_dir / 'cats/tall.JPG', 32, resize=resize).astype(int)
    assert image.shape == (32, 32, 3)
    center = image[12:20, 12:20].reshape(-1, 3).mean(0)
    assert np.all(np.abs(center - [10, 200, 30]) < 8)
    if resize == 'pad':  # 17 wide in 33: black bars left and right
      assert image[:, :6].max() < 12 and image[:, -6:].max() < 12
    else:
      assert image[:, :3].reshape(-1, 3).mean(0)[1] > 180


def test_transparent_pixels_become_black(image_dir):
  for name in ('rgba.png', 'palette.png'):
    rgb = _load(image_dir / 'dogs' / name, 16)
    assert np.all(rgb[:, :8] == [255, 0, 0]) and np.all(rgb[:, 8:] == 0), name
    gray = _load(image_dir / 'dogs' / name, 16, channels=1)[..., 0]
    assert np.all(gray[:, :8] == 76) and np.all(gray[:, 8:] == 0), name  # luma of red


@pytest.mark.parametrize('mode,value,want', [
    ('L', 100, [100] * 3),
    ('1', 1, [255] * 3),
    ('LA', (100, 255), [100] * 3),
    ('LA', (100, 0), [0] * 3),
    ('RGB', (1, 2, 3), [1, 2, 3]),
    ('RGBA', (10, 20, 30, 255), [10, 20, 30]),
    ('CMYK', (0, 0, 0, 0), [255] * 3),
    ('CMYK', (0, 255, 255, 0), [255, 0, 0]),
    ('I;16', 128 * 257, [128] * 3),  # PIL alone would clip this to 255
    ('I;16', 65535, [255] * 3),
])
def test_any_mode_becomes_rgb(tmp_path, mode, value, want):
  path = tmp_path / ('x.jpg' if mode == 'CMYK' else 'x.png')
  Image.new(mode, (12, 9), value).save(path, quality=100)
  image = _load(path, 8)
  assert image.shape == (8, 8, 3) and image.dtype == np.uint8
  assert np.abs(image.astype(int) - want).max() <= 2
  assert _load(path, 8, channels=1).shape == (8, 8, 1)


def test_exif_orientation_is_applied(tmp_path):
  exif = Image.Exif()
  exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
  _half_white(40, 20).save(tmp_path / 'r.jpg', exif=exif, quality=95)
  image = _load(tmp_path / 'r.jpg', 20, channels=1)[..., 0].astype(float)
  assert image[:8].mean() > 240 and image[12:].mean() < 15  # white on top once upright


def test_unreadable_files_load_as_none(image_dir, tmp_path):
  for name in BAD:
    assert _load(image_dir / name, 16) is None, name
  assert _load(tmp_path / 'missing.png', 16) is None
  assert _load(image_dir / 'cats/notes.txt', 16) is None


def test_split_is_seeded_and_holds_out_a_fraction():
  paths = [f'img{i:03d}.png' for i in range(100)]
  labels = np.arange(100) % 7
  train, train_labels = folder.split(paths, labels, holdout=0.2, split='train', seed=3)
  test, test_labels = folder.split(paths, labels, holdout=0.2, split='test', seed=3)
  assert len(train) == 80 and len(test) == 20
  assert sorted(train + test) == paths
  assert train == sorted(train)  # folder order within a split
  assert [int(p[3:6]) % 7 for p in test] == test_labels.tolist()
  assert train_labels.dtype == np.int32
  assert folder.split(paths, labels, holdout=0.2, split='test', seed=3)[0] == test
  assert folder.split(paths, labels, holdout=0.2, split='test', seed=4)[0] != test
  everything, _ = folder.split(paths, labels, holdout=0, split='train', seed=3)
  assert everything == paths
  with pytest.raises(GanjaxError, match='needs a holdout'):
    folder.split(paths, labels, holdout=0, split='test', seed=3)
  with pytest.raises(GanjaxError, match='unknown split'):
    folder.split(paths, labels, holdout=0.2, split='val', seed=3)
  with pytest.raises(GanjaxError, match='must be in'):
    folder.split(paths, labels, holdout=1.0, split='train', seed=3)
  assert len(folder.split(paths[:3], labels[:3], holdout=0.01, split='test', seed=0)[0]) == 1


def test_from_directory_splits_before_dropping_broken_files(image_dir):
  scanned, labels, _ = folder.scan(str(image_dir), conditional=True)
  want, _ = folder.split(scanned, labels, holdout=0.5, split='train', seed=0)
  source = folder.FolderSource.from_directory(
      str(image_dir), conditional=True, holdout=0.5, split='train', seed=0, image_size=16,
      channels=1, resize='crop', num_threads=2)
  assert source.paths == [p for p in want if _rel(image_dir, [p])[0] in GOOD]
  assert source.class_names == ['cats', 'dogs'] and source.image_shape == (16, 16, 1)
  source.close()


def test_file_broken_after_validation_is_an_error(image_dir, tmp_path):
  path = tmp_path / 'a.png'
  path.write_bytes((image_dir / 'cats/half.png').read_bytes())
  source = folder.FolderSource([str(path)], [0], image_size=8, channels=3, resize='crop')
  assert source.load(np.array([0])).shape == (1, 8, 8, 3)
  path.write_text('overwritten')
  with pytest.raises(GanjaxError, match=f'{path} can no longer be decoded'):
    source.load(np.array([0]))
  source.close()


def test_folder_layout_errors(tmp_path, image_dir):
  with pytest.raises(GanjaxError, match='does not exist'):
    folder.scan(str(tmp_path / 'nope'), conditional=False)
  (tmp_path / 'empty' / 'sub').mkdir(parents=True)
  (tmp_path / 'empty' / 'readme.txt').write_text('hi')
  for conditional in (False, True):
    with pytest.raises(GanjaxError, match=f'no images .*in {tmp_path / "empty"};'):
      folder.scan(str(tmp_path / 'empty'), conditional=conditional)
  mixed = tmp_path / 'mixed'
  (mixed / 'cats').mkdir(parents=True)
  _half_white(8, 8).save(mixed / 'cats' / 'a.png')
  _half_white(8, 8).save(mixed / 'loose.png')
  with pytest.raises(GanjaxError, match='images outside class subfolders.*loose.png'):
    folder.scan(str(mixed), conditional=True)
  assert len(folder.scan(str(mixed), conditional=False)[0]) == 2
  os.remove(mixed / 'loose.png')
  (mixed / 'dogs').mkdir()
  with pytest.raises(GanjaxError, match='class folders without images.*dogs'):
    folder.scan(str(mixed), conditional=True)


@pytest.mark.parametrize('kw,match', [
    (dict(image_size=512), 'from 8 to 256'),
    (dict(image_size=4), 'from 8 to 256'),
    (dict(channels=2), 'use 1'),
    (dict(resize='stretch'), "use one of \\('crop', 'pad'\\)"),
])
def test_bad_options_are_errors(image_dir, kw, match):
  options = {**dict(image_size=16, channels=3, resize='crop'), **kw}
  with pytest.raises(GanjaxError, match=match):
    folder.FolderSource([], [], **options)
  with pytest.raises(GanjaxError, match=match):
    folder.load_image(str(image_dir / 'cats/half.png'), **options)
