"""What every experiments/ entry point shares: distributed start-up and one-line errors."""

import functools
import os
import sys

import jax
from absl import flags, logging

from ganjax import xla_cpu
from ganjax.errors import GanjaxError

flags.DEFINE_string('coordinator', None, 'host:port of process 0, for multi-process runs '
                    '(or set JAX_COORDINATOR_ADDRESS).')
flags.DEFINE_integer('num_processes', None, 'Number of processes (or JAX_NUM_PROCESSES).')
flags.DEFINE_integer('process_id', None, 'This process\'s index (or JAX_PROCESS_ID).')
flags.DEFINE_integer('peer_timeout', 60, 'Multi-process runs: seconds without a heartbeat '
                     'from a peer before the run ends with an error (a dead or hung peer).')
flags.DEFINE_bool('distributed', False, 'Call jax.distributed.initialize() with cluster '
                  'auto-detection (SLURM, TPU pods, Open MPI).')
FLAGS = flags.FLAGS


def initialize_distributed():
  """Starts jax.distributed when the flags or JAX_COORDINATOR_ADDRESS ask for it."""
  coordinator = FLAGS.coordinator or os.environ.get('JAX_COORDINATOR_ADDRESS')
  if not (coordinator or FLAGS.distributed):
    return
  # CPU processes exchange collectives over gloo; accelerators use their own fabric.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  num = FLAGS.num_processes or _env_int('JAX_NUM_PROCESSES')
  pid = FLAGS.process_id if FLAGS.process_id is not None else _env_int('JAX_PROCESS_ID')
  # A collective waiting on a dead peer must fail too, not block until gloo's default.
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' --xla_cpu_collective_timeout_seconds={FLAGS.peer_timeout}')
  jax.distributed.initialize(coordinator_address=coordinator, num_processes=num,
                             process_id=pid, heartbeat_timeout_seconds=FLAGS.peer_timeout)
  logging.info('process %d of %d, %d local / %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


# Expected on every read-only restore and on every CPU-only start: not news to the user.
_EXPECTED = ('read_only=True, setting save_interval_steps', 'Given directory is read only',
             "Unable to initialize backend 'tpu'")


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO chatter from Orbax (a dozen lines per save) and the expected notices
  above; keeps every other warning."""

  def filter(self, record):
    if any(text in record.getMessage() for text in _EXPECTED):
      return False
    return record.levelno >= logging.logging.WARNING or '/orbax/' not in record.pathname


def quiet_library_logs():
  """Installs the filter on absl's handler (idempotent)."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())


def _env_int(name):
  return int(os.environ[name]) if name in os.environ else None


def parse_flags(argv):
  """absl flags_parser that turns any flag or config-override error into one line."""
  try:
    argv = FLAGS(argv)
    if 'config' in FLAGS:  # config_flags defers a config file's load errors to first use
      FLAGS.config.keys()  # pylint: disable=expression-not-assigned
    return argv
  except OSError as e:
    last = [l.strip() for l in str(e).splitlines() if l.strip()][-1]
    _fail(f'cannot load --config: {last}; give the path of a configs/*.py file')
  except flags.Error as e:
    _fail(f'{str(e).splitlines()[0]}; see --helpshort')
  except (KeyError, AttributeError) as e:  # ml_collections: unknown field in --config.x=y
    text = ' '.join(str(e).replace('\\n', ' ').replace("'", '').replace('\\', '').split())
    _fail(f'unknown config field: {text}; fix the --config.* flag (configs are locked)')
  except Exception as e:  # a config file that fails to load, a bad override value, ...
    _fail(f'{type(e).__name__}: {" ".join(str(e).split())[:300]}')


def _fail(message):
  print(f'ganjax: error: {message}', file=sys.stderr)
  sys.exit(2)


def user_errors(main):
  """Wraps an absl main so a GanjaxError prints one line and exits with status 2 (and
  sets up the logs and XLA:CPU's convolutions first)."""
  @functools.wraps(main)
  def wrapped(argv):
    quiet_library_logs()
    xla_cpu.prefer_eigen_convolutions()
    try:
      return main(argv)
    except GanjaxError as e:
      _fail(str(e))
  return wrapped
