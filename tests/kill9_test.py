"""kill -9 at any moment (issue 16): a run SIGKILLed at random moments, one of them while
a checkpoint is being written, then rerun, ends bit-identical to a run never stopped;
a half-written step directory is never restored and never stops the rerun.

Orbax writes a step into `<step>.orbax-checkpoint-tmp-<ts>` and renames it into place
when complete, so a kill during a save leaves only that tmp directory (which the rerun's
CheckpointManager deletes). A step directory that is there but does not read back (a
truncated or missing file) is moved to WORKDIR/corrupt_checkpoints/ and the next newest
one restores. The kernel drops the workdir's flock when its holder dies: no stale lock.
"""

import fcntl
import glob
import logging
import os
import random
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import EIGHT_DEVICES, MNIST_DIR, REPO, finish, make_small_config, start
from ganjax import train, workdir_lock
from ganjax.checkpoint import Checkpointer

NUM_STEPS = 16      # the CLI runs save every 4 steps
TMP = '.orbax-checkpoint-tmp'
TIMEOUT = 180       # seconds for any one wait on a CLI run (a loaded 2-core machine)

# The CLI flags that make the CLI's config equal _config()'s.
CLI = [sys.executable, '-m', 'experiments.train', '--config=configs/mnist_mlp.py',
       f'--config.data.dir={MNIST_DIR}', '--config.data.split=test',
       '--config.batch_size=16', f'--config.num_steps={NUM_STEPS}',
       '--config.steps_per_dispatch=4', '--config.log_every=4',
       f'--config.sample_every={NUM_STEPS}',
       '--config.checkpoint_every=4', '--config.model.latent_dim=8',
       '--config.model.generator.hidden=(32,64)',
       '--config.model.discriminator.hidden=(64,32)', '--config.report=False']


def _config():
  """CLI's config, but saving every 8 steps (fewer slow saves in this process): its
  chunks, and so its numbers, are the same (every chunk is 4 steps either way)."""
  c = make_small_config()
  c.num_steps = c.sample_every = NUM_STEPS
  c.checkpoint_every = 8
  c.report = False
  return c


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """The run never interrupted (in this process): its final state and its workdir, with
  checkpoints 8 and 16."""
  workdir = str(tmp_path_factory.mktemp('kill9') / 'reference')
  return train.train_and_evaluate(_config(), workdir), workdir


def _assert_identical(expected, got):
  """Every leaf (G and D params, both optimizer states, step, RNG, ...) bit-equal."""
  want = jax.tree_util.tree_leaves_with_path(jax.device_get(expected))
  have = jax.tree_util.tree_leaves_with_path(jax.device_get(got))
  assert [p for p, _ in want] == [p for p, _ in have]
  for (path, x), (_, y) in zip(want, have):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                  err_msg=jax.tree_util.keystr(path))


def _restore(workdir, target, step=None):
  ckpt = Checkpointer(workdir, read_only=True)  # read-only: it moves and cleans nothing
  try:
    return ckpt.restore(target, step=step, set_aside=False)
  finally:
    ckpt.close()


def _entries(workdir):
  """(complete steps, unfinished tmp directories) in WORKDIR/checkpoints."""
  try:
    names = os.listdir(os.path.join(workdir, 'checkpoints'))
  except FileNotFoundError:
    return [], set()
  return sorted(int(n) for n in names if n.isdigit()), {n for n in names if TMP in n}


def _tmp_step(name):
  return int(name.split('.')[0])


class _Saves:
  """Tracks one run's unfinished step directories. Orbax reuses names such as
  `8.orbax-checkpoint-tmp`: one left by a killed run counts as this run's only once it
  has been seen gone (the rerun's CheckpointManager deletes it when it starts, seconds
  before its own first save)."""

  def __init__(self, workdir):
    self.workdir = workdir
    self.old = _entries(workdir)[1]

  def steps(self):
    """Steps of this run's saves in flight (or left unfinished) now."""
    now = _entries(self.workdir)[1]
    self.old &= now
    return sorted(_tmp_step(n) for n in now - self.old)


def _lock_is_free(workdir):
  """Takes and drops WORKDIR/.lock at once, as the next run does; False if held."""
  fd = os.open(os.path.join(workdir, workdir_lock.FILE), os.O_RDWR)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True
  except BlockingIOError:
    return False
  finally:
    os.close(fd)


