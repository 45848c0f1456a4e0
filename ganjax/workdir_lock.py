"""One writer per workdir: an exclusive OS lock (flock) on WORKDIR/.lock.

The kernel drops a flock when its process dies, so a kill -9 or an OOM kill never leaves
a stale lock: the next run simply takes it. The file holds who took it (host, pid, start
time) so that a second process can say who is in its way. It is never deleted: removing
a lock file while someone may open it would let two processes lock two different files.
Readers (generate, evaluate, latent, report) do not lock.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket

from ganjax.errors import GanjaxError, describe_os_error

FILE = '.lock'


def holder(workdir):
  """The {'host', 'pid', 'start'} written by the process that took the lock, or {}."""
  try:
    with open(os.path.join(workdir, FILE)) as f:
      info = json.load(f)
    return info if isinstance(info, dict) else {}
  except (OSError, ValueError):
    return {}


def _describe(info):
  if not info:
    return 'another process (it has not written its name yet)'
  return (f'pid {info.get("pid")} on {info.get("host")}, started {info.get("start")}')


@contextlib.contextmanager
def locked(workdir, enabled=True):
  """Holds the exclusive lock on WORKDIR/.lock for the with-block; a GanjaxError at once
  if another process holds it. enabled=False (--no_lock) does nothing."""
  if not enabled:
    yield
    return
  path = os.path.join(workdir, FILE)
  try:
    os.makedirs(workdir, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:   # a read-only or full filesystem, no permission: before any work
    raise GanjaxError(f'cannot write {path}: {describe_os_error(e)}; training writes its workdir: '
                      'give a writable --workdir') from None
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise GanjaxError(
          f'{workdir} is in use by {_describe(holder(workdir))}: wait for it to end, stop it '
          '(kill -TERM saves a checkpoint), or give another --workdir') from None
    except OSError as e:
      if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        raise
      raise GanjaxError(
          f'the filesystem of {workdir} cannot lock files ({describe_os_error(e)}): if you '
          'are sure that no other process writes this workdir, rerun with --no_lock') from None
    info = {'host': socket.gethostname(), 'pid': os.getpid(),
            'start': datetime.datetime.now().astimezone().isoformat(timespec='seconds')}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode() + b'\n', 0)
    yield
  finally:
    os.close(fd)   # releases the lock
