"""The evaluator's classifier: a small CNN whose penultimate features give the domain FID."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from ganjax.models.layers import Dropout


class Classifier(nn.Module):
  """Convs (stride 1, then 2, 2) -> Dense `features` (the embedding) -> `num_classes` logits.

  Input images are in [-1, 1], like G's output.
  """
  num_classes: int = 10
  channels: Sequence[int] = (32, 64, 128)
  features: int = 128
  dropout: float = 0.3

  @nn.compact
  def __call__(self, x, train=False):
    """[B,H,W,C] -> (logits [B,num_classes], embedding [B,features])."""
    for i, width in enumerate(self.channels):
      x = nn.relu(nn.Conv(width, (3, 3), strides=1 if i == 0 else 2)(x))
    # MNIST's 7x7 map is flattened; larger maps are averaged (a bounded Dense).
    x = x.reshape(x.shape[0], -1) if x.shape[1] <= 8 else jnp.mean(x, axis=(1, 2))
    embedding = nn.relu(nn.Dense(self.features)(x))
    h = Dropout(self.dropout, deterministic=not train)(embedding)
    return nn.Dense(self.num_classes)(h), embedding
