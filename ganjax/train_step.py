"""The GAN train step: k discriminator updates, then one generator update.

A D update differentiates only D's loss w.r.t. D's params, with G's output behind
stop_gradient; a G update differentiates through D but applies updates to G only.
update='alternating' (seeds 000, 001, 003) runs the D updates, then the G update through
the updated D on fresh latents. update='simultaneous' (seed 004's train_step) computes
both gradients from one forward pass at the current params, then applies both.
The same function runs in both parallel modes: globally under jit (XLA inserts the
all-reduces) or per device under pmap (axis_name set: gradients, metrics and
BatchNorm statistics are pmean-ed over it).
"""

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ganjax import losses


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The static knobs of a train step (hashable, so it is safe to close over)."""
  latent_dim: int
  global_batch: int
  d_steps: int = 1
  d_batch: str = 'combined'            # 'combined' | 'separate'
  update: str = 'alternating'          # 'alternating' | 'simultaneous'
  generator_loss: str = 'non_saturating'
  real_label: float = 0.9
  num_classes: int = 0
  ema_decay: float = 0.0               # > 0: keep an EMA of G's params
  axis_name: Optional[str] = None      # set in pmap mode


def _global_draw(sample, key, global_shape, axis_name):
  """Draws the global-batch array, then keeps this device's rows under pmap.

  Drawing the whole batch on every device costs little and makes pmap mode use the
  same latents as the global (jit) program.
  """
  full = sample(key, global_shape)
  if axis_name is None:
    return full
  n = lax.axis_size(axis_name)
  local = global_shape[0] // n
  return lax.dynamic_slice_in_dim(full, lax.axis_index(axis_name) * local, local)


def _pmean(tree, axis_name):
  return tree if axis_name is None else lax.pmean(tree, axis_name)


class StepFns(NamedTuple):
  """The step and its two halves (the halves are exposed for invariant tests)."""
  train_step: Callable   # (state, images [k,B,H,W,C], labels [k,B]|None) -> (state, metrics)
  d_step: Callable       # (state, real [B,H,W,C], labels [B]|None, key) -> (state, loss, r, f)
  g_step: Callable       # (state, key) -> (state, loss)


def make_step_fns(cfg: StepConfig, generator, discriminator, g_tx, d_tx,
                  constrain: Callable[[Any], Any] = lambda x: x):
  """Builds the D update, the G update and the full step for one config.

  `constrain` pins batch-shaped arrays to the data sharding in the global (jit) mode.
  """
  ax = cfg.axis_name

  def draw_fakes(key, batch):
    """Latents [b, latent_dim] (and labels [b]) for `batch` fakes of the global batch."""
    kz, kl = jax.random.split(key)
    z = _global_draw(jax.random.normal, kz, (batch, cfg.latent_dim), ax)
    labels = None
    if cfg.num_classes:
      randint = lambda k, s: jax.random.randint(k, s, 0, cfg.num_classes)
      labels = constrain(_global_draw(randint, kl, (batch,), ax))
    return constrain(z), labels

  def run_g(state, g_params, z, labels):
    """G forward in train mode; returns (images, new G batch stats)."""
    out, mut = generator.apply(
        {'params': g_params, 'batch_stats': state.g_batch_stats}, z, labels,
        train=True, mutable=['batch_stats'])
    return out, mut.get('batch_stats', {})

  def run_d(state, d_params, x, labels, key):
    """D forward in train mode; returns (logits [B,1], new D batch stats)."""
    out, mut = discriminator.apply(
        {'params': d_params, 'batch_stats': state.d_batch_stats}, x, labels,
        train=True, mutable=['batch_stats'], rngs={'dropout': key})
    return out, mut.get('batch_stats', {})

  def d_update(state, loss_fn):
    (loss, (aux, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
    grads = _pmean(grads, ax)
    updates, d_opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
    state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                          d_opt_state=d_opt_state, d_batch_stats=stats)
    return state, loss, aux

  def d_step(state, real, real_labels, key):
    """One (combined) or two (separate) D updates on a real batch and as many fakes."""
    k_fake, k_drop_real, k_drop_fake = jax.random.split(key, 3)
    z, fake_labels = draw_fakes(k_fake, real_batch_size(cfg.d_batch, cfg.global_batch))
    # G runs in train mode but its BN statistics are not updated by a D step.
    fake = lax.stop_gradient(run_g(state, state.g_params, z, fake_labels)[0])
    real = constrain(real)
    if cfg.d_batch == 'combined':
      x = jnp.concatenate([real, fake])
      labels = None if fake_labels is None else jnp.concatenate([real_labels, fake_labels])

      def loss_fn(d_params):
        logits, stats = run_d(state, d_params, x, labels, k_drop_real)
        r, f = logits[:real.shape[0]], logits[real.shape[0]:]
        loss = losses.discriminator_loss(real_logits=r, fake_logits=f,
                                         real_label=cfg.real_label)
        return loss, ((r, f), stats)

      state, loss, (r, f) = d_update(state, loss_fn)
      return state, loss, r, f
    # 'separate' (seed 003): an update on a real half batch, then one on a fake half batch.
    def real_loss_fn(d_params):
      logits, stats = run_d(state, d_params, real, real_labels, k_drop_real)
      loss = losses.discriminator_real_loss(real_logits=logits, real_label=cfg.real_label)
      return loss, (logits, stats)

    state, loss_r, r = d_update(state, real_loss_fn)

    def fake_loss_fn(d_params):
      logits, stats = run_d(state, d_params, fake, fake_labels, k_drop_fake)
      return losses.discriminator_fake_loss(fake_logits=logits), (logits, stats)

    state, loss_f, f = d_update(state, fake_loss_fn)
    return state, 0.5 * (loss_r + loss_f), r, f

  def g_step(state, key):
    """One G update through a fixed D (D's params and statistics are not written)."""
    k_fake, k_drop = jax.random.split(key)
    z, labels = draw_fakes(k_fake, cfg.global_batch)

    def loss_fn(g_params):
      fake, g_stats = run_g(state, g_params, z, labels)
      logits, _ = run_d(state, state.d_params, fake, labels, k_drop)
      return losses.generator_loss(fake_logits=logits, kind=cfg.generator_loss), g_stats

    (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    grads = _pmean(grads, ax)
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
    return state.replace(g_params=optax.apply_updates(state.g_params, updates),
                         g_opt_state=g_opt_state, g_batch_stats=g_stats), loss

  def simultaneous_step(state, real, real_labels, key):
    """Seed 004: G and D gradients from one forward pass at the current params.

    D sees the real and the fake batch in two calls, as in the seed (BatchNorm in D, if
    any, takes statistics per call). Sharing the forward pass (and D's pass over the
    fakes between D's loss and G's) saves a G forward and a D forward per step.
    """
    k_fake, k_drop_real, k_drop_fake = jax.random.split(key, 3)
    z, fake_labels = draw_fakes(k_fake, cfg.global_batch)
    fake, g_pull, g_stats = jax.vjp(lambda p: run_g(state, p, z, fake_labels),
                                    state.g_params, has_aux=True)
    real_logits_fn = lambda p: run_d(state, p, constrain(real), real_labels, k_drop_real)
    r, r_pull, stats = jax.vjp(real_logits_fn, state.d_params, has_aux=True)
    fake_logits_fn = lambda p, x: run_d(state.replace(d_batch_stats=stats), p, x, fake_labels,
                                        k_drop_fake)
    f, f_pull, d_stats = jax.vjp(fake_logits_fn, state.d_params, fake, has_aux=True)
    d_loss_fn = lambda r, f: losses.discriminator_loss(real_logits=r, fake_logits=f,
                                                       real_label=cfg.real_label)
    d_loss, (d_r, d_f) = jax.value_and_grad(d_loss_fn, argnums=(0, 1))(r, f)
    g_loss, g_f = jax.value_and_grad(
        lambda f: losses.generator_loss(fake_logits=f, kind=cfg.generator_loss))(f)
    d_grads = jax.tree.map(jnp.add, r_pull(d_r)[0], f_pull(d_f)[0])
    g_grads = g_pull(f_pull(g_f)[1])[0]
    d_grads, g_grads = _pmean((d_grads, g_grads), ax)
    d_updates, d_opt_state = d_tx.update(d_grads, state.d_opt_state, state.d_params)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    state = state.replace(
        d_params=optax.apply_updates(state.d_params, d_updates), d_opt_state=d_opt_state,
        d_batch_stats=d_stats, g_params=optax.apply_updates(state.g_params, g_updates),
        g_opt_state=g_opt_state, g_batch_stats=g_stats)
    return state, d_loss, g_loss, r, f

  def train_step(state, images, labels=None):
    key = jax.random.fold_in(state.rng, state.step)
    if cfg.update == 'simultaneous':
      state, d_loss, g_loss, r, f = simultaneous_step(
          state, images[0], None if labels is None else labels[0], key)
    else:
      for i in range(cfg.d_steps):
        state, d_loss, r, f = d_step(state, images[i], None if labels is None else labels[i],
                                     jax.random.fold_in(key, i))
      state, g_loss = g_step(state, jax.random.fold_in(key, cfg.d_steps))
    if cfg.ema_decay:
      state = state.replace(g_ema_params=ema_update(state.g_ema_params, state.g_params,
                                                    cfg.ema_decay))
    metrics = {'d_loss': d_loss, 'g_loss': g_loss,
               'd_real': jnp.mean(jax.nn.sigmoid(r)), 'd_fake': jnp.mean(jax.nn.sigmoid(f))}
    return state.replace(step=state.step + 1), _pmean(metrics, ax)

  return StepFns(train_step, d_step, g_step)


def ema_update(ema, params, decay):
  """decay * ema + (1 - decay) * params, leaf by leaf (after each G update)."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def real_batch_size(d_batch, global_batch):
  """Real examples per D update: the whole batch when combined, half when separate."""
  if d_batch == 'combined':
    return global_batch
  if d_batch == 'separate':
    return global_batch // 2
  raise ValueError(f"unknown d_batch {d_batch!r}; use 'combined' or 'separate'")
