"""The GAN train step, read top to bottom as the phases it runs.

One step: k D updates, then one G update, then G's EMA, ADA's p and the metrics. A D
update runs the D phases of the config (one update on [real; fake], or one on reals then
one on fakes), then, for lazy R1/R2, an update of its own every r1_every D updates
(StyleGAN2's Dreg phase). A D phase differentiates D's objective w.r.t. D's params only,
with G's output behind stop_gradient; a G phase differentiates through D but applies
updates to G only and writes none of D's params or statistics (BatchNorm's, or spectral
norm's u vectors, which live in D's batch_stats and change only in D phases).
update='simultaneous' (seed 004) takes both gradients from one forward pass instead.

The pieces are module-level functions of a Context (config, networks, optimizers) that
make_step_fns binds with partial; nothing in it is traced. Every image D sees is
augmented first when config.augment asks (augment.py). The same step runs globally under
jit (XLA inserts the all-reduces) or per device under pmap (axis_name set: gradients,
metrics and BatchNorm statistics are pmean-ed over it).
"""

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ganjax import schedules
from ganjax.objectives import augment, losses, regularizers as regs


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The static knobs of a train step (hashable)."""
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
  ema_kimg: float = 0.0                # > 0: the EMA's half-life in kimg (StyleGAN2, R3GAN)
  ema_rampup: float = 0.0              # > 0: half-life <= images seen x ema_rampup
  axis_name: Optional[str] = None      # set in pmap mode
  seed_axis: Optional[str] = None      # set when vmap-ed over seeds (vectorized.py)
  schedules: tuple = ()                # schedules.Schedule of the fields that follow one
  xflip: bool = False                  # data.xflip: each real mirrored with probability 1/2
  # A conditional G's labels: 'sampled' uniformly, or 'real': each fake takes the label
  # of the real it is paired with (R3GAN's training_loop: the real batch's c).
  fake_labels: str = 'sampled'

  def hyper(self, field, static, step):
    """`field`'s value at G step `step`: its schedule's, or the static one."""
    return schedules.value(self.schedules, field, static, step, self.global_batch)

  @property
  def keeps_ema(self):
    """Whether G's EMA is kept: ema_decay or ema_kimg set, or ema_kimg scheduled."""
    return bool(self.ema_decay or self.ema_kimg or schedules.find(self.schedules, 'ema_kimg'))

  @property
  def augments(self):
    """Whether D's inputs are augmented: the policy's ops at a p that is adaptive, above
    0, or scheduled (R3GAN ramps it up from 0)."""
    return self.aug.active or bool(self.aug.policy and
                                   schedules.find(self.schedules, 'augment.p'))

  @property
  def g_needs_reals(self):
    """Relativistic losses score reals in the G update too, and fake_labels='real' takes
    their labels: a batch of its own."""
    return self.loss.name == 'relativistic' or self.labels_from_reals

  @property
  def labels_from_reals(self):
    """Whether fakes take their paired reals' labels (fake_labels='real', conditional)."""
    return self.fake_labels == 'real' and bool(self.num_classes)


class Context(NamedTuple):
  """What the pieces close over: the config, the networks and their optimizers."""
  cfg: StepConfig
  generator: Any
  discriminator: Any
  g_tx: Any
  d_tx: Any
  constrain: Callable   # pins batch-shaped arrays to the data sharding (jit mode)


class StepFns(NamedTuple):
  """The step and its two halves (the halves are exposed for invariant tests)."""
  train_step: Callable   # (state, images [n,B,H,W,C], labels [n,B]|None) -> (state, metrics)
  d_step: Callable       # (state, real [B,H,W,C], labels [B]|None, key, n=0) -> (state, out)
  g_step: Callable       # (state, key, real=None, labels=None) -> (state, (loss, terms))


def batches_per_step(cfg):
  """Real batches a step reads: one per D update, plus G's own for relativistic losses."""
  return cfg.d_steps + (1 if cfg.g_needs_reals and cfg.update == 'alternating' else 0)


def real_batch_size(d_batch, global_batch):
  """Real examples per D update: the whole batch when combined, half when separate."""
  if d_batch == 'combined':
    return global_batch
  if d_batch == 'separate':
    return global_batch // 2
  raise ValueError(f"unknown d_batch {d_batch!r}; use 'combined' or 'separate'")


