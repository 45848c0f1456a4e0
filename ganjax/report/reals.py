"""Real training images laid out as a run's sample grid (report/real.png): the cells,
padding and upscale hooks.grid_writer draws, one class a row for a conditional run, so a
generated grid can be read against the real images it imitates.

The draw is a pure function of the run's config (seeded by config.seed). real.json keeps
what drew real.png, and a later report redraws it only when that differs: a folder
dataset decodes every image when it loads, which a report at each run's end should not
repeat.
"""

import json
import os

import numpy as np

from ganjax import input_pipeline, run_config, sampling
from ganjax.errors import GanjaxError

SALT = 0x2EA1   # the draw's own stream: not the reference's or the fixed noise's


def pick(labels, count, side, num_classes, seed):
  """Indices int64 [side * side] of real images in grid order (row-major), drawn with
  `seed`: row r holds images of class r % num_classes (labels int [count]) as the sample
  grid's row r does, or, with num_classes 0, any of the `count` images. Without
  replacement where there are enough."""
  rng = np.random.default_rng([seed, SALT])
  if not num_classes:
    return rng.choice(count, side * side, replace=count < side * side)
  rows = []
  for c in sampling.class_rows(side, num_classes)[::side]:
    members = np.flatnonzero(np.asarray(labels) == c)
    if not len(members):
      raise GanjaxError(f'the training data hold no image of class {c}: no real row for it')
    rows.append(rng.choice(members, side, replace=len(members) < side))
  return np.concatenate(rows)


def draw(data_config, side, num_classes, seed):
  """(images uint8 [side*side,H,W,C], labels int32 [side*side]) of the run's training
  split in grid order, through the training input pipeline."""
  dataset = input_pipeline.load_dataset(data_config, conditional=bool(num_classes))
  try:
    idx = pick(dataset.labels, dataset.num_examples, side, num_classes, seed)
    if hasattr(dataset, 'load'):   # a streaming folder decodes only these
      return dataset.load(idx), dataset.labels_at(idx)
    return dataset.images[idx], dataset.labels[idx]
  finally:
    if hasattr(dataset, 'close'):
      dataset.close()


def key(config, num_classes):
  """What real.png depends on: the data config, the seed, the grid's side and classes."""
  return {'data': config.data.to_dict(), 'seed': config.get('seed', 0),
          'side': config.get('sample_grid', 10), 'num_classes': num_classes}


def _kept(out, want):
  try:
    with open(os.path.join(out, 'real.json')) as f:
      kept = json.load(f)
  except (OSError, ValueError):
    return None
  ok = kept.get('key') == want and os.path.exists(os.path.join(out, 'real.png'))
  return kept if ok else None


def write(config, out, num_classes):
  """Writes OUT/real.png (and real.json) unless the kept ones match `config`; returns
  real.json's {'key', 'labels': per cell or None, 'shape': [H, W, C] of a cell}."""
  want = json.loads(json.dumps(key(config, num_classes)))   # as it reads back
  kept = _kept(out, want)
  if kept:
    return kept
  side = want['side']
  images, labels = draw(config.data, side, num_classes, want['seed'])
  sampling.save_png(sampling.grid(images, rows=side), os.path.join(out, 'real.png'),
                    scale=sampling.grid_scale(side, images.shape[1]))
  info = {'key': want, 'labels': labels.tolist() if num_classes else None,
          'shape': list(images.shape[1:])}
  run_config.write_atomically(os.path.join(out, 'real.json'), json.dumps(info))
  return info
