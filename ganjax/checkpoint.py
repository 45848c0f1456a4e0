"""Orbax checkpoints under WORKDIR/checkpoints: save, restore newest good, set aside bad.

Nothing on disk is ever deleted by this module except through Orbax's own
`max_to_keep` rotation; a checkpoint that fails to restore is moved to
WORKDIR/corrupt_checkpoints/ and the next newest one is tried.
"""

import dataclasses
import os
import shutil
import time

import jax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from ganjax.errors import GanjaxError


def checkpoint_dir(workdir, subdir='checkpoints'):
  """Where a run's checkpoints live (WORKDIR/best holds the best-by-metric one)."""
  return os.path.join(os.path.abspath(workdir), subdir)


class Checkpointer:
  """A thin wrapper over ocp.CheckpointManager with corrupt-checkpoint fallback."""

  def __init__(self, workdir, keep=None, read_only=False, subdir='checkpoints'):
    self.workdir = os.path.abspath(workdir)
    self.directory = checkpoint_dir(workdir, subdir)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                           read_only=read_only)
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
    self.manager.save(int(step), args=ocp.args.StandardSave(state), force=True)

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
    """Blocks until every pending async save is on disk."""
    self.manager.wait_until_finished()

  def close(self):
    """Finishes pending saves and releases the manager."""
    self.manager.wait_until_finished()
    self.manager.close()