# RNG streams: the one place that says which key feeds what. The step's key is
# fold_in(state.rng, step); D update i < d_steps gets fold_in(step key, i), the G update
# i = d_steps, a simultaneous update the step key itself. An update's key splits into
# the streams of _SPLIT and folds in the tags of _TAGS (the tags came after the split
# streams, so a step with every newer feature off draws what it always drew).
_SPLIT = {'d': ('fakes', 'd_drop_real', 'd_drop_fake'), 'g': ('fakes', 'd_drop_fake')}
_TAGS = dict(aug_real=0xA0, aug_fake=0xA1, gp_eps=0xA2, gp_drop=0xA3, r1_drop=0xA4,
             r2_drop=0xA5, g_real_drop=0xA6, gp_aug=0xA7, r1_aug=0xA8, r2_aug=0xA9,
             g_noise=0xAA, g_mixing=0xAB,   # G's own draws (StyleGAN2's noise, mixing)
             pl_noise=0xAC,                 # path length regularization's image noise
             xflip=0xAD)                    # data.xflip's coins


def update_key(rng, step, i):
  """The key of update i of step `step` (i = d_steps: the G update; d_steps + 1: G's
  path length update)."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), i)


def streams(key, update):
  """{stream name: key} of one 'd' or 'g' update's key (unused ones cost nothing)."""
  keys = dict(zip(_SPLIT[update], jax.random.split(key, len(_SPLIT[update]))))
  return {**keys, **{name: jax.random.fold_in(key, tag) for name, tag in _TAGS.items()}}


# Parallel modes: under pmap each device draws the global batch's randomness and keeps
# its rows, so pmap and the global program use the same latents and augmentations.
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
  """sample(key, global_shape), this device's rows under pmap."""
  return _local_rows(sample(key, global_shape), axis_name)


def _pmean(tree, axis_name):
  return tree if axis_name is None else lax.pmean(tree, axis_name)


def _global_rows(x, axis_name):
  """The global batch size of x [b, ...]."""
  return x.shape[0] * (lax.axis_size(axis_name) if axis_name else 1)


def batch_mean(cfg, v):
  """The mean of v over the global batch."""
  return _pmean(jnp.mean(v), cfg.axis_name)


def mirrored(cfg, real, key):
  """data.xflip (the official --mirror, a dataset doubled by x-flips): each real of the
  global batch mirrored left-right with probability 1/2; real [b,H,W,C]."""
  if not cfg.xflip:
    return real
  coin = _global_draw(lambda k, shape: jax.random.bernoulli(k, 0.5, shape), key,
                      (_global_rows(real, cfg.axis_name),), cfg.axis_name)
  return jnp.where(coin[:, None, None, None], real[:, :, ::-1], real)


# The networks.
def draw_fakes(ctx, key, batch):
  """Latents [b, latent_dim] (and labels [b]) for `batch` fakes of the global batch."""
  cfg = ctx.cfg
  kz, kl = jax.random.split(key)
  z = _global_draw(jax.random.normal, kz, (batch, cfg.latent_dim), cfg.axis_name)
  labels = None
  if cfg.num_classes:
    randint = lambda k, s: jax.random.randint(k, s, 0, cfg.num_classes)
    labels = ctx.constrain(_global_draw(randint, kl, (batch,), cfg.axis_name))
  return ctx.constrain(z), labels


def g_fakes(ctx, key):
  """G update's latents [b, latent] and labels [b]: draw_fakes, with each label shared by
  a pair of rows (2i, 2i+1) when the mode-seeking term is on."""
  z, labels = draw_fakes(ctx, key, ctx.cfg.global_batch)
  if ctx.cfg.reg.mode_seeking and labels is not None:
    labels = ctx.constrain(jnp.repeat(labels[0::2], 2, axis=0))
  return z, labels


def mode_seeking_terms(cfg, fake, z):
  """{'g_mode_seeking'} for G's fakes [b,...] from latents z [b, latent], or {} when off."""
  if not cfg.reg.mode_seeking:
    return {}
  return {'g_mode_seeking': regs.mode_seeking_penalty(
      fake, z, weight=cfg.reg.mode_seeking, mean=functools.partial(batch_mean, cfg))}


def run_g(ctx, state, g_params, z, labels, keys, train=True, perturbations=None):
  """G forward with the update's G streams (a G that draws noise or mixes styles uses
  them; others ignore them); returns (images, new G batch stats) (the old ones if not
  train). perturbations: added to G's intermediates of those names (Linen's perturb)."""
  variables = {'params': g_params, 'batch_stats': state.g_batch_stats}
  if perturbations is not None:
    variables['perturbations'] = perturbations
  rngs = {'noise': keys['g_noise'], 'mixing': keys['g_mixing']}
  if not train:
    return (ctx.generator.apply(variables, z, labels, train=False, rngs=rngs),
            state.g_batch_stats)
  out, mut = ctx.generator.apply(variables, z, labels, train=True, mutable=['batch_stats'],
                                 rngs=rngs)
  return out, mut.get('batch_stats', {})


