"""Data parallelism: a global jit program over Mesh(('data',)), or the same step under pmap.

The canonical state lives as global arrays replicated over the mesh (what checkpoints
hold); pmap mode converts to and from its per-device stacked form at the edges.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ganjax.errors import GanjaxError

MODES = ('jit', 'pmap')
AXIS = 'data'


def check_batch(batch, real_batch, num_devices, pl_batch=0, pairs=False):
  """Raises a one-line error unless the batches (and, under pmap, path length
  regularization's, pl_batch > 0) split evenly over the devices (and, with pairs, G's
  batch into pairs of rows on each device: the mode-seeking term's)."""
  if pairs and batch % (2 * num_devices):
    raise GanjaxError(f'reg.mode_seeking draws fakes in pairs on each device: set '
                      f'--config.batch_size to a multiple of {2 * num_devices}, got {batch}')
  named = [('batch_size', batch), ('the real batch per D update', real_batch)]
  if pl_batch:
    named.append(('the path length batch (batch_size // reg.pl_batch_shrink)', pl_batch))
  for name, b in named:
    if b % num_devices:
      raise GanjaxError(
          f'{name}={b} does not divide across {num_devices} devices; set '
          f'--config.batch_size to a multiple of {num_devices * batch // b}')


def to_host(tree):
  """Fetches (a local copy of) every leaf as numpy; works for multi-process arrays."""
  def fetch(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      x = x.addressable_data(0)
    return np.asarray(x)
  return jax.tree.map(fetch, tree)


def preprocess(images):
  """uint8 [..., H, W, C] -> float32 in [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def per_step_chunk(one, step_axis=0):
  """chunk(state, data, steps) -> (state, metrics [S]) that dispatches the compiled
  one-step program one(state, data, steps, i) for i < S, without a host sync. XLA:CPU
  runs convolutions and their gradients inside a loop many times slower than outside
  one (a 5x5 kernel gradient: 43 ms -> 2.1 s; folder_dcgan at 64x64: 1.3 -> 17 s per
  step, even in a length-1 lax.scan(unroll=True)), and unrolling S steps into one
  program lets XLA fuse across steps, so a resumed run's chunking would change the bits.
  One program per step costs a dispatch (< 1 ms) per step and is the same for any S."""
  stack = jax.jit(lambda ms: jax.tree.map(lambda *x: jnp.stack(x, axis=step_axis), *ms))

  def chunk(state, data, steps):
    metrics = []
    for i in range(jax.tree.leaves(steps)[0].shape[step_axis]):
      state, m = one(state, data, steps, np.int32(i))
      metrics.append(m)
    return state, stack(metrics)
  return chunk


def chunk_bodies(train_step, resident=True):
  """(chunk, one), untransformed (callers jit, pmap or vmap them): the S-step
  chunk(state, data, steps) as a lax.scan, and the single step one(state, data, steps, i)
  for per_step_chunk. `resident` and `steps` as in DataParallel.compile_chunk."""
  def body(data):
    def step_fn(state, step):
      batch = jax.tree.map(lambda x: x[step], data) if resident else step
      return train_step(state, preprocess(batch['images']), batch.get('labels'))
    return step_fn

  chunk = lambda state, data, steps: lax.scan(body(data), state, steps)
  one = lambda state, data, steps, i: body(data)(state, jax.tree.map(lambda x: x[i], steps))
  return chunk, one


class DataParallel:
  """Places data and state on the devices and compiles the multi-step chunk function."""

  def __init__(self, mode='jit', devices=None):
    if mode not in MODES:
      raise GanjaxError(f'unknown parallel={mode!r}; use one of {MODES}')
    self.mode = mode
    self.devices = list(devices or jax.devices())
    self.mesh = Mesh(np.array(self.devices), (AXIS,))
    self.replicated = NamedSharding(self.mesh, P())
    self.num_devices = len(self.devices)
    self.local_devices = [d for d in self.devices if d.process_index == jax.process_index()]
    self.num_local = len(self.local_devices)

  @property
  def axis_name(self):
    """The axis name the step reduces over: only pmap needs one."""
    return AXIS if self.mode == 'pmap' else None

  def constrain(self, x):
    """Shards a batch-leading array over 'data' (global mode); identity under pmap."""
    if self.mode == 'pmap':
      return x
    return lax.with_sharding_constraint(x, NamedSharding(self.mesh, P(AXIS)))

  def replicate(self, tree):
    """Host numpy (identical on every process) -> global arrays replicated on the mesh."""
    def put(x):
      x = np.asarray(x)
      return jax.make_array_from_callback(x.shape, self.replicated, lambda i: x[i])
    return jax.tree.map(put, tree)

  def to_mode(self, state):
    """Canonical replicated state -> the form the compiled chunk takes."""
    if self.mode == 'jit':
      return state
    host = to_host(state)
    return jax.tree.map(lambda x: np.broadcast_to(x, (self.num_local, *x.shape)), host)

  def to_canonical(self, state):
    """The compiled chunk's state form -> canonical replicated global arrays."""
    if self.mode == 'jit':
      return state
    return self.replicate(jax.tree.map(lambda x: np.asarray(x[0]), state))

  def put_data(self, arrays):
    """Host arrays [N, ...] -> resident device copies (replicated / stacked per device)."""
    if self.mode == 'jit':
      return self.replicate(arrays)
    return jax.tree.map(lambda x: np.broadcast_to(x, (self.num_local, *x.shape)), arrays)

  def process_rows(self, batch):
    """The slice of a global batch axis that this process feeds (its devices' rows)."""
    per_device = batch // self.num_devices
    mine = [i for i, d in enumerate(self.devices) if d.process_index == jax.process_index()]
    if mine != list(range(mine[0], mine[0] + len(mine))):
      raise GanjaxError('this process\'s devices are not contiguous in the mesh; '
                        'start one process per host with its local devices')
    return slice(mine[0] * per_device, (mine[-1] + 1) * per_device)

  def assemble(self, local, batch):
    """This process's rows [S, k, b, ...] of per-step arrays -> the chunk's input form:
    global arrays sharded on the batch axis (jit) or per-device stacks (pmap)."""
    if self.mode == 'jit':
      sharding = NamedSharding(self.mesh, P(None, None, AXIS))
      return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
          sharding, x, (x.shape[0], x.shape[1], batch, *x.shape[3:])), local)

    def per_device(x):
      s, k, b = x.shape[:3]
      x = x.reshape(s, k, self.num_local, b // self.num_local, *x.shape[3:])
      return np.ascontiguousarray(np.moveaxis(x, 2, 0))
    return jax.tree.map(per_device, local)

  def shard_steps(self, tree):
    """Global per-step arrays [S, k, B, ...] (the same on every process) -> chunk input."""
    batch = jax.tree.leaves(tree)[0].shape[2]
    rows = self.process_rows(batch)
    return self.assemble(jax.tree.map(lambda x: x[:, :, rows], tree), batch)

  def compile_chunk(self, train_step, resident=True, unroll=False):
    """chunk(state, data, steps) -> (state, metrics [S]): S steps in one jit/pmap program
    (lax.scan), or with unroll one program per step dispatched S times (per_step_chunk:
    conv models on CPU; configs choose with unroll_steps).

    resident: `data` holds the dataset on the devices and `steps` are indices [S,k,B];
    otherwise `data` is unused and `steps` holds the batches themselves ({'images':
    uint8 [S,k,B,H,W,C], 'labels': [S,k,B]}), streamed from the host.
    """
    chunk, one = chunk_bodies(train_step, resident)
    if self.mode == 'pmap':
      pmapped = lambda f, *axes: jax.pmap(f, axis_name=AXIS, in_axes=(0, 0, 0, *axes),
                                          donate_argnums=0, devices=self.devices)
      return per_step_chunk(pmapped(one, None), step_axis=1) if unroll else pmapped(chunk)
    jitted = lambda f: jax.jit(f, donate_argnums=0,
                               out_shardings=(self.replicated, self.replicated))
    return per_step_chunk(jitted(one)) if unroll else jitted(chunk)

  def metrics_to_host(self, metrics):
    """Chunk metrics -> numpy dict of [S] arrays (device 0's copy under pmap)."""
    host = to_host(metrics)
    return {k: v[0] if self.mode == 'pmap' else v for k, v in host.items()}
