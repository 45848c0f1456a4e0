"""The GAN train step: k discriminator updates, then one generator update.

A D update differentiates only D's objective w.r.t. D's params, with G's output behind
stop_gradient; a G update differentiates through D but applies updates to G only, and
writes none of D's params or statistics (BatchNorm's, or spectral norm's u vectors,
which live in D's batch_stats and change only in D updates). update='alternating'
(seeds 000, 001, 003) runs the D updates, then the G update through the updated D on
fresh latents. update='simultaneous' (seed 004's train_step) computes both gradients
from one forward pass at the current params, then applies both.

D's objective is the adversarial loss (losses.py) plus the regularizers
(regularizers.py); every image D sees, real or fake, in either update, is augmented
first when config.augment asks (augment.py), with draws from the step's key. An AC-GAN D
(acgan) also returns class logits; their cross-entropy at the labels (weight
loss.class_weight) joins D's loss on reals (as StudioGAN's AC; the paper also trains D's
classifier on fakes) and G's loss on fakes at the labels G was asked for.
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

from ganjax import augment, losses, regularizers as regs

# fold_in tags for the draws newer than the original three per D update (their keys are
# unchanged, so a step with every new feature off is the step it always was).
(_AUG_REAL, _AUG_FAKE, _GP_EPS, _GP_DROP, _R1_DROP, _R2_DROP, _G_REAL, _GP_AUG, _R1_AUG,
 _R2_AUG) = range(0xA0, 0xAA)


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The static knobs of a train step (hashable, so it is safe to close over)."""
  latent_dim: int
  global_batch: int
  d_steps: int = 1
  d_batch: str = 'combined'            # 'combined' | 'separate'
  update: str = 'alternating'          # 'alternating' | 'simultaneous'
  loss: losses.LossConfig = losses.LossConfig()
  reg: regs.RegConfig = regs.RegConfig()
  aug: augment.AugmentConfig = augment.AugmentConfig()
  fakes_for_d: str = 'train'           # G's mode making D's fakes: train | inference (Keras)
  num_classes: int = 0
  acgan: bool = False                  # D's outputs [B,1+n]: a logit, then class logits
  ema_decay: float = 0.0               # > 0: keep an EMA of G's params
  axis_name: Optional[str] = None      # set in pmap mode
  seed_axis: Optional[str] = None      # set when vmap-ed over seeds (vectorized.py)

  @property
  def g_needs_reals(self):
    """Relativistic losses score reals in the G update too: a batch of its own."""
    return self.loss.name == 'relativistic'


def batches_per_step(cfg):
  """Real batches a step reads: one per D update, plus G's own for relativistic losses."""
  return cfg.d_steps + (1 if cfg.g_needs_reals and cfg.update == 'alternating' else 0)


def _local_rows(tree, axis_name):
  """Keeps this device's rows of global-batch arrays under pmap (identity under jit)."""
  if axis_name is None:
    return tree
  n = lax.axis_size(axis_name)

  def local(x):
    rows = x.shape[0] // n
    return lax.dynamic_slice_in_dim(x, lax.axis_index(axis_name) * rows, rows)
  return jax.tree.map(local, tree)


def _global_draw(sample, key, global_shape, axis_name):
  """Draws the global-batch array, then keeps this device's rows under pmap.

  Drawing the whole batch on every device costs little and makes pmap mode use the
  same latents as the global (jit) program.
  """
  return _local_rows(sample(key, global_shape), axis_name)


def _pmean(tree, axis_name):
  return tree if axis_name is None else lax.pmean(tree, axis_name)


class StepFns(NamedTuple):
  """The step and its two halves (the halves are exposed for invariant tests)."""
  train_step: Callable   # (state, images [n,B,H,W,C], labels [n,B]|None) -> (state, metrics)
  d_step: Callable       # (state, real [B,H,W,C], labels [B]|None, key) -> (state, out)
  g_step: Callable       # (state, key, real=None, labels=None) -> (state, (loss, terms))


