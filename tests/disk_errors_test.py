"""A full disk or a read-only workdir (issue 16): a failed checkpoint write stops the run
with one line and keeps the last good checkpoint; failed sample or metric writes warn.

The OSError is injected at the write call with monkeypatch: the tests run as root, whom
chmod does not stop. Checkpoint writes fail where Orbax makes a step's tmp directory (in
save(), before any array is written) or where it renames the finished one into place (in
its background thread: the error surfaces at the next save or the final wait).
"""

import errno
import glob
import logging
import os

import jax
import numpy as np
import pytest
from orbax.checkpoint._src.path import atomicity

from conftest import make_small_config
from ganjax import sampling, train
from ganjax.checkpoint import Checkpointer, write_errno
from ganjax.errors import GanjaxError


def _steps(workdir):
  ckpt = Checkpointer(str(workdir), read_only=True)  # read-only: it cleans nothing up
  try:
    return ckpt.steps()
  finally:
    ckpt.close()


def _assert_identical(a, b):
  la, lb = jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(x, y)


def _oserror(code, path):
  return OSError(code, os.strerror(code), str(path))


def _fail_checkpoint(monkeypatch, step, where, code=errno.ENOSPC):
  """Orbax's write of checkpoint `step` fails with OSError(code): where='save' at its tmp
  directory's mkdir, where='commit' at its final rename (in the background)."""
  real = {'save': atomicity.async_path.mkdir, 'commit': atomicity.async_path.rename}[where]

  async def failing(path, *args, **kwargs):
    if os.path.basename(str(path)).split('.')[0] == str(step):
      raise _oserror(code, path)
    return await real(path, *args, **kwargs)
  monkeypatch.setattr(atomicity.async_path, {'save': 'mkdir', 'commit': 'rename'}[where],
                      failing)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """One 8-step run (checkpoints at 4 and 8) for the module's tests to compare against."""
  return train.train_and_evaluate(make_small_config(), str(tmp_path_factory.mktemp('full')))


@pytest.mark.parametrize('where,step,shown,kept', [
    ('save', 8, 8, [4]),     # raised inside save(8)
    ('commit', 8, 8, [4]),   # raised at the loop's final wait
    ('commit', 4, 4, []),    # raised at save(8), naming step 4: nothing to resume from
])
def test_failed_checkpoint_stops_with_one_line_and_rerun_resumes(
    uninterrupted, small_config, tmp_path, monkeypatch, caplog, where, step, shown, kept):
  with monkeypatch.context() as m:
    _fail_checkpoint(m, step, where)
    with pytest.raises(GanjaxError) as e:
      train.train_and_evaluate(small_config, str(tmp_path))
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(f'cannot write checkpoint step {shown} in {tmp_path}/'
                            'checkpoints: No space left on device (ENOSPC); free space')
  assert message.endswith(f'resume from step {kept[-1]}, the last good checkpoint' if kept
                          else 'start over (no checkpoint was saved yet)')
  assert not [r for r in caplog.records if r.exc_info]  # Orbax's tracebacks of it dropped
  assert _steps(tmp_path) == kept
  assert not os.path.exists(f'{tmp_path}/checkpoints/{step}')  # no half-written step
  if kept:  # the checkpoint before the failure restores as it was
    ckpt = Checkpointer(str(tmp_path), read_only=True)
    state, at = ckpt.restore(uninterrupted, set_aside=False)
    ckpt.close()
    assert at == 4 and int(state.step) == 4
  resumed = train.train_and_evaluate(small_config, str(tmp_path))  # the disk is fixed
  _assert_identical(uninterrupted, resumed)
  assert _steps(tmp_path) == [4, 8]
  assert not glob.glob(f'{tmp_path}/checkpoints/*tmp*')  # Orbax removed the unfinished one


def test_failed_sample_and_metric_writes_only_warn(uninterrupted, small_config, tmp_path,
                                                   monkeypatch, caplog):
  def no_png(image, path, scale=1):
    raise _oserror(errno.EROFS, path)
  monkeypatch.setattr(sampling, 'save_png', no_png)
  real_open = open

  def full_jsonl(path, *args, **kwargs):  # opens, then fails at the first flush
    f = real_open(path, *args, **kwargs)
    if str(path).endswith('metrics.jsonl'):
      def flush():
        raise _oserror(errno.ENOSPC, path)
      f.flush = flush
    return f
  monkeypatch.setattr('builtins.open', full_jsonl)
  with caplog.at_level(logging.WARNING):
    state = train.train_and_evaluate(small_config, str(tmp_path))
  monkeypatch.undo()
  _assert_identical(uninterrupted, state)
  assert _steps(tmp_path) == [4, 8]
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  grids = [w for w in warnings if 'sample grid' in w]
  assert grids == [f'cannot write sample grid {tmp_path}/samples/step_4.png: Read-only '
                   'file system (EROFS); training goes on (later grids that fail are not '
                   'reported)']
  assert [w for w in warnings if 'metrics.jsonl' in w] == [
      f'cannot write {tmp_path}/metrics.jsonl: No space left on device (ENOSPC); training '
      'goes on without it']
  assert glob.glob(f'{tmp_path}/tensorboard/events.out.tfevents.*')  # the other output


def test_write_errno_reads_tensorstore_errors():
  """TensorStore reports a full disk as a ValueError quoting the OS error (as seen on a
  full tmpfs); Orbax may chain the OSError under its own exception."""
  full = ValueError('RESOURCE_EXHAUSTED: Error writing "w/0" in OCDBT database at local '
                    'file "/w/checkpoints/8.orbax-checkpoint-tmp/...": Failed to write '
                    "555322 bytes to file 4: No space left on device [os_error_code='28']")
  assert write_errno(full) == errno.ENOSPC
  try:
    try:
      raise _oserror(errno.EACCES, '/w')
    except OSError as e:
      raise RuntimeError('commit failed') from e
  except RuntimeError as e:
    assert write_errno(e) == errno.EACCES
  assert write_errno(ValueError('Requested shape: (3,) is not compatible')) is None
  assert write_errno(_oserror(errno.EIO, '/w')) is None
