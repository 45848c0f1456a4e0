"""Orbax checkpoints under WORKDIR/checkpoints: save, restore newest good, set aside bad.

Nothing on disk is ever deleted by this module except through Orbax: its `max_to_keep`
rotation, and its removal of unfinished step directories (`*.orbax-checkpoint-tmp*`,
never renamed into place). A checkpoint that fails to restore is moved to
WORKDIR/corrupt_checkpoints/ and the next newest one is tried. A save that fails for want
of disk space or write permission stops the run with one line (GanjaxError); the
checkpoints before it stay as they were.
"""

import contextlib
import dataclasses
import errno
import os
import shutil
import time

import jax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from ganjax.errors import GanjaxError, describe_os_error


def checkpoint_dir(workdir, subdir='checkpoints'):
  """Where a run's checkpoints live (WORKDIR/best holds the best-by-metric one)."""
  return os.path.join(os.path.abspath(workdir), subdir)


# Write failures that no retry fixes until someone frees space or fixes the mount or
# permissions, and what to tell them (EDQUOT: a cluster quota is a full disk too).
_WRITE_ERRORS = {
    errno.ENOSPC: 'free space on that disk (or lower --config.keep_checkpoints)',
    errno.EDQUOT: 'free space or raise your disk quota',
    errno.EROFS: 'remount that filesystem read-write',
    errno.EACCES: 'make that directory writable by this user',
}


