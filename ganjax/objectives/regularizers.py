"""D's regularizers as pure functions: gradient penalties (WGAN-GP, R1, R2), LeCam, and
WGAN's weight clipping; and G's mode-seeking term (MSGAN).

`d_fn` is D as a function of its input images, x [B,H,W,C] -> outputs [B,1], with its
params, labels and dropout key closed over; the penalties differentiate it w.r.t. x
(and the step then w.r.t. D's params: a gradient of a gradient). Per-example gradients
come from the gradient of sum_i D(x_i), exact for any D that scores examples
independently (no BatchNorm in D, the usual setting for these penalties).
"""

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class RegConfig:
  """The reg.* fields the step uses, plus WGAN's loss.clip (hashable)."""
  gp: float = 0.0               # λ of the gradient penalty (WGAN-GP: 10)
  gp_one_sided: bool = False
  r1: float = 0.0               # γ of R1 on reals
  r2: float = 0.0               # γ of R2 on fakes
  r1_every: int = 1             # lazy R1/R2: every k D updates, scaled by k
  # k > 1: 'own_step': an update of their own, D's lr * c and betas ** c, c = k / (k + 1)
  # (StyleGAN2); 'fused': added to that D update's loss, the optimizer as configured.
  lazy: str = 'own_step'
  lecam: float = 0.0            # λ of LeCam's penalty
  lecam_decay: float = 0.99     # the decay of its EMAs of D's outputs
  lecam_start: int = 1000       # G steps before the penalty applies (EMAs track the last batch)
  clip: float = 0.0             # > 0: clip D's params to [-clip, clip] after each update
  # StyleGAN2's path length regularization of G (its Greg phase): an update of G's own
  # every pl_every G updates (G's lr * c, betas ** c), on batch / pl_batch_shrink fakes.
  pl_weight: float = 0.0
  pl_every: int = 4
  pl_decay: float = 0.01        # the pl_mean EMA's rate
  pl_batch_shrink: int = 2
  # MSGAN's mode-seeking term in G's loss (Mao et al. 2019), its weight: the fakes come in
  # pairs of rows (2i, 2i+1) with one label and two latents, and G is pushed apart on them.
  mode_seeking: float = 0.0

  @classmethod
  def from_config(cls, reg, clip=0.0):
    """From a config's `reg` ConfigDict and loss.clip."""
    names = [f.name for f in dataclasses.fields(cls) if f.name != 'clip']
    return cls(**{k: reg[k] for k in names if k in reg}, clip=float(clip))


def input_grad_sq_norms(d_fn, x):
  """||∇_x D(x_i)||² per example: [B, ...] -> [B]."""
  grads = jax.grad(lambda x: jnp.sum(d_fn(x)))(x)
  return jnp.sum(jnp.square(grads).reshape(x.shape[0], -1), axis=1)


def _safe_sqrt(v):
  """sqrt with a zero (not NaN) gradient at 0, as PyTorch's norm has."""
  positive = v > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, v, 1.0)), 0.0)


def interpolates(real, fake, eps):
  """x̂ = ε x + (1 - ε) G(z), one ε per example: [B,...], [B,...], [B] -> [B,...]."""
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return eps * real + (1.0 - eps) * fake


def gradient_penalty(d_fn, x_hat, *, weight, one_sided=False):
  """WGAN-GP: λ E[(||∇D(x̂)|| - 1)²]; one-sided: λ E[max(0, ||∇D(x̂)|| - 1)²]."""
  excess = _safe_sqrt(input_grad_sq_norms(d_fn, x_hat)) - 1.0
  if one_sided:
    excess = jax.nn.relu(excess)
  return weight * jnp.mean(jnp.square(excess))


def r1_penalty(d_fn, x, *, gamma):
  """R1 (on reals) or R2 (on fakes): γ/2 E||∇D(x)||²."""
  return 0.5 * gamma * jnp.mean(input_grad_sq_norms(d_fn, x))


def lecam_penalty(*, real=None, fake=None, ema_real, ema_fake, weight):
  """LeCam (Tseng et al. 2021, as the authors' code): λ (E[relu(D(x) - α_F)²] +
  E[relu(α_R - D(G(z)))²]), α_R / α_F the EMAs of D's mean output on reals / fakes;
  a half whose outputs are None is left out (seed 003's separate updates)."""
  total = jnp.zeros((), jnp.float32)
  if real is not None:
    total += jnp.mean(jnp.square(jax.nn.relu(real - ema_fake)))
  if fake is not None:
    total += jnp.mean(jnp.square(jax.nn.relu(ema_real - fake)))
  return weight * total


def mode_seeking_penalty(fake, z, *, weight, mean=jnp.mean, eps=1e-5):
  """MSGAN's term (its official code, lz = mean|G(z1)-G(z2)| / mean|z1-z2|, weight / (lz
  + eps)) on the pairs of rows (2i, 2i+1): fake [B,...], z [B, latent] -> scalar."""
  lz = mean(jnp.abs(fake[0::2] - fake[1::2])) / mean(jnp.abs(z[0::2] - z[1::2]))
  return weight / (lz + eps)


def ema(average, value, decay):
  """decay * average + (1 - decay) * value."""
  return decay * average + (1.0 - decay) * value


def clip_params(params, clip):
  """Every leaf clipped to [-clip, clip] (WGAN's weight clipping, all of D's params)."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)
