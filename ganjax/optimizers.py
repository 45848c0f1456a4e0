"""The two networks' optax optimizers from config.optimizer.{g,d}."""

import optax

from ganjax.errors import GanjaxError

OPTIMIZERS = ('adam', 'rmsprop')


def lazy_ratio(interval):
  """StyleGAN2's mb_ratio c = k / (k + 1) for a network regularized every k > 1 updates
  in an update of its own (1 otherwise): its optimizer then takes k + 1 steps per k
  updates, so the lr is scaled by c and Adam's betas raised to c to keep its time scale."""
  return interval / (interval + 1) if interval > 1 else 1.0


def learning_rate(opt_config, updates_per_step=1.0, ratio=1.0):
  """The learning rate times `ratio`: a constant, or (warmup_steps / decay_steps > 0, in
  G steps) a linear warm-up from 0 and a linear decay to 0 at decay_steps (SNGAN's
  schedule), counted in this optimizer's updates (updates_per_step per G step, lazy
  regularization updates included)."""
  lr = opt_config.learning_rate * ratio
  warmup = int(round(opt_config.get('warmup_steps', 0) * updates_per_step))
  decay = int(round(opt_config.get('decay_steps', 0) * updates_per_step))
  if not warmup and not decay:
    return lr
  pieces, bounds = [], []
  if warmup:
    pieces.append(optax.linear_schedule(0.0, lr, warmup))
    bounds.append(warmup)
  pieces.append(optax.linear_schedule(lr, 0.0, decay - warmup) if decay else
                optax.constant_schedule(lr))
  return optax.join_schedules(pieces, bounds) if bounds else pieces[0]


def make_optimizer(opt_config, updates_per_step=1.0, lazy_interval=1, schedules=(),
                   batch=1):
  """optax Adam from {learning_rate, b1, b2}, or RMSprop (the original WGAN's) from
  {learning_rate} when name='rmsprop'; the rate follows learning_rate(). lazy_interval
  k > 1: the network takes a regularization update of its own every k updates, and the
  optimizer is corrected by c = lazy_ratio(k) (lr * c, betas ** c; RMSprop's decay ** c).
  schedules: Schedule for fields of this opt_config, named by their last part (the
  optimizer's update count -> images seen: count / updates_per_step * batch)."""
  c = lazy_ratio(lazy_interval)
  hyper = {'learning_rate': learning_rate(opt_config, updates_per_step, c)}
  if opt_config.get('name', 'adam') == 'rmsprop':
    # torch's RMSprop: alpha 0.99, eps added to sqrt(v) (optax's default adds it inside).
    make = lambda learning_rate: optax.rmsprop(learning_rate, decay=0.99 ** c, eps=1e-8,
                                               eps_in_sqrt=False)
  else:
    make = optax.adam
    hyper.update(b1=opt_config.b1 ** c, b2=opt_config.b2 ** c)
  for s in schedules:
    key = s.field.rsplit('.', 1)[1]
    if key not in hyper or not isinstance(hyper[key], float):
      raise GanjaxError(f'--config.schedule.{s.field}: this optimizer takes no fixed {key} '
                        'to schedule (RMSprop has no betas; warmup_steps / decay_steps '
                        'already set the learning rate): keep one')
    hyper[key] = lambda count, s=s, key=key: _scaled(
        s.at_images(count / updates_per_step * batch), c, key != 'learning_rate')
  return optax.inject_hyperparams(make)(**hyper) if schedules else make(**hyper)


def _scaled(v, c, power):
  """A scheduled value with the lazy correction: betas ** c, the lr * c."""
  return v ** c if power else v * c
