"""The training state: one pytree with both networks, their optimizers, step and RNG."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class GANState:
  """Everything a resumed run needs; optimizers themselves live outside (static)."""
  step: jax.Array          # int32 scalar: number of G updates done
  rng: jax.Array           # uint32[2]: the run's base key; per-step keys are fold_in(rng, step)
  g_params: Any
  d_params: Any
  g_batch_stats: Any       # BatchNorm running statistics ({} for models without BN)
  d_batch_stats: Any
  g_opt_state: Any
  d_opt_state: Any
  g_ema_params: Any = None  # EMA of g_params when config.ema_decay > 0, else {}
  lecam_ema: Any = None     # LeCam's EMAs of D's outputs {'real', 'fake'} when reg.lecam > 0
  ada: Any = None           # adaptive augmentation {'p', 'signs', 'count'} when augment.adaptive


OPTIMIZERS = ('adam', 'rmsprop')


def learning_rate(opt_config, updates_per_step=1):
  """The learning rate: a constant, or (warmup_steps / decay_steps > 0, in G steps) a
  linear warm-up from 0 and a linear decay to 0 at decay_steps (SNGAN's schedule), counted
  in this optimizer's updates (D makes updates_per_step of them per G step)."""
  lr = opt_config.learning_rate
  warmup = opt_config.get('warmup_steps', 0) * updates_per_step
  decay = opt_config.get('decay_steps', 0) * updates_per_step
  if not warmup and not decay:
    return lr
  pieces, bounds = [], []
  if warmup:
    pieces.append(optax.linear_schedule(0.0, lr, warmup))
    bounds.append(warmup)
  pieces.append(optax.linear_schedule(lr, 0.0, decay - warmup) if decay else
                optax.constant_schedule(lr))
  return optax.join_schedules(pieces, bounds) if bounds else pieces[0]


def make_optimizer(opt_config, updates_per_step=1):
  """optax Adam from {learning_rate, b1, b2}, or RMSprop (the original WGAN's) from
  {learning_rate} when name='rmsprop'; the rate follows learning_rate()."""
  name = opt_config.get('name', 'adam')
  lr = learning_rate(opt_config, updates_per_step)
  if name == 'rmsprop':
    # torch's RMSprop: alpha 0.99, eps added to sqrt(v) (optax's default adds it inside).
    return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)
  return optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2)


def latent_shape(config, batch):
  """Shape of a latent batch: [batch, latent_dim]."""
  return (batch, config.model.latent_dim)


def init_state(config, generator, discriminator, g_tx, d_tx, image_shape, num_classes=0):
  """Initializes params and optimizer states from config.seed; image_shape is [H, W, C]."""
  base = jax.random.PRNGKey(config.seed)
  g_key, d_key = jax.random.split(jax.random.fold_in(base, 0x1517))
  z = jnp.zeros(latent_shape(config, 1), jnp.float32)
  x = jnp.zeros((1, *image_shape), jnp.float32)
  labels = jnp.zeros((1,), jnp.int32) if num_classes else None
  g_vars = generator.init({'params': g_key}, z, labels, train=False)
  d_vars = discriminator.init({'params': d_key}, x, labels, train=False)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      rng=jax.random.fold_in(base, 0x7AA1),
      g_params=g_vars['params'], d_params=d_vars['params'],
      g_batch_stats=g_vars.get('batch_stats', {}),
      d_batch_stats=d_vars.get('batch_stats', {}),
      g_opt_state=g_tx.init(g_vars['params']),
      d_opt_state=d_tx.init(d_vars['params']),
      g_ema_params=g_vars['params'] if config.get('ema_decay', 0.0) else {},
      lecam_ema=({'real': jnp.zeros((), jnp.float32), 'fake': jnp.zeros((), jnp.float32)}
                 if config.get('reg', {}).get('lecam', 0.0) else {}),
      ada=({'p': jnp.asarray(config.augment.p, jnp.float32), 'signs': jnp.zeros((), jnp.float32),
            'count': jnp.zeros((), jnp.float32)}
           if config.get('augment', {}).get('adaptive', False) else {}))


def generator_params(state, raw=False):
  """The G weights to sample with: the EMA when the run keeps one (unless raw)."""
  return state.g_params if raw or not jax.tree.leaves(state.g_ema_params) else state.g_ema_params
