"""GAN losses on logits: the sigmoid lives here, in the numerically stable BCE."""

import jax
import jax.numpy as jnp

GENERATOR_LOSSES = ('non_saturating', 'minimax')


def bce_with_logits(logits, target):
  """Elementwise binary cross-entropy of sigmoid(logits) against target; [...] -> [...]."""
  return target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits)


def discriminator_loss(*, real_logits, fake_logits, real_label):
  """Mean BCE over the concatenation [real; fake]; real target real_label, fake 0."""
  real = bce_with_logits(real_logits, real_label)
  fake = bce_with_logits(fake_logits, 0.0)
  return (jnp.sum(real) + jnp.sum(fake)) / (real.size + fake.size)


def discriminator_real_loss(*, real_logits, real_label):
  """Mean BCE of real logits [B,1] against real_label (the 'separate' D update)."""
  return jnp.mean(bce_with_logits(real_logits, real_label))


def discriminator_fake_loss(*, fake_logits):
  """Mean BCE of fake logits [B,1] against 0 (the 'separate' D update)."""
  return jnp.mean(bce_with_logits(fake_logits, 0.0))


def generator_loss(*, fake_logits, kind):
  """G's loss on D's logits for G(z), [B,1] -> scalar.

  non_saturating: -log D(G(z)); minimax: log(1 - D(G(z))) (Goodfellow et al.'s
  original objective, which G minimizes).
  """
  if kind == 'non_saturating':
    return jnp.mean(bce_with_logits(fake_logits, 1.0))
  if kind == 'minimax':
    return -jnp.mean(bce_with_logits(fake_logits, 0.0))
  raise ValueError(f'unknown generator loss {kind!r}; use one of {GENERATOR_LOSSES}')
