"""Adversarial losses on D's raw outputs (logits or critic values), chosen by loss.name.

Every loss splits D's objective into a real term and a fake term, d_loss = weight *
(real_term + fake_term), so seed 003's separate updates (one on reals, one on fakes)
minimize the two terms one at a time; relativistic losses couple real and fake and have
no such split. G's loss may read D's outputs on reals (relativistic losses do).
"""

import dataclasses

import jax
import jax.numpy as jnp

LOSSES = ('bce', 'hinge', 'wasserstein', 'least_squares', 'relativistic', 'logistic')
GENERATOR_LOSSES = ('non_saturating', 'minimax')
RELATIVISTIC = ('average', 'paired')


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """The loss.* fields the step uses (hashable: the step closes over it)."""
  name: str = 'bce'
  generator: str = 'non_saturating'  # bce: non_saturating | minimax
  real_label: float = 0.9            # bce: D's target for reals (one-sided smoothing)
  relativistic: str = 'average'      # RaGAN (vs the mean of the other side) | RpGAN (pairs)
  ls_a: float = 0.0                  # least_squares: D's target for fakes
  ls_b: float = 1.0                  # least_squares: D's target for reals
  ls_c: float = 1.0                  # least_squares: G's target for fakes
  class_weight: float = 1.0          # AC-GAN (D conditioning 'acgan'): its class loss weight

  @classmethod
  def from_config(cls, loss):
    """From a config's `loss` ConfigDict (fields it lacks keep their defaults)."""
    names = [f.name for f in dataclasses.fields(cls)]
    return cls(**{k: loss[k] for k in names if k in loss})

  @property
  def separable(self):
    """Whether D's loss splits into a real and a fake term (d_batch='separate')."""
    return self.name != 'relativistic'

  @property
  def sigmoid_outputs(self):
    """Whether D's outputs are logits of a probability (sigmoid means are logged)."""
    return self.name in ('bce', 'relativistic', 'logistic')

  @property
  def midpoint(self):
    """The D output between 'real' and 'fake' (ADA's sign statistic is taken about it)."""
    return 0.5 * (self.ls_a + self.ls_b) if self.name == 'least_squares' else 0.0


def bce_with_logits(logits, target):
  """Elementwise binary cross-entropy of sigmoid(logits) against target; [...] -> [...]."""
  return target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits)


def d_real_term(cfg, real):
  """D's loss on its outputs for reals [B,1] -> scalar.

  bce: E[-t log σ(D(x)) - (1-t) log(1-σ(D(x)))], t = real_label; hinge: E[relu(1 - D(x))];
  wasserstein: -E[D(x)]; least_squares: E[(D(x) - b)²]; logistic (StyleGAN2's):
  E[softplus(-D(x))], with weight 1 (bce's Keras mean over [real; fake] halves it).
  """
  if cfg.name == 'bce':
    return jnp.mean(bce_with_logits(real, cfg.real_label))
  if cfg.name == 'hinge':
    return jnp.mean(jax.nn.relu(1.0 - real))
  if cfg.name == 'wasserstein':
    return -jnp.mean(real)
  if cfg.name == 'least_squares':
    return jnp.mean(jnp.square(real - cfg.ls_b))
  if cfg.name == 'logistic':
    return jnp.mean(jax.nn.softplus(-real))
  raise ValueError(f'loss {cfg.name!r} has no separate real term; use d_batch=combined')


def d_fake_term(cfg, fake):
  """D's loss on its outputs for fakes [B,1] -> scalar.

  bce: E[-log(1 - σ(D(G(z))))]; hinge: E[relu(1 + D(G(z)))]; wasserstein: E[D(G(z))];
  least_squares: E[(D(G(z)) - a)²]; logistic: E[softplus(D(G(z)))].
  """
  if cfg.name == 'bce':
    return jnp.mean(bce_with_logits(fake, 0.0))
  if cfg.name == 'hinge':
    return jnp.mean(jax.nn.relu(1.0 + fake))
  if cfg.name == 'wasserstein':
    return jnp.mean(fake)
  if cfg.name == 'least_squares':
    return jnp.mean(jnp.square(fake - cfg.ls_a))
  if cfg.name == 'logistic':
    return jnp.mean(jax.nn.softplus(fake))
  raise ValueError(f'loss {cfg.name!r} has no separate fake term; use d_batch=combined')


