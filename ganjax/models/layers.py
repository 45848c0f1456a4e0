"""Small layers shared by the models: activations as modules, Keras-style inits."""

import flax.linen as nn
import jax

# Keras' Dense/Conv default; Flax's own default (lecun_normal) would change training.
keras_kernel_init = nn.initializers.glorot_uniform()


def normal_init(stddev):
  """N(0, stddev) kernel initializer (the DCGAN / seed 000 first-layer init)."""
  return nn.initializers.normal(stddev)


class Activation(nn.Module):
  """An activation as a parameter-free module, so summaries can show it per layer."""
  kind: str
  negative_slope: float = 0.2

  def __call__(self, x):
    """Applies the activation elementwise; [...] -> [...]."""
    if self.kind == 'leaky_relu':
      return nn.leaky_relu(x, self.negative_slope)
    if self.kind == 'relu':
      return nn.relu(x)
    if self.kind == 'tanh':
      return jax.numpy.tanh(x)
    if self.kind == 'sigmoid':
      return nn.sigmoid(x)
    raise ValueError(f'unknown activation {self.kind!r}')

  def describe(self):
    """The short name a summary table shows, e.g. LeakyReLU_0.2."""
    names = {'leaky_relu': f'LeakyReLU_{self.negative_slope:g}', 'relu': 'ReLU',
             'tanh': 'Tanh', 'sigmoid': 'Sigmoid'}
    return names[self.kind]


def batch_norm(train, *, momentum, epsilon, axis_name):
  """BatchNorm over the batch (and, under pmap, over `axis_name`): batch statistics when
  training, running averages otherwise."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                      axis_name=axis_name)


class LabelMap(nn.Module):
  """Class label [B] -> Embedding(n, embed_dim) -> Dense(H*W) -> a [B, H, W, 1] map."""
  num_classes: int
  height: int
  width: int
  embed_dim: int = 50

  @nn.compact
  def __call__(self, labels):
    """Labels int [B] -> float [B, H, W, 1]."""
    e = nn.Embed(self.num_classes, self.embed_dim)(labels)
    e = nn.Dense(self.height * self.width, kernel_init=keras_kernel_init)(e)
    return e.reshape((labels.shape[0], self.height, self.width, 1))
