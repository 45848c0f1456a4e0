"""Balanced k-means pseudo-labels (data.clusters, and data.clusters_per_class within the
labels): sizes, recovery, determinism, config."""

import jax
import numpy as np
import pytest

from conftest import MNIST_DIR
from ganjax import clustering, input_pipeline, run_config, sampling
from ganjax.errors import GanjaxError
from ganjax.experiment import Experiment


def test_balanced_assign_sizes_and_nearest_when_room():
  dist = np.random.default_rng(0).random((103, 7))
  sizes = np.bincount(clustering.balanced_assign(dist), minlength=7)
  assert sizes.sum() == 103 and set(sizes) == {14, 15}
  # Capacity 2 each; points 0-3 all nearest to cluster 0: the two closest stay there.
  dist = np.array([[0.1, 5, 9], [0.2, 5, 9], [0.3, 1, 9], [0.4, 9, 1], [9, 0.5, 9],
                   [9, 9, 0.5]])
  np.testing.assert_array_equal(clustering.balanced_assign(dist), [0, 0, 1, 2, 1, 2])


def _same_partition(a, b):
  """Whether label arrays a and b group the points the same way (up to renaming)."""
  pairs = set(zip(a.tolist(), b.tolist()))
  return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_separated_blobs_deterministically():
  rng = np.random.default_rng(1)
  centers = np.array([[0, 0], [6, 6], [0, 6], [6, 0]], np.float32)
  truth = np.repeat(np.arange(4), 25)
  x = centers[truth] + rng.normal(0, 0.3, (100, 2))
  for seed in (0, 1):
    got = clustering.balanced_kmeans(x, 4, seed=seed)
    assert _same_partition(got, truth)
    np.testing.assert_array_equal(got, clustering.balanced_kmeans(x, 4, seed=seed))
  with pytest.raises(ValueError, match='cannot make 101 clusters'):
    clustering.balanced_kmeans(x, 101)


def test_kmeans_of_digits_groups_digits():
  digits = input_pipeline.load_idx_dataset('mnist', MNIST_DIR, 'test')
  x = digits.images[:2000].reshape(2000, -1) / 255.0
  ids = clustering.balanced_kmeans(x, 20)
  assert np.bincount(ids).min() == np.bincount(ids).max() == 100
  purity = sum(np.bincount(digits.labels[:2000][ids == k]).max() for k in range(20)) / 2000
  # Random balanced groups of these digits score ~0.15; pixel k-means ~0.6 (0.635 on 10k).
  assert purity > 0.5


def _clusters_config(k, field='clusters'):
  """configs/mnist.py (data.clusters) or configs/mnist_cond.py (data.clusters_per_class)
  with that field set to k, on the shared digits."""
  from configs import mnist, mnist_cond  # pylint: disable=g-import-not-at-top
  c = (mnist if field == 'clusters' else mnist_cond).get_config()
  c.data.dir, c.data.split = MNIST_DIR, 'test'
  c.data[field] = k
  return c


def test_experiment_conditions_on_clusters():
  exp = Experiment(_clusters_config(12), devices=jax.devices()[:1])
  assert exp.num_classes == 12
  data = exp.load_dataset()
  assert data.class_names == tuple(f'cluster_{j}' for j in range(12))
  assert set(np.bincount(data.labels)) <= {833, 834} and data.labels.dtype == np.int32
  np.testing.assert_array_equal(data.labels, exp.load_dataset().labels)


@pytest.mark.parametrize('field, change, match', [
    ('clusters', dict(clusters=-1), 'clusters must be an integer >= 0'),
    ('clusters', dict(conditional=False), 'set --config.model.conditional=True'),
    ('clusters', dict(name='folder'), 'image folders stream'),
    ('clusters_per_class', dict(clusters_per_class=-2), 'clusters_per_class must be an '
     'integer >= 0'),
    ('clusters_per_class', dict(clusters=5), 'exclude each other'),
    ('clusters_per_class', dict(conditional=False), 'set --config.model.conditional=True'),
    ('clusters_per_class', dict(name='folder'), 'image folders stream'),
])
def test_bad_cluster_configs(field, change, match):
  c = _clusters_config(4, field)
  for key, value in change.items():
    (c.model if key == 'conditional' else c.data)[key] = value
  with pytest.raises(GanjaxError, match=match):
    run_config.validate(c)


def test_experiment_conditions_on_clusters_within_classes():
  exp = Experiment(_clusters_config(3, 'clusters_per_class'), devices=jax.devices()[:1])
  assert (exp.num_classes, exp.label_classes) == (30, 10)
  data = exp.load_dataset()
  digits = input_pipeline.load_dataset(_clusters_config(3, 'clusters_per_class').data, True)
  # the labels (and class names) stay the digits; the conditions refine them
  np.testing.assert_array_equal(data.labels, digits.labels)
  assert data.class_names == digits.class_names
  np.testing.assert_array_equal(data.conditions // 3, data.labels)
  assert data.conditions.dtype == np.int32 and data.condition_ids is data.conditions
  for c in range(10):
    sizes = np.bincount(data.conditions[data.labels == c] % 3, minlength=3)
    assert sizes.max() - sizes.min() <= 1
  np.testing.assert_array_equal(data.conditions, exp.load_dataset().conditions)


def test_condition_ids_pick_a_class_cluster_by_the_latent():
  z = jax.random.normal(jax.random.key(0), (40_000, 8))
  labels = np.arange(40_000) % 10
  ids = sampling.condition_ids(labels, z, 4)
  np.testing.assert_array_equal(ids // 4, labels)
  share = np.bincount(ids % 4, minlength=4) / 40_000
  np.testing.assert_allclose(share, 0.25, atol=0.01)  # 4 sigma ~ 0.0087
  # the pick follows the latent, not the position: the same z picks the same cluster
  np.testing.assert_array_equal(sampling.condition_ids(labels[::-1], z[::-1], 4) % 4,
                                (ids % 4)[::-1])
  assert sampling.condition_ids(labels, z, 0) is labels
  assert sampling.condition_ids(None, z, 4) is None


def test_too_few_images_for_the_clusters_per_class_is_one_line():
  exp = Experiment(_clusters_config(1200, 'clusters_per_class'), devices=jax.devices()[:1])
  with pytest.raises(GanjaxError, match='fewer than data.clusters_per_class=1200'):
    exp.load_dataset()