def run_d(ctx, state, d_params, x, labels, key):
  """D forward in train mode; returns (outputs [B,1(+n)], new D batch stats)."""
  out, mut = ctx.discriminator.apply(
      {'params': d_params, 'batch_stats': state.d_batch_stats}, x, labels,
      train=True, mutable=['batch_stats'], rngs={'dropout': key})
  return out, mut.get('batch_stats', {})


def split_outputs(cfg, out):
  """D's outputs -> (adversarial [B,1], class logits [B,n] or None)."""
  return (out[:, :1], out[:, 1:]) if cfg.acgan else (out, None)


def augment_p(cfg, state):
  """The augmentation probability this step uses."""
  return state.ada['p'] if cfg.aug.adaptive else cfg.hyper('augment.p', cfg.aug.p, state.step)


def augmented(ctx, state, x, key):
  """x as D sees it: augmented with draws for its rows of the global batch."""
  cfg = ctx.cfg
  if not cfg.augments:
    return x
  draws = _local_rows(augment.draw(key, _global_rows(x, cfg.axis_name), cfg.aug.policy),
                      cfg.axis_name)
  return ctx.constrain(augment.apply(x, draws, cfg.aug.policy, augment_p(cfg, state)))


def critic(ctx, state, d_params, labels, drop_key, aug_key, adversarial=True):
  """D as a function of its unaugmented input, x [B,...] -> [B,1] (adversarial) or all
  outputs [B,1(+n)]; the penalties differentiate it w.r.t. x. Its statistics are dropped."""
  def fn(x):
    out = run_d(ctx, state, d_params, augmented(ctx, state, x, aug_key), labels, drop_key)[0]
    return split_outputs(ctx.cfg, out)[0] if adversarial else out
  return fn


# Terms from D's outputs, each written once: D's and G's adversarial losses, AC-GAN's
# class terms, LeCam's penalty and its EMAs.
def class_terms(cfg, class_logits, labels, prefix=''):
  """{prefix + 'class': weighted AC-GAN cross-entropy}, or {} when D has no classifier."""
  if not cfg.acgan:
    return {}
  loss = losses.class_loss(class_logits, labels, functools.partial(batch_mean, cfg))
  return {prefix + 'class': cfg.loss.class_weight * loss}


def lecam_emas(cfg, state, r=None, f=None):
  """The LeCam EMAs after this D update's outputs (its own batch included, as in the
  authors' code; a half without outputs keeps its EMA); before reg.lecam_start steps
  they track the last batch."""
  decay = jnp.where(state.step >= cfg.reg.lecam_start, cfg.reg.lecam_decay, 0.0)
  update = lambda old, v: old if v is None else regs.ema(
      old, batch_mean(cfg, lax.stop_gradient(v)), decay)
  return {'real': update(state.lecam_ema['real'], r),
          'fake': update(state.lecam_ema['fake'], f)}


def lecam_terms(cfg, state, r=None, f=None):
  """{'lecam': LeCam's penalty on the outputs given} once reg.lecam_start is past, or {}."""
  if not cfg.reg.lecam:
    return {}
  emas = lecam_emas(cfg, state, r, f)
  term = regs.lecam_penalty(real=r, fake=f, ema_real=emas['real'], ema_fake=emas['fake'],
                            weight=cfg.reg.lecam)
  return {'lecam': jnp.where(state.step >= cfg.reg.lecam_start, term, 0.0)}


def d_terms(cfg, state, r, f, r_class, real_labels):
  """D's adversarial loss on outputs for reals r and / or fakes f (None: not in this
  phase) and its other terms from outputs: (loss, {'class', 'lecam'})."""
  mean = functools.partial(batch_mean, cfg)
  if r is not None and f is not None:
    loss = losses.d_loss(cfg.loss, real=r, fake=f, mean=mean)
  else:
    loss = losses.d_real_term(cfg.loss, r) if f is None else losses.d_fake_term(cfg.loss, f)
  terms = class_terms(cfg, r_class, real_labels) if r is not None else {}
  return loss, {**terms, **lecam_terms(cfg, state, r, f)}


def g_terms(cfg, f, f_class, labels, r=None):
  """G's adversarial loss on D's outputs for its fakes (and reals: relativistic) and its
  AC-GAN term: (loss, {'g_class'} or {})."""
  loss = losses.g_loss(cfg.loss, fake=f, real=r, mean=functools.partial(batch_mean, cfg))
  return loss, class_terms(cfg, f_class, labels, prefix='g_')


# Gradient penalties: each through D with its own dropout and augmentation draws.
class DInputs(NamedTuple):
  """One D update's unaugmented inputs (fakes behind stop_gradient)."""
  real: Any
  fake: Any
  real_labels: Any
  fake_labels: Any


