"""The workdir lock: a second writer is refused at once and told who holds it; a holder
killed with SIGKILL leaves no stale lock; a filesystem without locks says --no_lock."""

import errno
import fcntl
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO
from ganjax import train, workdir_lock
from ganjax.errors import GanjaxError

HOLD = ('import sys, time\nfrom ganjax import workdir_lock\n'
        'with workdir_lock.locked(sys.argv[1]):\n'
        '  print("locked", flush=True)\n  time.sleep(600)\n')


def _holder(workdir):
  """A process that takes the lock and sleeps; returns it once it holds the lock."""
  proc = subprocess.Popen([sys.executable, '-c', HOLD, workdir], cwd=REPO,
                          stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline() == 'locked\n'
  return proc


def test_second_writer_is_refused_with_the_holder_named(tmp_path, small_config):
  workdir = str(tmp_path / 'run')
  proc = _holder(workdir)
  try:
    info = workdir_lock.holder(workdir)
    assert info['pid'] == proc.pid and info['host'] and info['start']
    with pytest.raises(GanjaxError, match=rf'in use by pid {proc.pid} on .*kill -TERM'):
      train.train_and_evaluate(small_config, workdir)
    assert not os.path.exists(os.path.join(workdir, 'config.json'))   # refused before writing
  finally:
    proc.send_signal(signal.SIGKILL)   # as an OOM kill would
    proc.wait()
  # the kernel dropped the dead holder's lock: no stale lock to clean up
  with workdir_lock.locked(workdir):
    assert workdir_lock.holder(workdir)['pid'] == os.getpid()


def test_one_process_cannot_lock_twice_and_no_lock_skips(tmp_path):
  workdir = str(tmp_path)
  with workdir_lock.locked(workdir):
    # flock belongs to the open file, so a second open in the same process is refused too
    with pytest.raises(GanjaxError, match=f'pid {os.getpid()}'):
      with workdir_lock.locked(workdir):
        pass
    with workdir_lock.locked(workdir, enabled=False):
      pass
  with workdir_lock.locked(workdir):   # released on exit
    pass


def test_filesystem_without_locks_points_to_no_lock(tmp_path, monkeypatch):
  def no_locks(fd, op):
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
  monkeypatch.setattr(fcntl, 'flock', no_locks)
  with pytest.raises(GanjaxError, match='cannot lock files .*--no_lock'):
    with workdir_lock.locked(str(tmp_path)):
      pass


def test_unwritable_workdir_is_one_line(tmp_path, monkeypatch):
  def read_only(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))
  monkeypatch.setattr(os, 'open', read_only)
  with pytest.raises(GanjaxError, match=r'cannot write .*\.lock: Read-only file system'):
    with workdir_lock.locked(str(tmp_path)):
      pass
