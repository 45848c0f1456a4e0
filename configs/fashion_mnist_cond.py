r"""configs/mnist_cond.py's recipe on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist_cond.py --workdir=runs/fashion_cond \
    --config.data.dir=PATH_TO_FASHION_IDX --config.time_budget=7

Not tuned for Fashion-MNIST: the MNIST recipe as it is (20 k-means clusters per label).
Measured (AMD EPYC, 2 cores, 2026-12-04, quiet; T = 448 s; seeds 0-2; data and metrics as
in configs/fashion_mnist.py: the npm package's t10k split, the project's classifier with
held-out accuracy 0.877; n = 5,000, eval every 1,000 steps): ~5,660 steps in 1 T, best
domain FID within 1 T 52.6 +- 4.6 (57.7, 48.7, 51.4 against floors 11.9, 8.0, 9.4:
4.9-6.1x the floor), every class, label accuracy 0.921 +- 0.004 (real images score 0.975
on this classifier, whose training set they partly are), precision 0.86, recall 0.55;
still falling at 1 T. On the 10 labels alone (clusters_per_class = 0, same session): ~7,250
steps, best FID 58.2 +- 3.2 (61.8, 56.7, 56.1), label accuracy 0.907.
Command: python -m benchmarks.quality --recipes=configs/fashion_mnist_cond.py --seeds=0-2
--budget=1.0 --unit_seconds=448.384 --classifier=runs/fashion_classifier --eval_every=1000
--data_dir=data/fashion_mnist --data_split=test
"""

from configs import mnist_cond


def get_config():
  """The conditional MNIST recipe on fashion_mnist."""
  return mnist_cond.get_config('fashion_mnist')
