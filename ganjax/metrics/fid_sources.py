"""What `experiments.fid` compares: a SOURCE is an .npz of uint8 images, a folder of
images, a dataset spec ('cifar10:train', 'mnist:test' with a data dir), or a statistics
file (ganjax.metrics.fid_stats). Images come back as uint8 [N,H,W,C], C = 1 or 3."""

import dataclasses
import os
import time
import zipfile
from typing import Optional

import numpy as np
from PIL import Image

from ganjax import input_pipeline
from ganjax.errors import GanjaxError
from ganjax.metrics import fid_stats
from ganjax.readers import folder


@dataclasses.dataclass
class Source:
  """One side of a comparison: images [N,H,W,C] uint8, or precomputed Stats; cached: a
  dataset split's, whose features are worth caching."""
  spec: str
  images: Optional[np.ndarray] = None
  stats: Optional[fid_stats.Stats] = None
  cached: bool = False


def check_images(images, where):
  """uint8 [N,H,W,C] with N >= 2 and C in (1, 3), else a one-line GanjaxError."""
  if images.dtype != np.uint8:
    raise GanjaxError(f'{where}: images are {images.dtype}, expected uint8 in 0..255; '
                      'convert with (x * 255).round().clip(0, 255).astype(np.uint8)')
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise GanjaxError(f'{where}: images have shape {images.shape}, expected [N,H,W,C] with '
                      'C = 1 or 3')
  if len(images) < 2:
    raise GanjaxError(f'{where}: {len(images)} image(s); FID and KID need at least 2')
  return images


def _read_npz(path):
  with np.load(path, allow_pickle=False) as z:
    if 'images' not in z.files:
      raise GanjaxError(f'{path} has no `images` array (it has {sorted(z.files)}); save '
                        'uint8 [N,H,W,C] images as np.savez(path, images=...)')
    return check_images(z['images'], path)


def _read_folder(directory):
  """Every image below directory, decoded as RGB, all of one size."""
  paths = folder.images_below(directory)
  if not paths:
    raise GanjaxError(f'{directory} holds no images ({", ".join(folder.EXTENSIONS)})')
  images, first = [], None
  for path in paths:
    try:
      with Image.open(path, formats=folder.FORMATS) as im:
        rgb = np.asarray(im.convert('RGB'))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
      raise GanjaxError(f'cannot decode {path} ({type(e).__name__}); remove or replace '
                        'it') from None
    if first is None:
      first = (path, rgb.shape)
    elif rgb.shape != first[1]:
      raise GanjaxError(f'mixed image sizes: {first[0]} is {first[1][1]}x{first[1][0]}, '
                        f'{path} is {rgb.shape[1]}x{rgb.shape[0]}; resize them to one size')
    images.append(rgb)
  return check_images(np.stack(images), directory)


def _read_dataset(spec, data_dir):
  name, _, split = spec.partition(':')
  if name not in input_pipeline.DATASETS:
    raise GanjaxError(f'unknown dataset {name!r} in {spec!r}; use one of '
                      f'{sorted(input_pipeline.DATASETS)} as NAME:SPLIT, a folder or an .npz')
  if not data_dir:
    raise GanjaxError(f'{spec} needs --data_dir (the folder with its original files)')
  from configs import common   # pylint: disable=g-import-not-at-top
  dataset = input_pipeline.load_dataset(common.data(name, dir=data_dir, split=split or 'train',
                                                    source='files'))
  return check_images(dataset.images, spec)


def load(spec, data_dir=''):
  """The Source that spec names (see the module docstring)."""
  if os.path.isdir(spec):
    return Source(spec, images=_read_folder(spec))
  if os.path.isfile(spec):
    if fid_stats.is_stats_file(spec):
      return Source(spec, stats=fid_stats.load(spec))
    try:
      return Source(spec, images=_read_npz(spec))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
      raise GanjaxError(f'cannot read {spec} as an .npz ({type(e).__name__}); give an .npz '
                        'of uint8 images, a statistics file, a folder or NAME:SPLIT') from None
  if ':' in spec and not os.path.exists(spec):
    return Source(spec, images=_read_dataset(spec, data_dir), cached=True)
  raise GanjaxError(f'{spec} does not exist; give an .npz of uint8 images, a statistics '
                    'file, a folder of images, or NAME:SPLIT (e.g. cifar10:train)')


def measure(source, space, cache_dir='', log=lambda message: None):
  """(features [N,D] or None, Stats) of a Source in a FeatureSpace (evaluation.py). A
  dataset split's features go through cache_dir's content-addressed cache (resumable;
  fid_stats.cache_stem) and its statistics to .stats.npz beside them."""
  if source.stats is not None:
    if source.stats.space != space.name:
      raise GanjaxError(f'{source.spec} holds statistics in {source.stats.space!r}, not '
                        f'{space.name!r}; write it again with --save_stats')
    return None, source.stats
  start, first = time.time(), []

  def progress(done, total):
    first.extend([] if first else [(done, time.time())])   # rate from the first chunk on
    rate = (done - first[0][0]) / max(time.time() - first[0][1], 1e-9)
    log(f'{source.spec}: {done}/{total} images' + (f', {rate:.1f} images/s' if rate else ''))

  cache_dir = fid_stats.usable_cache_dir(cache_dir)
  if cache_dir and source.cached:
    stem = fid_stats.cache_stem(cache_dir, source.images, space.name)
    features = fid_stats.cached_features(space.embed, source.images, stem + '.npy',
                                         progress=progress)
    result = fid_stats.stats_of(features, space.name)
    if not os.path.exists(stem + '.stats.npz'):
      fid_stats.save(stem + '.stats.npz', result)
    return features, result
  features = space.embed(source.images)
  seconds = max(time.time() - start, 1e-9)
  log(f'{source.spec}: {len(features)} images in {seconds:.1f} s '
      f'({len(features) / seconds:.1f} images/s)')
  return features, fid_stats.stats_of(features, space.name)