def d_term_weight(cfg):
  """d_loss = weight * (real term + fake term): 1/2 for bce (the mean over [real; fake],
  as Keras computes it) and least squares (the LSGAN paper's 1/2), else 1."""
  return 0.5 if cfg.name in ('bce', 'least_squares') else 1.0


def d_loss(cfg, *, real, fake, mean=jnp.mean):
  """D's loss on its outputs for reals [B,1] and fakes [B',1] -> scalar.

  relativistic average (RaGAN): ½ (BCE(D(x) - E D(G(z)), 1) + BCE(D(G(z)) - E D(x), 0));
  relativistic paired (RpGAN): BCE(D(x) - D(G(z)), 1) over pairs (B = B'); the others
  weight * (real term + fake term). `mean` takes RaGAN's centres E D(·) (under pmap: over
  the global batch).
  """
  if cfg.name == 'relativistic':
    if cfg.relativistic == 'paired':
      return jnp.mean(bce_with_logits(real - fake, 1.0))
    return 0.5 * (jnp.mean(bce_with_logits(real - mean(fake), 1.0)) +
                  jnp.mean(bce_with_logits(fake - mean(real), 0.0)))
  return d_term_weight(cfg) * (d_real_term(cfg, real) + d_fake_term(cfg, fake))


def g_loss(cfg, *, fake, real=None, mean=jnp.mean):
  """G's loss on D's outputs for fakes [B,1] (and reals [B,1]: relativistic) -> scalar.

  bce non_saturating: -E log σ(D(G(z))); bce minimax: E log(1 - σ(D(G(z)))) (Goodfellow
  et al.'s original objective, which G minimizes); hinge and wasserstein: -E D(G(z));
  least_squares: ½ E[(D(G(z)) - c)²]; logistic (StyleGAN2's non-saturating):
  E[softplus(-D(G(z)))]; relativistic: D's loss with the roles swapped
  (`mean` as in d_loss).
  """
  if cfg.name == 'bce':
    if cfg.generator == 'non_saturating':
      return jnp.mean(bce_with_logits(fake, 1.0))
    if cfg.generator == 'minimax':
      return -jnp.mean(bce_with_logits(fake, 0.0))
    raise ValueError(f'unknown generator loss {cfg.generator!r}; use one of {GENERATOR_LOSSES}')
  if cfg.name in ('hinge', 'wasserstein'):
    return -jnp.mean(fake)
  if cfg.name == 'logistic':
    return jnp.mean(jax.nn.softplus(-fake))
  if cfg.name == 'least_squares':
    return 0.5 * jnp.mean(jnp.square(fake - cfg.ls_c))
  if cfg.name == 'relativistic':
    if cfg.relativistic == 'paired':
      return jnp.mean(bce_with_logits(fake - real, 1.0))
    return 0.5 * (jnp.mean(bce_with_logits(fake - mean(real), 1.0)) +
                  jnp.mean(bce_with_logits(real - mean(fake), 0.0)))
  raise ValueError(f'unknown loss {cfg.name!r}; use one of {LOSSES}')


def class_loss(logits, labels, mean=jnp.mean):
  """AC-GAN's auxiliary loss: cross-entropy of class logits [B,n] at int labels [B] ->
  scalar, E[-log softmax(logits)_y] (`mean` as in d_loss: the global batch under pmap)."""
  log_p = jax.nn.log_softmax(logits.astype(jnp.float32))
  return mean(-jnp.take_along_axis(log_p, labels[:, None], axis=1))


def d_metrics(cfg, *, real, fake):
  """What the logs show of D's outputs: raw means d_real / d_fake, and for logit losses
  the sigmoid means d_real_prob / d_fake_prob and d_acc (Keras' binary accuracy: reals
  scored > 0.5, fakes ≤ 0.5)."""
  out = {'d_real': jnp.mean(real), 'd_fake': jnp.mean(fake)}
  if cfg.sigmoid_outputs:
    out['d_real_prob'] = jnp.mean(jax.nn.sigmoid(real))
    out['d_fake_prob'] = jnp.mean(jax.nn.sigmoid(fake))
  if cfg.name == 'bce':
    out['d_acc'] = 0.5 * (jnp.mean(real > 0) + jnp.mean(fake <= 0))
  return out
