"""Model shapes, the seed 002 parameter counts, and the summary table."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mnist_mlp
from ganjax import model_summary
from ganjax.errors import GanjaxError
from ganjax.models import build_models
from ganjax.experiment import Experiment


def test_mlp_counts_match_seed_002():
  exp = Experiment(mnist_mlp.get_config())
  g = model_summary.layer_rows(exp.generator, jnp.zeros((1, 100)), None, train=False)
  d = model_summary.layer_rows(exp.discriminator, jnp.zeros((1, 28, 28, 1)), None, train=False)
  assert model_summary.totals(g) == (1_486_352, 0, 1_486_352)
  assert model_summary.totals(d) == (1_460_225, 0, 1_460_225)
  assert [r['trainable'] for r in g] == [25_856, 131_584, 525_312, 803_600]
  assert [r['activation'] for r in g] == ['LeakyReLU_0.2'] * 3 + ['Tanh']
  text = exp.summary()
  assert 'total: 2,946,577' in text and '100 -> 256' in text


def test_shapes_ranges_and_first_layer_init():
  exp = Experiment(mnist_mlp.get_config())
  state = exp.init_state()
  z = jax.random.normal(jax.random.PRNGKey(1), (5, 100))
  images = exp.generator.apply({'params': state.g_params}, z, train=False)
  assert images.shape == (5, 28, 28, 1)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  logits = exp.discriminator.apply({'params': state.d_params}, images, train=False)
  assert logits.shape == (5, 1)
  first = np.asarray(state.g_params['Dense_0']['kernel'])
  assert abs(first.std() - 0.02) < 0.002  # N(0, 0.02), as in seed 000
  second = np.asarray(state.g_params['Dense_1']['kernel'])
  limit = np.sqrt(6 / (256 + 512))  # Keras' glorot_uniform elsewhere
  assert second.max() <= limit and second.max() > 0.9 * limit


def test_dropout_active_only_in_training():
  exp = Experiment(mnist_mlp.get_config())
  state = exp.init_state()
  x = jnp.ones((4, 28, 28, 1))
  run = lambda train, k: exp.discriminator.apply({'params': state.d_params}, x, train=train,
                                                 rngs={'dropout': jax.random.PRNGKey(k)})
  np.testing.assert_array_equal(run(False, 0), run(False, 1))
  assert not np.allclose(run(True, 0), run(True, 1))


def test_unknown_model_is_a_user_error():
  c = mnist_mlp.get_config()
  c.model.name = 'mlpp'
  with pytest.raises(GanjaxError, match='unknown model.name'):
    build_models(c.model, image_shape=(28, 28, 1))


def test_dropout_rate_scale_and_determinism():
  from ganjax.models.layers import Dropout
  for shape in ((64, 32, 34), (64, 32, 33)):   # odd last axis: one word per element
    x = jnp.ones(shape)
    y = Dropout(0.3).apply({}, x, rngs={'dropout': jax.random.key(0)})
    kept = np.asarray(y) > 0
    assert abs(kept.mean() - 0.7) < 0.01                       # 70k draws: sd 0.0018
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.7, rtol=1e-6)
    again = Dropout(0.3).apply({}, x, rngs={'dropout': jax.random.key(0)})
    other = Dropout(0.3).apply({}, x, rngs={'dropout': jax.random.key(1)})
    assert np.array_equal(y, again) and not np.array_equal(y, other)
  assert np.array_equal(Dropout(0.3, deterministic=True).apply({}, x), x)
  assert not np.asarray(Dropout(1.0).apply({}, x, rngs={'dropout': jax.random.key(0)})).any()