def _wait_for(proc, condition, what, every=0.01):
  """Polls `condition` every `every` s until it is truthy; fails if the run exits first or
  TIMEOUT passes (killing the run so nothing hangs)."""
  deadline = time.monotonic() + TIMEOUT
  while True:
    got = condition()
    if got:
      return got
    if proc.poll() is not None:
      pytest.fail(f'the run exited ({proc.returncode}) before {what}:\n'
                  f'{_stderr(proc)[-3000:]}')
    if time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f'no {what} within {TIMEOUT} s:\n{_stderr(proc)[-3000:]}')
    time.sleep(every)


def _stderr(proc, timeout=60):
  """finish(proc), closing its stderr file; kills the run if it does not end in time."""
  try:
    return finish(proc, timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait()
    raise
  finally:
    proc.stderr_file.close()


def _kill(proc, workdir, saves):
  """SIGKILLs the run; returns (its stderr, where the kill landed: the complete steps
  and the steps of the saves it left unfinished)."""
  proc.kill()
  err = _stderr(proc)
  assert proc.returncode == -9, err[-3000:]
  return err, {'complete': _entries(workdir)[0], 'in_save': saves.steps()}


@pytest.fixture
def runs():
  """The CLI runs a test starts; any still running when it ends (a failure) is killed."""
  procs = []
  yield procs
  for proc in procs:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def test_kill9_at_random_moments_then_rerun_is_bit_identical(reference, runs, tmp_path):
  expected, _ = reference
  workdir = str(tmp_path / 'run')
  rng = random.Random(16)   # the number: reproducible delays
  cmd = [*CLI, f'--workdir={workdir}']
  landed = []

  # Every program the runs compile goes to the session's XLA cache, not only the slow
  # ones: the reruns then compile nothing (same executables, a third less time).
  # 8 devices, as the reference run in this process.
  env = {**os.environ, **EIGHT_DEVICES, 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}

  def launch():
    steps, saves = _entries(workdir)[0], _Saves(workdir)
    runs.append(start(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL))
    return runs[-1], steps, saves

  def check_rerun(err, steps_before):
    assert 'is in use by' not in err, err[-3000:]   # the killed run's lock was not stale
    if steps_before:
      assert f'resumed from the checkpoint at step {steps_before[-1]} ' in err, err[-3000:]
    else:
      assert 'resumed from' not in err, err[-3000:]

  def after_kill(proc, err, where, steps_before, moment):
    where['moment'] = moment
    check_rerun(err, steps_before)
    # The kill left the lock file naming the dead pid, but not the lock itself.
    assert workdir_lock.holder(workdir).get('pid') == proc.pid
    assert _lock_is_free(workdir)
    landed.append(where)

  # 1. Early: at a random moment after the run took the lock (data, init, compile, the
  #    first chunks), no later than the start of its first save.
  proc, before, saves = launch()
  _wait_for(proc, lambda: workdir_lock.holder(workdir).get('pid') == proc.pid,
            'the lock was taken')
  t = time.monotonic() + rng.uniform(0.0, 2.0)
  _wait_for(proc, lambda: time.monotonic() >= t or saves.steps(), 'the early kill',
            every=0.001)
  err, where = _kill(proc, workdir, saves)
  after_kill(proc, err, where, before, 'early')

  # 2. Mid-run: a random delay after the rerun's first new checkpoint, no later than its
  #    second one (whatever it is doing then: a chunk, a sample grid, the next save).
  proc, before, saves = launch()
  newer = lambda k: (lambda: len([s for s in _entries(workdir)[0]
                                  if s > (before[-1] if before else 0)]) >= k)
  _wait_for(proc, newer(1), 'a new checkpoint')
  t = time.monotonic() + rng.uniform(0.05, 0.8)
  _wait_for(proc, lambda: time.monotonic() >= t or newer(2)(), 'the mid-run kill')
  err, where = _kill(proc, workdir, saves)
  after_kill(proc, err, where, before, 'mid')

  # 3. During a save: as soon as the rerun's tmp directory of a step it has not saved yet
  #    appears, i.e. while Orbax is writing it.
  proc, before, saves = launch()
  _wait_for(proc, lambda: [s for s in saves.steps() if s > (before[-1] if before else 0)],
            'a checkpoint save in flight', every=0.001)
  err, where = _kill(proc, workdir, saves)
  after_kill(proc, err, where, before, 'in save')
  assert where['in_save'], landed   # its unfinished step directory is still there ...
  assert all(s not in where['complete'] for s in where['in_save'])  # ... and not complete

  # 4. The rerun to the end.
  proc, before, _ = launch()
  err = _stderr(proc, timeout=TIMEOUT * 2)
  assert proc.returncode == 0, err[-3000:]
  check_rerun(err, before)
  print(f'\nkills landed: {landed}; final rerun resumed from step '
        f'{before[-1] if before else None}')
  steps, tmps = _entries(workdir)
  assert steps[-1] == NUM_STEPS and not tmps   # Orbax removed the unfinished ones
  assert not os.path.exists(os.path.join(workdir, 'corrupt_checkpoints'))  # none was bad
  assert _lock_is_free(workdir)
  state, at = _restore(workdir, expected)
  assert at == NUM_STEPS
  _assert_identical(expected, state)


def _copy_step(src_ckpts, src_step, dst):
  shutil.copytree(os.path.join(src_ckpts, str(src_step)), dst)
  return dst


def _files(root):
  return sorted((os.path.relpath(p, root), os.path.getsize(p))
                for p in glob.glob(f'{root}/**', recursive=True) if os.path.isfile(p))


def test_half_written_steps_are_set_aside_and_rerun_is_bit_identical(reference, tmp_path,
                                                                     caplog):
  """Steps 12 and 16 look saved but are not whole (12: its largest data file cut in half;
  16: its array data missing), finished-looking `20.orbax-checkpoint-tmp` and
  `24.orbax-checkpoint-tmp-<time>` wait beside them, and old step 4 is half removed (as a
  kill during Orbax's max_to_keep rmtree leaves one). Each fake holds step 8's arrays:
  restoring one by mistake shows in the result."""
  expected, ref_dir = reference
  workdir = str(tmp_path / 'run')
  shutil.copytree(ref_dir, workdir, ignore=shutil.ignore_patterns('checkpoints'))
  src = os.path.join(ref_dir, 'checkpoints')
  ckpts = os.path.join(workdir, 'checkpoints')
  assert _entries(ref_dir) == ([8, 16], set())
  _copy_step(src, 8, f'{ckpts}/8')                        # the newest good one
  cut = _copy_step(src, 8, f'{ckpts}/12')
  data = max((p for p in glob.glob(f'{cut}/default/**', recursive=True)
              if os.path.isfile(p)), key=os.path.getsize)
  os.truncate(data, os.path.getsize(data) // 2)
  gone = _copy_step(src, 8, f'{ckpts}/16')
  shutil.rmtree(f'{gone}/default/ocdbt.process_0')
  unfinished = [_copy_step(src, 8, f'{ckpts}/20{TMP}'),   # as this Orbax names them
                _copy_step(src, 8, f'{ckpts}/24{TMP}-{int(time.time())}')]   # and older
  old = _copy_step(src, 8, f'{ckpts}/4')
  for name in ('_CHECKPOINT_METADATA', 'commit_success.txt', 'default/_METADATA'):
    os.remove(f'{old}/{name}')
  shutil.rmtree(f'{old}/default/ocdbt.process_0')
  bad = {4: _files(old), 12: _files(cut), 16: _files(gone)}
  good = _files(f'{ckpts}/8')

  with caplog.at_level(logging.INFO):
    state = train.train_and_evaluate(_config(), workdir)
  messages = [r.getMessage() for r in caplog.records]
  _assert_identical(expected, state)
  assert any('resumed from the checkpoint at step 8 ' in m for m in messages), messages
  for step in (16, 12):
    assert any(f'checkpoint {step} in {ckpts} does not restore' in m for m in messages)
  # Nothing deleted but the unfinished directories; the bad ones kept as they were.
  assert not any(os.path.exists(p) for p in unfinished)
  assert _entries(workdir) == ([4, 8, 16], set())   # 4 goes in Orbax's next rotation
  assert _files(f'{ckpts}/8') == good and _files(old) == bad[4]
  aside = sorted(os.listdir(f'{workdir}/corrupt_checkpoints'),
                 key=lambda n: int(n.split('-')[0]))
  assert [int(n.split('-')[0]) for n in aside] == [12, 16]
  for name in aside:
    assert _files(f'{workdir}/corrupt_checkpoints/{name}') == bad[int(name.split('-')[0])]
  # The new 16 is the reference run's, bit for bit.
  _assert_identical(expected, _restore(workdir, expected, 16)[0])
  assert _lock_is_free(workdir)
