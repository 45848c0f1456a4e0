"""Scalars to WORKDIR/metrics.jsonl and TensorBoard (tensorboardX), from process 0 only.

tensorboardX, not clu.metric_writers: it writes event files with protobuf alone, so
logging never runs TensorFlow ops in the training process, and it adds one small pure
Python package (clu would add clu, etils extras and a tf.summary dependency chain).

A failed write (a full or read-only disk) warns once and turns that output off: the
scalars are a record of training, not its state (the checkpoints are), so losing some is
no reason to stop a run; if the disk stays full, the next checkpoint save stops the run
with its own one-line error. A line cut mid-write is skipped by its readers (report_data).
"""

import json
import os
import sys
import time

from absl import logging

from ganjax.errors import describe_os_error

_FLUSH_SECS = 120  # TensorBoard events reach the disk at least this often (tensorboardX's)


def _tensorboardx():
  """tensorboardX's EventsWriter, Event proto and scalar summary, imported with torch
  hidden: tensorboardX imports torch when it is installed (2 s of every start-up here)
  only to accept torch tensors, and this module passes floats."""
  hide = 'torch' not in sys.modules
  if hide:
    sys.modules['torch'] = None   # `import torch` raises ImportError while this is set
  try:
    # pylint: disable=g-import-not-at-top
    from tensorboardX import event_file_writer, summary
    from tensorboardX.proto import event_pb2
  finally:
    if hide:
      del sys.modules['torch']
  return event_file_writer.EventsWriter, event_pb2.Event, summary.scalar


class MetricWriter:
  """Appends {'step': s, name: value, ...} lines and TensorBoard scalars."""

  def __init__(self, workdir, enabled=True):
    self.enabled = enabled
    self._jsonl = self._tb = None
    if not enabled:
      return
    jsonl = os.path.join(workdir, 'metrics.jsonl')
    self._try(jsonl, lambda: setattr(self, '_jsonl', open(jsonl, 'a')))
    # tensorboardX's SummaryWriter writes from a thread that dies on a failed write,
    # after which its bounded queue blocks the training loop for good: write the events
    # here instead, on the calling thread, where a failure is seen and only warns.
    events_writer, self._event, self._scalar = _tensorboardx()
    self._tb_dir = os.path.join(workdir, 'tensorboard')
    self._flushed = -float('inf')  # the first scalars show at once

    def open_tb():
      os.makedirs(self._tb_dir, exist_ok=True)
      self._tb = events_writer(os.path.join(self._tb_dir, 'events'))
    self._try(self._tb_dir, open_tb)

  def _try(self, path, write):
    """Runs write(); on an OSError warns (with `path` and the cause), returns False."""
    try:
      write()
      return True
    except OSError as e:
      logging.warning('cannot write %s: %s; training goes on without it', path,
                      describe_os_error(e))
      return False

  def write(self, step, scalars):
    """Records a dict of float scalars at `step`."""
    if not self.enabled:
      return
    row = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    if self._jsonl is not None and not self._try(self._jsonl.name,
                                                 lambda: self._append(row)):
      self._jsonl = self._drop(self._jsonl)
    if self._tb is not None and not self._try(self._tb_dir,
                                              lambda: self._add_events(step, scalars)):
      self._tb = self._drop(self._tb)

  def _append(self, row):
    self._jsonl.write(json.dumps(row) + '\n')
    self._jsonl.flush()

  def _add_events(self, step, scalars):
    now = time.time()
    for name, value in scalars.items():
      self._tb.write_event(self._event(wall_time=now, step=int(step),
                                       summary=self._scalar(name, float(value))))
    if time.monotonic() - self._flushed > _FLUSH_SECS:
      self._tb.flush()
      self._flushed = time.monotonic()

  @staticmethod
  def _drop(output):
    """Closes an output whose write failed (warned already: what it held is lost)."""
    try:
      output.close()
    except OSError:
      pass
    return None

  def close(self):
    """Flushes and closes both outputs."""
    if self._jsonl is not None:
      self._try(self._jsonl.name, self._jsonl.close)
    if self._tb is not None:
      self._try(self._tb_dir, self._tb.close)
    self._jsonl = self._tb = None