def make_step_fns(cfg: StepConfig, generator, discriminator, g_tx, d_tx,
                  constrain: Callable[[Any], Any] = lambda x: x):
  """Builds the D update, the G update and the full step for one config.

  `constrain` pins batch-shaped arrays to the data sharding in the global (jit) mode.
  """
  ax, lc, rc, ac = cfg.axis_name, cfg.loss, cfg.reg, cfg.aug
  batch_mean = lambda v: _pmean(jnp.mean(v), ax)   # over the global batch

  def draw_fakes(key, batch):
    """Latents [b, latent_dim] (and labels [b]) for `batch` fakes of the global batch."""
    kz, kl = jax.random.split(key)
    z = _global_draw(jax.random.normal, kz, (batch, cfg.latent_dim), ax)
    labels = None
    if cfg.num_classes:
      randint = lambda k, s: jax.random.randint(k, s, 0, cfg.num_classes)
      labels = constrain(_global_draw(randint, kl, (batch,), ax))
    return constrain(z), labels

  def run_g(state, g_params, z, labels, train=True):
    """G forward; returns (images, new G batch stats) (the old ones if not train)."""
    variables = {'params': g_params, 'batch_stats': state.g_batch_stats}
    if not train:
      return generator.apply(variables, z, labels, train=False), state.g_batch_stats
    out, mut = generator.apply(variables, z, labels, train=True, mutable=['batch_stats'])
    return out, mut.get('batch_stats', {})

  def run_d(state, d_params, x, labels, key):
    """D forward in train mode; returns (outputs [B,1], new D batch stats)."""
    out, mut = discriminator.apply(
        {'params': d_params, 'batch_stats': state.d_batch_stats}, x, labels,
        train=True, mutable=['batch_stats'], rngs={'dropout': key})
    return out, mut.get('batch_stats', {})

  def split(out):
    """D's outputs -> (adversarial [B,1], class logits [B,n] or None)."""
    return (out[:, :1], out[:, 1:]) if cfg.acgan else (out, None)

  def class_term(class_logits, labels):
    """{'class': weighted AC-GAN cross-entropy}, or {} when D has no classifier."""
    if not cfg.acgan:
      return {}
    return {'class': lc.class_weight * losses.class_loss(class_logits, labels, batch_mean)}

  def augment_p(state):
    return state.ada['p'] if ac.adaptive else ac.p

  def augmented(state, x, key):
    """x as D sees it: augmented with draws for its rows of the global batch."""
    if not ac.active:
      return x
    n = x.shape[0] * (lax.axis_size(ax) if ax else 1)
    draws = _local_rows(augment.draw(key, n, ac.policy), ax)
    return constrain(augment.apply(x, draws, ac.policy, augment_p(state)))

  def critic_outputs(state, d_params, labels, key, aug_key):
    """D as a function of its (unaugmented) input: x [B,...] -> outputs [B,1(+n)]."""
    return lambda x: run_d(state, d_params, augmented(state, x, aug_key), labels, key)[0]

  def critic(state, d_params, labels, key, aug_key):
    """D's adversarial output as a function of its input: x [B,...] -> [B,1]; the
    regularizers differentiate it w.r.t. x."""
    return lambda x: split(critic_outputs(state, d_params, labels, key, aug_key)(x))[0]

  def lazy(n, penalty):
    """A penalty every r1_every-th D update (n counts them), scaled by r1_every. Seeds
    vmap-ed together share n: its max over them keeps the predicate unbatched, so the
    cond stays a branch (a batched one would compute the penalty every update)."""
    k = rc.r1_every
    if k == 1:
      return penalty()
    if cfg.seed_axis:
      n = lax.pmax(n, cfg.seed_axis)
    return lax.cond(n % k == 0, lambda: k * penalty(), lambda: jnp.zeros((), jnp.float32))

  def lecam_emas(state, r=None, f=None):
    """The LeCam EMAs after this D update's outputs (its own batch included, as in the
    authors' code; a half without outputs keeps its EMA); before reg.lecam_start steps
    they track the last batch."""
    decay = jnp.where(state.step >= rc.lecam_start, rc.lecam_decay, 0.0)
    update = lambda old, v: old if v is None else regs.ema(
        old, batch_mean(lax.stop_gradient(v)), decay)
    return {'real': update(state.lecam_ema['real'], r),
            'fake': update(state.lecam_ema['fake'], f)}

  def lecam_term(state, emas, r=None, f=None):
    """LeCam's penalty (both halves, or the one given) once reg.lecam_start is past."""
    term = regs.lecam_penalty(real=r, fake=f, ema_real=emas['real'], ema_fake=emas['fake'],
                              weight=rc.lecam)
    return jnp.where(state.step >= rc.lecam_start, term, 0.0)

  def penalties(state, d_params, n, keys, names, *, real, fake, real_labels, fake_labels):
    """{name: term} of the gradient penalties among `names` ('gp', 'r1', 'r2') that the
    config turns on, for this D update's (unaugmented) inputs, each through D with its own
    dropout and augmentation draws (a conditional D scores the interpolates with the
    reals' labels)."""
    out = {}
    if rc.gp and 'gp' in names:
      eps = _global_draw(jax.random.uniform, keys(_GP_EPS), (real.shape[0] * (
          lax.axis_size(ax) if ax else 1),), ax)
      x_hat = constrain(regs.interpolates(real, fake, eps))
      d_fn = critic(state, d_params, real_labels, keys(_GP_DROP), keys(_GP_AUG))
      out['gp'] = regs.gradient_penalty(d_fn, x_hat, weight=rc.gp, one_sided=rc.gp_one_sided)
    if rc.r1 and 'r1' in names:
      d_fn = critic(state, d_params, real_labels, keys(_R1_DROP), keys(_R1_AUG))
      out['r1'] = lazy(n, lambda: regs.r1_penalty(d_fn, real, gamma=rc.r1))
    if rc.r2 and 'r2' in names:
      d_fn = critic(state, d_params, fake_labels, keys(_R2_DROP), keys(_R2_AUG))
      out['r2'] = lazy(n, lambda: regs.r1_penalty(d_fn, fake, gamma=rc.r2))
    return out

  def apply_d(state, grads, stats):
    grads = _pmean(grads, ax)
    updates, d_opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
    params = optax.apply_updates(state.d_params, updates)
    if rc.clip:
      params = regs.clip_params(params, rc.clip)
    return state.replace(d_params=params, d_opt_state=d_opt_state, d_batch_stats=stats)

  def after_d(state, r=None, f=None):
    """Updates the LeCam EMAs and ADA's sign statistic from one D update's outputs."""
    if rc.lecam:
      state = state.replace(lecam_ema=lecam_emas(state, r, f))
    if ac.adaptive and r is not None:
      sign = batch_mean(jnp.sign(lax.stop_gradient(r) - lc.midpoint))
      state = state.replace(ada={**state.ada, 'signs': state.ada['signs'] + sign,
                                 'count': state.ada['count'] + 1.0})
    return state

  def d_step(state, real, real_labels, key, n=0):
    """One (combined) or two (separate) D updates on a real batch and as many fakes;
    n counts D updates (lazy regularization). Returns (state, (d_loss, r, f, terms))."""
    k_fake, k_drop_real, k_drop_fake = jax.random.split(key, 3)
    keys = lambda tag: jax.random.fold_in(key, tag)
    z, fake_labels = draw_fakes(k_fake, real_batch_size(cfg.d_batch, cfg.global_batch))
    # G's BN statistics are not updated by a D step.
    fake = lax.stop_gradient(run_g(state, state.g_params, z, fake_labels,
                                   train=cfg.fakes_for_d == 'train')[0])
    real = constrain(real)
    inputs = dict(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels)
    if cfg.d_batch == 'combined':
      x = jnp.concatenate([augmented(state, real, keys(_AUG_REAL)),
                           augmented(state, fake, keys(_AUG_FAKE))])
      labels = None if fake_labels is None else jnp.concatenate([real_labels, fake_labels])

      def loss_fn(d_params):
        outputs, stats = run_d(state, d_params, x, labels, k_drop_real)
        logits, class_logits = split(outputs)
        r, f = logits[:real.shape[0]], logits[real.shape[0]:]
        terms = penalties(state, d_params, n, keys, ('gp', 'r1', 'r2'), **inputs)
        if cfg.acgan:
          terms.update(class_term(class_logits[:real.shape[0]], real_labels))
        if rc.lecam:
          terms['lecam'] = lecam_term(state, lecam_emas(state, r, f), r, f)
        loss = losses.d_loss(lc, real=r, fake=f, mean=batch_mean)
        return loss + sum(terms.values()), (loss, r, f, terms, stats)

      grads, (loss, r, f, terms, stats) = jax.grad(loss_fn, has_aux=True)(state.d_params)
      state = after_d(apply_d(state, grads, stats), r, f)
      return state, (loss, r, f, terms)
    # 'separate' (seed 003): an update on a real half batch, then one on a fake half batch.
    def half_update(state, images, labels, aug_tag, k_drop, names, side, term_fn):
      def loss_fn(d_params):
        outputs, stats = run_d(state, d_params, augmented(state, images, keys(aug_tag)),
                               labels, k_drop)
        logits, class_logits = split(outputs)
        terms = penalties(state, d_params, n, keys, names, **inputs)
        if side == 'r':
          terms.update(class_term(class_logits, labels))
        if rc.lecam:
          terms['lecam'] = lecam_term(state, lecam_emas(state, **{side: logits}),
                                      **{side: logits})
        loss = term_fn(lc, logits)
        return loss + sum(terms.values()), (loss, logits, terms, stats)
      grads, (loss, logits, terms, stats) = jax.grad(loss_fn, has_aux=True)(state.d_params)
      return after_d(apply_d(state, grads, stats), **{side: logits}), loss, logits, terms

    state, loss_r, r, terms_r = half_update(state, real, real_labels, _AUG_REAL, k_drop_real,
                                            ('r1',), 'r', losses.d_real_term)
    state, loss_f, f, terms_f = half_update(state, fake, fake_labels, _AUG_FAKE, k_drop_fake,
                                            ('gp', 'r2'), 'f', losses.d_fake_term)
    terms = {k: terms_r.get(k, 0.0) + terms_f.get(k, 0.0) for k in {*terms_r, *terms_f}}
    return state, (losses.d_term_weight(lc) * (loss_r + loss_f), r, f, terms)

  def g_step(state, key, real=None, real_labels=None):
    """One G update through a fixed D (D's params and statistics are not written);
    returns the adversarial loss and {'g_class': AC-GAN's term} (or {})."""
    k_fake, k_drop = jax.random.split(key)
    keys = lambda tag: jax.random.fold_in(key, tag)
    z, labels = draw_fakes(k_fake, cfg.global_batch)
    r = None
    if cfg.g_needs_reals:
      r = critic(state, state.d_params, real_labels, keys(_G_REAL), keys(_AUG_REAL))(
          constrain(real))

    def loss_fn(g_params):
      fake, g_stats = run_g(state, g_params, z, labels)
      f, class_logits = split(critic_outputs(state, state.d_params, labels, k_drop,
                                             keys(_AUG_FAKE))(fake))
      loss = losses.g_loss(lc, fake=f, real=r, mean=batch_mean)
      terms = {f'g_{k}': v for k, v in class_term(class_logits, labels).items()}
      return loss + sum(terms.values()), (loss, terms, g_stats)

    (_, (loss, terms, g_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.g_params)
    grads = _pmean(grads, ax)
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
    return state.replace(g_params=optax.apply_updates(state.g_params, updates),
                         g_opt_state=g_opt_state, g_batch_stats=g_stats), (loss, terms)

  def simultaneous_step(state, real, real_labels, key):
    """Seed 004: G and D gradients from one forward pass at the current params.

    D sees the real and the fake batch in two calls, as in the seed (BatchNorm in D, if
    any, takes statistics per call). Sharing the forward pass (and D's pass over the
    fakes between D's loss and G's) saves a G forward and a D forward per step. The
    gradient penalties add their own gradient w.r.t. D's params.
    """
    k_fake, k_drop_real, k_drop_fake = jax.random.split(key, 3)
    keys = lambda tag: jax.random.fold_in(key, tag)
    z, fake_labels = draw_fakes(k_fake, cfg.global_batch)
    real = constrain(real)
    fake, g_pull, g_stats = jax.vjp(lambda p: run_g(state, p, z, fake_labels),
                                    state.g_params, has_aux=True)
    aug_real = augmented(state, real, keys(_AUG_REAL))
    real_logits_fn = lambda p: run_d(state, p, aug_real, real_labels, k_drop_real)
    r_out, r_pull, stats = jax.vjp(real_logits_fn, state.d_params, has_aux=True)
    fake_logits_fn = lambda p, x: run_d(state.replace(d_batch_stats=stats), p,
                                        augmented(state, x, keys(_AUG_FAKE)), fake_labels,
                                        k_drop_fake)
    f_out, f_pull, d_stats = jax.vjp(fake_logits_fn, state.d_params, fake, has_aux=True)
    r, f = split(r_out)[0], split(f_out)[0]
    emas = lecam_emas(state, r, f) if rc.lecam else None

    def d_loss_fn(r_out, f_out):
      (r, r_class), f = split(r_out), split(f_out)[0]
      extra = {'lecam': lecam_term(state, emas, r, f)} if rc.lecam else {}
      extra.update(class_term(r_class, real_labels))
      loss = losses.d_loss(lc, real=r, fake=f, mean=batch_mean)
      return loss + sum(extra.values()), (loss, extra)

    def g_loss_fn(f_out):
      f, f_class = split(f_out)
      loss = losses.g_loss(lc, fake=f, real=r, mean=batch_mean)
      terms = {f'g_{k}': v for k, v in class_term(f_class, fake_labels).items()}
      return loss + sum(terms.values()), (loss, terms)

    (_, (d_loss, extra)), (d_r, d_f) = jax.value_and_grad(
        d_loss_fn, argnums=(0, 1), has_aux=True)(r_out, f_out)
    (_, (g_loss, g_terms)), g_f = jax.value_and_grad(g_loss_fn, has_aux=True)(f_out)
    d_grads = jax.tree.map(jnp.add, r_pull(d_r)[0], f_pull(d_f)[0])
    terms = {}
    if rc.gp or rc.r1 or rc.r2:
      inputs = dict(real=real, fake=lax.stop_gradient(fake), real_labels=real_labels,
                    fake_labels=fake_labels)
      penalty = lambda p: (lambda t: (sum(t.values()), t))(
          penalties(state, p, state.step, keys, ('gp', 'r1', 'r2'), **inputs))
      reg_grads, terms = jax.grad(penalty, has_aux=True)(state.d_params)
      d_grads = jax.tree.map(jnp.add, d_grads, reg_grads)
    g_grads = _pmean(g_pull(f_pull(g_f)[1])[0], ax)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    state = apply_d(state, d_grads, d_stats).replace(
        g_params=optax.apply_updates(state.g_params, g_updates), g_opt_state=g_opt_state,
        g_batch_stats=g_stats)
    return after_d(state, r, f), (d_loss, r, f, {**terms, **extra}), (g_loss, g_terms)

  def adjust_augment(state):
    """ADA: every adjust_every steps, move p by the sign of r_t - target; reset r_t."""
    ada = state.ada
    due = (state.step + 1) % ac.adjust_every == 0
    r_t = ada['signs'] / jnp.maximum(ada['count'], 1.0)
    images = ada['count'] * real_batch_size(cfg.d_batch, cfg.global_batch)
    p = augment.ada_adjust(ada['p'], r_t, target=ac.target, images=images, kimg=ac.kimg)
    zero = jnp.zeros((), jnp.float32)
    return state.replace(ada={'p': jnp.where(due, p, ada['p']),
                              'signs': jnp.where(due, zero, ada['signs']),
                              'count': jnp.where(due, zero, ada['count'])})

  def train_step(state, images, labels=None):
    key = jax.random.fold_in(state.rng, state.step)
    batch = lambda i: (images[i], None if labels is None else labels[i])
    p_used = augment_p(state)
    if cfg.update == 'simultaneous':
      state, d_out, (g_loss, g_terms) = simultaneous_step(state, *batch(0), key)
    else:
      for i in range(cfg.d_steps):
        state, d_out = d_step(state, *batch(i), jax.random.fold_in(key, i),
                              state.step * cfg.d_steps + i)
      g_real = batch(cfg.d_steps) if cfg.g_needs_reals else (None, None)
      state, (g_loss, g_terms) = g_step(state, jax.random.fold_in(key, cfg.d_steps), *g_real)
    d_loss, r, f, terms = d_out
    if cfg.ema_decay:
      state = state.replace(g_ema_params=ema_update(state.g_ema_params, state.g_params,
                                                    cfg.ema_decay))
    metrics = {'d_loss': d_loss, 'g_loss': g_loss, **losses.d_metrics(lc, real=r, fake=f),
               **terms, **g_terms}
    if ac.active:
      metrics['augment_p'] = jnp.asarray(p_used, jnp.float32)
    if ac.adaptive:
      metrics['ada_rt'] = jnp.mean(jnp.sign(r - lc.midpoint))
      state = adjust_augment(state)
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