def due(cfg, n, every):
  """Whether update n is one of every `every`-th. Seeds vmap-ed together share n: its
  max over them keeps the predicate unbatched, so a cond on it stays a branch (a batched
  one would compute both sides every update)."""
  if cfg.seed_axis:
    n = lax.pmax(n, cfg.seed_axis)
  return n % every == 0


def _fused_lazy(cfg, n, penalty):
  """reg.lazy='fused': the penalty times k on every k-th D update, else 0."""
  k = cfg.reg.r1_every
  if k == 1 or cfg.reg.lazy != 'fused':
    return penalty()
  return lax.cond(due(cfg, n, k), lambda: k * penalty(), lambda: jnp.zeros((), jnp.float32))


def gradient_penalties(ctx, state, d_params, names, x, keys, n=0):
  """{name: term} of the penalties among `names` ('gp', 'r1', 'r2') the config turns on,
  for DInputs x (a conditional D scores the interpolates with the reals' labels)."""
  cfg, rc, out = ctx.cfg, ctx.cfg.reg, {}
  if rc.gp and 'gp' in names:
    eps = _global_draw(jax.random.uniform, keys['gp_eps'],
                       (_global_rows(x.real, cfg.axis_name),), cfg.axis_name)
    x_hat = ctx.constrain(regs.interpolates(x.real, x.fake, eps))
    d_fn = critic(ctx, state, d_params, x.real_labels, keys['gp_drop'], keys['gp_aug'])
    weight = cfg.hyper('reg.gp', rc.gp, state.step)
    out['gp'] = regs.gradient_penalty(d_fn, x_hat, weight=weight, one_sided=rc.gp_one_sided)
  if rc.r1 and 'r1' in names:
    d_fn = critic(ctx, state, d_params, x.real_labels, keys['r1_drop'], keys['r1_aug'])
    gamma = cfg.hyper('reg.r1', rc.r1, state.step)
    out['r1'] = _fused_lazy(cfg, n, lambda: regs.r1_penalty(d_fn, x.real, gamma=gamma))
  if rc.r2 and 'r2' in names:
    d_fn = critic(ctx, state, d_params, x.fake_labels, keys['r2_drop'], keys['r2_aug'])
    gamma = cfg.hyper('reg.r2', rc.r2, state.step)
    out['r2'] = _fused_lazy(cfg, n, lambda: regs.r1_penalty(d_fn, x.fake, gamma=gamma))
  return out


# The D phases. A phase has a name, the sides of the batch whose adversarial terms it
# takes, the penalties it computes, and an interval (1: every D update; k: every k-th,
# its terms times k). Lazy R1/R2 in their own update is StyleGAN2's Dreg.
@dataclasses.dataclass(frozen=True)
class Phase:
  name: str
  sides: tuple = ('real', 'fake')
  penalties: tuple = ()
  interval: int = 1


D_PHASES = {
    'combined': (Phase('D', ('real', 'fake'), ('gp', 'r1', 'r2')),),
    # seed 003: an update on a real half batch, then one on a fake half batch.
    'separate': (Phase('D_real', ('real',), ('r1',)), Phase('D_fake', ('fake',), ('gp', 'r2'))),
}
LAZY = ('r1', 'r2')


def own_reg_phase(reg):
  """Whether lazy R1/R2 take an update of their own (reg.lazy='own_step', k > 1)."""
  return reg.lazy == 'own_step' and reg.r1_every > 1 and bool(reg.r1 or reg.r2)


def d_phases(cfg, d_batch=None):
  """The phases of one D update: the main ones, then 'D_reg' when it is its own."""
  main = D_PHASES[d_batch or cfg.d_batch]
  if not own_reg_phase(cfg.reg):
    return main
  main = tuple(dataclasses.replace(p, penalties=tuple(n for n in p.penalties if n not in LAZY))
               for p in main)
  return main + (Phase('D_reg', (), LAZY, interval=cfg.reg.r1_every),)


_SIDES = {'real': ('real', 'real_labels', 'aug_real', 'd_drop_real'),
          'fake': ('fake', 'fake_labels', 'aug_fake', 'd_drop_fake')}


