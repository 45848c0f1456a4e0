"""Scalars to WORKDIR/metrics.jsonl and TensorBoard (tensorboardX), from process 0 only.

tensorboardX, not clu.metric_writers: it writes event files with protobuf alone, so
logging never runs TensorFlow ops in the training process, and it adds one small pure
Python package (clu would add clu, etils extras and a tf.summary dependency chain).
"""

import json
import os

from tensorboardX import SummaryWriter


class MetricWriter:
  """Appends {'step': s, name: value, ...} lines and TensorBoard scalars."""

  def __init__(self, workdir, enabled=True):
    self.enabled = enabled
    if enabled:
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

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
