"""The training state: one pytree with both networks, their optimizers, step and RNG."""

from typing import Any

import flax
import jax
import jax.numpy as jnp


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
  pl_mean: Any = None       # path length regularization's EMA of |J_w^T y| when reg.pl_weight > 0


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
      g_ema_params=g_vars['params'] if keeps_ema(config) else {},
      lecam_ema=({'real': jnp.zeros((), jnp.float32), 'fake': jnp.zeros((), jnp.float32)}
                 if config.get('reg', {}).get('lecam', 0.0) else {}),
      # augment.p's default, -1 (augment.AUTO_P), starts ADA at 0
      ada=({'p': jnp.asarray(max(config.augment.p, 0.0), jnp.float32),
            'signs': jnp.zeros((), jnp.float32), 'count': jnp.zeros((), jnp.float32)}
           if config.get('augment', {}).get('adaptive', False) else {}),
      pl_mean=(jnp.zeros((), jnp.float32) if config.get('reg', {}).get('pl_weight', 0.0)
               else {}))


def keeps_ema(config):
  """Whether the run keeps an EMA of G: ema_decay or ema_kimg set, or ema_kimg scheduled
  (R3GAN ramps the half-life from 0)."""
  return bool(config.get('ema_decay', 0.0) or config.get('ema_kimg', 0.0) or
              'ema_kimg' in config.get('schedule', {}))


def generator_params(state, raw=False):
  """The G weights to sample with: the EMA when the run keeps one (unless raw)."""
  return state.g_params if raw or not jax.tree.leaves(state.g_ema_params) else state.g_ema_params