def d_outputs(ctx, state, d_params, sides, x, keys):
  """D's outputs on the phase's sides of DInputs x, in one call (one per side for a D
  whose outputs couple the batch): (r, f, r_class, stats) with r / f None for a side the
  phase does not see."""
  images, labels = [], []
  for side in sides:
    name, label_name, aug_key, _ = _SIDES[side]
    images.append(augmented(ctx, state, getattr(x, name), keys[aug_key]))
    labels.append(getattr(x, label_name))
  if getattr(ctx.discriminator, 'couples_batch', False):
    # Minibatch-stddev groups samples: reals and fakes in calls of their own (official).
    outs = [run_d(ctx, state, d_params, image, label, keys[_SIDES[side][3]])
            for side, image, label in zip(sides, images, labels)]
    out, stats = jnp.concatenate([o[0] for o in outs]), outs[-1][1]
  else:
    labels = None if x.fake_labels is None else jnp.concatenate(labels)
    out, stats = run_d(ctx, state, d_params, jnp.concatenate(images), labels,
                       keys[_SIDES[sides[0]][3]])
  logits, class_logits = split_outputs(ctx.cfg, out)
  b = x.real.shape[0] if sides[0] == 'real' else 0
  r = logits[:b] if 'real' in sides else None
  f = logits[b:] if 'fake' in sides else None
  r_class = class_logits[:b] if class_logits is not None and r is not None else None
  return r, f, r_class, stats