def write_errno(e):
  """ENOSPC, EDQUOT, EROFS or EACCES if `e` (or an exception it chains) is that OSError,
  or names its OS message (TensorStore reports a failed array write as a ValueError
  that quotes the OS error); None for any other exception."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in _WRITE_ERRORS:
      return e.errno
    text = str(e)
    for code in _WRITE_ERRORS:
      if os.strerror(code) in text:
        return code
    e = e.__cause__ or e.__context__
  return None


class _ReportedWriteErrors(logging.logging.Filter):
  """Drops Orbax's log records (tracebacks, from its save threads) of a write failure
  this module reports as a one-line GanjaxError: the user sees that line alone."""

  def filter(self, record):
    exc = record.exc_info[1] if record.exc_info else None
    return not (exc is not None and '/orbax/' in record.pathname and write_errno(exc))


def _quiet_reported_write_errors():
  logger = logging.get_absl_logger()
  if not any(isinstance(f, _ReportedWriteErrors) for f in logger.filters):
    logger.addFilter(_ReportedWriteErrors())


class Checkpointer:
  """A thin wrapper over ocp.CheckpointManager with corrupt-checkpoint fallback."""

  def __init__(self, workdir, keep=None, read_only=False, subdir='checkpoints'):
    self.workdir = os.path.abspath(workdir)
    self.directory = checkpoint_dir(workdir, subdir)
    self._what = 'best checkpoint' if subdir == 'best' else 'checkpoint'
    self._pending = None   # the step of the async save in flight, if any
    self._failed = False   # a write failure was reported: close() stays quiet
    _quiet_reported_write_errors()
    # cleanup_tmp_directories: a save that failed (a full disk) leaves its unfinished
    # tmp directory behind; it never restores, and on a full disk its space is needed.
    # Step directories made in save() itself, not in the background: when that mkdir
    # fails (read-only, no permission), the array writes Orbax started in the background
    # would wait for it for 5 minutes (a barrier timeout) and hold up the exit.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=not read_only, read_only=read_only,
        cleanup_tmp_directories=not read_only,
        async_options=ocp.AsyncOptions(create_directories_asynchronously=False))
    with self._writing(None):
      self.manager = ocp.CheckpointManager(self.directory, options=options,
                                           item_handlers=ocp.StandardCheckpointHandler())

  def steps(self):
    """Saved steps, oldest first."""
    self.manager.reload()
    return sorted(self.manager.all_steps())

  def save(self, step, state):
    """Starts an async save of `state` at `step` (a no-op if that step is saved)."""
    if step in self.manager.all_steps():
      return
    self.wait()  # a failed earlier save is reported with its own step, not this one's
    with self._writing(step):
      self.manager.save(int(step), args=ocp.args.StandardSave(state), force=True)
    self._pending = step

  @contextlib.contextmanager
  def _writing(self, step):
    """Turns a disk-full / read-only / permission failure of a save into one line."""
    try:
      yield
    except Exception as e:  # Orbax and TensorStore wrap the OSError in their own types
      code = write_errno(e)
      if code is None:
        raise
      self._failed = True
      raise GanjaxError(self._write_error(step, code)) from None

  def _write_error(self, step, code):
    what = f'{self._what} step {step}' if step is not None else f'{self._what}s'
    resume = 'resume'
    if self._what == 'checkpoint':
      try:
        steps = self.steps()
        resume = (f'resume from step {steps[-1]}, the last good checkpoint' if steps else
                  'start over (no checkpoint was saved yet)')
      except Exception:  # pylint: disable=broad-except
        pass  # not even listable: say nothing about what is there
    return (f'cannot write {what} in {self.directory}: {describe_os_error(code)}; '
            f'{_WRITE_ERRORS[code]}, then rerun the same command to {resume}')

  def restore(self, target, step=None, set_aside=True):
    """Restores into `target` (abstract or concrete state); returns (state, step).

    step=None restores the newest checkpoint that reads back, skipping (and, with
    set_aside, moving away) any newer unreadable one; returns (None, None) when no
    checkpoint reads back.
    """
    steps = self.steps()
    if step is not None:
      if step not in steps:
        raise GanjaxError(f'no checkpoint for step {step} in {self.directory}; '
                          f'saved steps: {steps or "none"}')
      return self._restore(step, target), step
    for s in reversed(steps):
      try:
        return self._restore(s, target), s
      except Exception as e:  # any read failure means this checkpoint is unusable
        logging.warning('checkpoint %d in %s does not restore (%s: %s); trying an older '
                        'one', s, self.directory, type(e).__name__,
                        str(e).splitlines()[0] if str(e) else '')
        if set_aside:
          self._set_aside(s)
    return None, None

  def _restore(self, step, target):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    new = self._fields_newer_than(step, abstract)
    if not new:
      return self.manager.restore(int(step), args=ocp.args.StandardRestore(abstract))
    # A checkpoint from before these (empty) state fields existed: restore the rest.
    kept = {f.name: getattr(abstract, f.name) for f in dataclasses.fields(abstract)
            if f.name not in new}
    restored = self.manager.restore(int(step), args=ocp.args.StandardRestore(kept))
    return target.replace(**restored)

  def _fields_newer_than(self, step, abstract):
    """Fields of a dataclass state that hold no arrays and that the checkpoint at `step`
    predates (state fields added since, unused by this run)."""
    if not dataclasses.is_dataclass(abstract):
      return []
    try:
      metadata = self.manager.item_metadata(int(step))
    except Exception:  # pylint: disable=broad-except
      return []   # no readable metadata: the full restore below decides
    saved = getattr(metadata, 'tree', metadata)
    if not hasattr(saved, 'keys'):
      return []
    return [f.name for f in dataclasses.fields(abstract) if f.name not in saved
            and not jax.tree.leaves(getattr(abstract, f.name))]

  def _set_aside(self, step):
    if jax.process_index() == 0:
      dest = os.path.join(self.workdir, 'corrupt_checkpoints', f'{step}-{int(time.time())}')
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      shutil.move(os.path.join(self.directory, str(step)), dest)
      logging.warning('moved unreadable checkpoint %d to %s (nothing deleted)', step, dest)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'ganjax_set_aside_{step}')
    self.manager.reload()

  def wait(self):
    """Blocks until every pending async save is on disk. Orbax writes in the background:
    a save's failure surfaces here, at the next save() or at close()."""
    step, self._pending = self._pending, None
    with self._writing(step):
      self.manager.wait_until_finished()

  def close(self):
    """Finishes pending saves and releases the manager."""
    reported = self._failed
    try:
      self.wait()
    except GanjaxError:
      if not reported:  # else the caller is already unwinding from that one error
        raise
    finally:
      with self._writing(None):  # its own wait is a no-op now: Orbax raises an error once
        self.manager.close()
