"""Scalars to WORKDIR/metrics.jsonl and TensorBoard (tensorboardX), from process 0 only.

tensorboardX, not clu.metric_writers: it writes event files with protobuf alone, so
logging never runs TensorFlow ops in the training process, and it adds one small pure
Python package (clu would add clu, etils extras and a tf.summary dependency chain).
"""

import json
import os
import sys


def _summary_writer_class():
  """tensorboardX's SummaryWriter, imported with torch hidden: tensorboardX imports torch
  when it is installed (2 s of every start-up here) only to accept torch tensors, and
  this module passes floats."""
  hide = 'torch' not in sys.modules
  if hide:
    sys.modules['torch'] = None   # `import torch` raises ImportError while this is set
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  finally:
    if hide:
      del sys.modules['torch']
  return SummaryWriter


class MetricWriter:
  """Appends {'step': s, name: value, ...} lines and TensorBoard scalars."""

  def __init__(self, workdir, enabled=True):
    self.enabled = enabled
    if enabled:
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
      self._tb = _summary_writer_class()(os.path.join(workdir, 'tensorboard'))

  def write(self, step, scalars):
    """Records a dict of float scalars at `step`."""
    if not self.enabled:
      return
    row = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    self._jsonl.write(json.dumps(row) + '\n')
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(name, float(value), int(step))

  def close(self):
    """Flushes and closes both outputs."""
    if self.enabled:
      self._jsonl.close()
      self._tb.close()