def apply_d_grads(ctx, state, grads, stats):
  """D's optimizer step (gradients averaged over devices; WGAN's clip after it)."""
  grads = _pmean(grads, ctx.cfg.axis_name)
  updates, d_opt_state = ctx.d_tx.update(grads, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  if ctx.cfg.reg.clip:
    params = regs.clip_params(params, ctx.cfg.reg.clip)
  return state.replace(d_params=params, d_opt_state=d_opt_state, d_batch_stats=stats)


def observe_d(cfg, state, r=None, f=None):
  """The LeCam EMAs and ADA's sign statistic after one D update's outputs."""
  if cfg.reg.lecam:
    state = state.replace(lecam_ema=lecam_emas(cfg, state, r, f))
  if cfg.aug.adaptive and r is not None:
    sign = batch_mean(cfg, jnp.sign(lax.stop_gradient(r) - cfg.loss.midpoint))
    state = state.replace(ada={**state.ada, 'signs': state.ada['signs'] + sign,
                               'count': state.ada['count'] + 1.0})
  return state


def d_main_phase(ctx, phase, state, x, keys, n):
  """One D update on the phase's sides: (state, (loss, r, f, terms))."""
  def loss_fn(d_params):
    r, f, r_class, stats = d_outputs(ctx, state, d_params, phase.sides, x, keys)
    terms = gradient_penalties(ctx, state, d_params, phase.penalties, x, keys, n)
    loss, output_terms = d_terms(ctx.cfg, state, r, f, r_class, x.real_labels)
    terms.update(output_terms)
    return loss + sum(terms.values()), (loss, r, f, terms, stats)

  grads, (loss, r, f, terms, stats) = jax.grad(loss_fn, has_aux=True)(state.d_params)
  state = observe_d(ctx.cfg, apply_d_grads(ctx, state, grads, stats), r, f)
  return state, (loss, r, f, terms)


def d_reg_phase(ctx, phase, state, x, keys, n):
  """Every phase.interval-th D update, an update on the penalties alone times the
  interval (D's statistics untouched): (state, (None, None, None, terms))."""
  on = [name for name in phase.penalties if getattr(ctx.cfg.reg, name)]

  def run(state):
    def loss_fn(d_params):
      terms = gradient_penalties(ctx, state, d_params, phase.penalties, x, keys, n)
      terms = {k: phase.interval * v for k, v in terms.items()}
      return sum(terms.values()), terms
    grads, terms = jax.grad(loss_fn, has_aux=True)(state.d_params)
    return apply_d_grads(ctx, state, grads, state.d_batch_stats), terms

  skip = lambda state: (state, {k: jnp.zeros((), jnp.float32) for k in on})
  state, terms = lax.cond(due(ctx.cfg, n, phase.interval), run, skip, state)
  return state, (None, None, None, terms)


def merge_d_outputs(cfg, outs):
  """The phases' (loss, r, f, terms) -> one D update's: seed 003's two halves report
  weight * (real term + fake term), as the combined loss; terms add up by name."""
  main = [o for o in outs if o[0] is not None]
  loss = main[0][0] if len(main) == 1 else losses.d_term_weight(cfg.loss) * sum(
      o[0] for o in main)
  r = next(o[1] for o in main if o[1] is not None)
  f = next(o[2] for o in main if o[2] is not None)
  terms = {}
  for o in outs:
    for k, v in o[3].items():
      terms[k] = terms[k] + v if k in terms else v
  return loss, r, f, terms


def d_inputs(ctx, state, real, real_labels, keys):
  """DInputs of one D update: the reals, and as many fakes from fresh latents (G's BN
  statistics are not updated by a D update)."""
  cfg = ctx.cfg
  z, fake_labels = draw_fakes(ctx, keys['fakes'],
                              real_batch_size(cfg.d_batch, cfg.global_batch))
  fake_labels = real_labels if cfg.labels_from_reals else fake_labels
  fake = run_g(ctx, state, state.g_params, z, fake_labels, keys,
               train=cfg.fakes_for_d == 'train')[0]
  real = mirrored(cfg, ctx.constrain(real), keys['xflip'])
  return DInputs(ctx.constrain(real), lax.stop_gradient(fake), real_labels, fake_labels)


def d_update(ctx, state, real, real_labels, key, n=0):
  """One D update (n counts them, for lazy phases): its phases in order; returns
  (state, (d_loss, r [B,1], f [B,1], terms))."""
  keys = streams(key, 'd')
  x = d_inputs(ctx, state, real, real_labels, keys)
  outs = []
  for phase in d_phases(ctx.cfg):
    run = d_main_phase if phase.sides else d_reg_phase
    state, out = run(ctx, phase, state, x, keys, n)
    outs.append(out)
  return state, merge_d_outputs(ctx.cfg, outs)


# The G phase.
def apply_g_grads(ctx, state, grads, g_stats):
  """G's optimizer step (gradients averaged over devices)."""
  grads = _pmean(grads, ctx.cfg.axis_name)
  updates, g_opt_state = ctx.g_tx.update(grads, state.g_opt_state, state.g_params)
  return state.replace(g_params=optax.apply_updates(state.g_params, updates),
                       g_opt_state=g_opt_state, g_batch_stats=g_stats)


def g_update(ctx, state, key, real=None, real_labels=None):
  """One G update through a fixed D (D's params and statistics are not written);
  returns (state, (adversarial loss, {'g_class'} or {}))."""
  cfg, keys = ctx.cfg, streams(key, 'g')
  z, labels = g_fakes(ctx, keys['fakes'])
  labels = real_labels if cfg.labels_from_reals else labels
  r = None
  if cfg.loss.name == 'relativistic':
    real = ctx.constrain(mirrored(cfg, ctx.constrain(real), keys['xflip']))
    r = critic(ctx, state, state.d_params, real_labels, keys['g_real_drop'],
               keys['aug_real'])(real)
  d_fn = critic(ctx, state, state.d_params, labels, keys['d_drop_fake'], keys['aug_fake'],
                adversarial=False)

  def loss_fn(g_params):
    fake, g_stats = run_g(ctx, state, g_params, z, labels, keys)
    f, f_class = split_outputs(cfg, d_fn(fake))
    loss, terms = g_terms(cfg, f, f_class, labels, r)
    terms = {**terms, **mode_seeking_terms(cfg, fake, z)}
    return loss + sum(terms.values()), (loss, terms, g_stats)

  grads, (loss, terms, g_stats) = jax.grad(loss_fn, has_aux=True)(state.g_params)
  return apply_g_grads(ctx, state, grads, g_stats), (loss, terms)


# StyleGAN2's Greg phase: path length regularization, an update of G's own every
# reg.pl_every G updates (training/loss.py, phase Greg).
def path_lengths(ctx, state, g_params, z, labels, keys):
  """|J_w^T y| per sample: the gradient of sum(G(w) * y) w.r.t. the ws synthesis sees,
  y ~ N(0, 1) / sqrt(H W) image noise, as sqrt(mean over ws of its squared norm);
  returns (lengths [b], new G batch stats)."""
  b = z.shape[0]

  def image_dot_noise(dws):
    img, stats = run_g(ctx, state, g_params, z, labels, keys, perturbations={'ws': dws})
    noise = _global_draw(jax.random.normal, keys['pl_noise'],
                         (_global_rows(img, ctx.cfg.axis_name),) + img.shape[1:],
                         ctx.cfg.axis_name)
    return jnp.sum(img * noise / jnp.sqrt(img.shape[1] * img.shape[2])), stats

  dws = jnp.zeros(ctx.generator.ws_shape(b), jnp.float32)
  grads, stats = jax.grad(image_dot_noise, has_aux=True)(dws)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1)), stats


def g_reg_update(ctx, state, key):
  """Every reg.pl_every-th G update, an update of G on pl_weight * E(|J_w^T y| - a)^2
  times the interval, a = pl_mean moved toward this batch's mean length by pl_decay
  (gradient through it, as official); on global_batch / pl_batch_shrink fakes. Returns
  (state, {'pl': term})."""
  cfg, rc = ctx.cfg, ctx.cfg.reg
  keys = streams(key, 'g')

  def run(state):
    z, labels = draw_fakes(ctx, keys['fakes'], cfg.global_batch // rc.pl_batch_shrink)

    def loss_fn(g_params):
      lengths, stats = path_lengths(ctx, state, g_params, z, labels, keys)
      pl_mean = state.pl_mean + rc.pl_decay * (batch_mean(cfg, lengths) - state.pl_mean)
      term = rc.pl_every * rc.pl_weight * batch_mean(cfg, jnp.square(lengths - pl_mean))
      return term, (term, lax.stop_gradient(pl_mean), stats)

    grads, (term, pl_mean, stats) = jax.grad(loss_fn, has_aux=True)(state.g_params)
    return apply_g_grads(ctx, state, grads, stats).replace(pl_mean=pl_mean), term

  skip = lambda state: (state, jnp.zeros((), jnp.float32))
  state, term = lax.cond(due(cfg, state.step, rc.pl_every), run, skip, state)
  return state, {'pl': term}


# update='simultaneous' (seed 004): G's and D's gradients from one forward pass at the
# current params. D sees the real and the fake batch in two calls, as in the seed
# (BatchNorm in D, if any, takes statistics per call); the penalties add their own
# gradient w.r.t. D's params.
def simultaneous_update(ctx, state, real, real_labels, key):
  """Returns (state, (d_loss, r, f, terms), (g_loss, g_terms))."""
  cfg, keys = ctx.cfg, streams(key, 'd')
  z, fake_labels = g_fakes(ctx, keys['fakes'])
  fake_labels = real_labels if cfg.labels_from_reals else fake_labels
  real = ctx.constrain(mirrored(cfg, ctx.constrain(real), keys['xflip']))
  fake, g_pull, g_stats = jax.vjp(lambda p: run_g(ctx, state, p, z, fake_labels, keys),
                                  state.g_params, has_aux=True)
  aug_real = augmented(ctx, state, real, keys['aug_real'])
  r_out, r_pull, stats = jax.vjp(
      lambda p: run_d(ctx, state, p, aug_real, real_labels, keys['d_drop_real']),
      state.d_params, has_aux=True)
  f_out, f_pull, d_stats = jax.vjp(
      lambda p, x: run_d(ctx, state.replace(d_batch_stats=stats), p,
                         augmented(ctx, state, x, keys['aug_fake']), fake_labels,
                         keys['d_drop_fake']), state.d_params, fake, has_aux=True)
  r, f = split_outputs(cfg, r_out)[0], split_outputs(cfg, f_out)[0]

  def d_loss_fn(r_out, f_out):
    (r, r_class), f = split_outputs(cfg, r_out), split_outputs(cfg, f_out)[0]
    loss, terms = d_terms(cfg, state, r, f, r_class, real_labels)
    return loss + sum(terms.values()), (loss, terms)

  def g_loss_fn(f_out):
    loss, terms = g_terms(cfg, *split_outputs(cfg, f_out), fake_labels, r)
    return loss + sum(terms.values()), (loss, terms)

  (d_r, d_f), (d_loss, d_out_terms) = jax.grad(d_loss_fn, argnums=(0, 1), has_aux=True)(
      r_out, f_out)
  g_f, (g_loss, g_out_terms) = jax.grad(g_loss_fn, has_aux=True)(f_out)
  g_fake = f_pull(g_f)[1]
  if cfg.reg.mode_seeking:   # a term on the fakes themselves: its gradient joins D's pullback
    def ms_fn(x):
      terms = mode_seeking_terms(cfg, x, z)
      return sum(terms.values()), terms
    ms_grad, ms_terms = jax.grad(ms_fn, has_aux=True)(fake)
    g_fake, g_out_terms = g_fake + ms_grad, {**g_out_terms, **ms_terms}
  d_grads = jax.tree.map(jnp.add, r_pull(d_r)[0], f_pull(d_f)[0])
  x = DInputs(real, lax.stop_gradient(fake), real_labels, fake_labels)
  phases, terms = d_phases(cfg, 'combined'), {}
  if any(getattr(cfg.reg, name) for name in phases[0].penalties):
    def penalty(d_params):
      terms = gradient_penalties(ctx, state, d_params, phases[0].penalties, x, keys,
                                 state.step)
      return sum(terms.values()), terms
    reg_grads, terms = jax.grad(penalty, has_aux=True)(state.d_params)
    d_grads = jax.tree.map(jnp.add, d_grads, reg_grads)
  state = apply_d_grads(ctx, state, d_grads, d_stats)
  state = observe_d(cfg, apply_g_grads(ctx, state, g_pull(g_fake)[0], g_stats), r, f)
  for phase in phases[1:]:
    state, (*_, reg_terms) = d_reg_phase(ctx, phase, state, x, keys, state.step)
    terms.update(reg_terms)
  return state, (d_loss, r, f, {**terms, **d_out_terms}), (g_loss, g_out_terms)


# After the updates: G's EMA, ADA's p, the metrics.
def ema_decay(cfg, step):
  """G's EMA decay at G step `step`: ema_decay, or StyleGAN2's 0.5 ** (batch / half-life)
  for a half-life of ema_kimg thousand images (scheduled: R3GAN's ramp), at most images
  seen x ema_rampup when set."""
  if not cfg.ema_kimg and not schedules.find(cfg.schedules, 'ema_kimg'):
    return cfg.ema_decay
  images = cfg.hyper('ema_kimg', cfg.ema_kimg, step) * 1000.0
  if cfg.ema_rampup:
    images = jnp.minimum(images, step * cfg.global_batch * cfg.ema_rampup)
  return 0.5 ** (cfg.global_batch / jnp.maximum(images, 1e-8))


def ema_update(ema, params, decay):
  """decay * ema + (1 - decay) * params, leaf by leaf (after each G update)."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def adjust_augment(cfg, state):
  """ADA: every adjust_every steps, move p by the sign of r_t - target; reset r_t."""
  ada, ac = state.ada, cfg.aug
  due_now = (state.step + 1) % ac.adjust_every == 0
  r_t = ada['signs'] / jnp.maximum(ada['count'], 1.0)
  images = ada['count'] * real_batch_size(cfg.d_batch, cfg.global_batch)
  p = augment.ada_adjust(ada['p'], r_t, target=ac.target, images=images, kimg=ac.kimg)
  zero = jnp.zeros((), jnp.float32)
  return state.replace(ada={'p': jnp.where(due_now, p, ada['p']),
                            'signs': jnp.where(due_now, zero, ada['signs']),
                            'count': jnp.where(due_now, zero, ada['count'])})


def step_metrics(cfg, d_out, g_out, p_used, step):
  """The step's logged scalars from the last D update and the G update, and the
  scheduled hyper-parameters' values (schedule/<field>) at G step `step`."""
  (d_loss, r, f, terms), (g_loss, g_out_terms) = d_out, g_out
  metrics = {'d_loss': d_loss, 'g_loss': g_loss, **losses.d_metrics(cfg.loss, real=r, fake=f),
             **terms, **g_out_terms}
  for s in cfg.schedules:
    metrics[f'schedule/{s.field}'] = s.at_images(step * cfg.global_batch)
  if cfg.augments:
    metrics['augment_p'] = jnp.asarray(p_used, jnp.float32)
  if cfg.aug.adaptive:
    metrics['ada_rt'] = jnp.mean(jnp.sign(r - cfg.loss.midpoint))
  return metrics


def train_step(ctx, state, images, labels=None):
  """One step on real batches images [n,B,H,W,C] (labels [n,B]): (state, metrics)."""
  cfg = ctx.cfg
  batch = lambda i: (images[i], None if labels is None else labels[i])
  p_used = augment_p(cfg, state)
  if cfg.update == 'simultaneous':
    key = jax.random.fold_in(state.rng, state.step)
    state, d_out, g_out = simultaneous_update(ctx, state, *batch(0), key)
  else:
    for i in range(cfg.d_steps):
      state, d_out = d_update(ctx, state, *batch(i), update_key(state.rng, state.step, i),
                              state.step * cfg.d_steps + i)
    g_real = batch(cfg.d_steps) if cfg.g_needs_reals else (None, None)
    state, g_out = g_update(ctx, state, update_key(state.rng, state.step, cfg.d_steps),
                            *g_real)
  if cfg.reg.pl_weight:
    state, pl_terms = g_reg_update(ctx, state, update_key(state.rng, state.step,
                                                          cfg.d_steps + 1))
    g_out = (g_out[0], {**g_out[1], **pl_terms})
  if cfg.keeps_ema:
    state = state.replace(g_ema_params=ema_update(state.g_ema_params, state.g_params,
                                                  ema_decay(cfg, state.step)))
  metrics = step_metrics(cfg, d_out, g_out, p_used, state.step)
  if cfg.aug.adaptive:
    state = adjust_augment(cfg, state)
  return state.replace(step=state.step + 1), _pmean(metrics, cfg.axis_name)


def make_step_fns(cfg: StepConfig, generator, discriminator, g_tx, d_tx,
                  constrain: Callable[[Any], Any] = lambda x: x):
  """The train step and its D / G updates for one config, untransformed."""
  ctx = Context(cfg, generator, discriminator, g_tx, d_tx, constrain)
  return StepFns(functools.partial(train_step, ctx), functools.partial(d_update, ctx),
                 functools.partial(g_update, ctx))
