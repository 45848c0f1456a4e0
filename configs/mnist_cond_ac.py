r"""configs/mnist_cond.py with AC-GAN's classifier on its projection D: D also predicts the
cluster id of each image (discriminator.class_head, 200 logits from the same features the
projection reads), a cross-entropy on reals in D's loss and on fakes in G's, weighted
loss.class_weight = 0.5. It pushes G towards digits the evaluator's classifier reads as
the digit asked for (label accuracy), for fewer steps in a T (627,200 more D parameters).

python -m benchmarks.quality --recipes=configs/mnist_cond.py,configs/mnist_cond_ac.py \
    --seeds=0-2 --budget=1.0 --classifier=runs/mnist_classifier --eval_every=1000 \
    --data_dir=data/mnist --data_split=test

3-seed board (AMD EPYC, 2 cores, quiet, 2026-12-07, T = 379.0 s; seeds 0-2; domain
metrics n = 5,000 every 1,000 steps, each seed's unseen floor 9.57, 10.92, 7.99):
4,545-4,975 steps in 1 T (mnist_cond: 5,490-5,780); domain FID <= 2x the floor with label
accuracy >= 0.98 on 3/3 seeds at 346 +- 30 s (mnist_cond: 2/3); best FID 15.0 +- 2.2
(1.58 +- 0.12x the floor); label accuracy 0.987 +- 0.002 (0.989, 0.986, 0.986; mnist_cond
0.982 +- 0.004; the classifier's own on unseen real digits 0.986); copying median
0.963-0.970 (unseen reals 1.02). At 4,000 steps its label accuracy is 0.985-0.986 where
mnist_cond's is 0.968-0.974.
Tried: class_weight 1.0 (seed 0): label accuracy 0.988, FID 16.8, copying median 0.960,
no better than 0.5.
"""

from configs import mnist_cond


def get_config(dataset='mnist'):
  """configs/mnist_cond.py plus D's class head (AC-GAN's class loss, weight 0.5)."""
  c = mnist_cond.get_config(dataset)
  c.model.discriminator.class_head = True
  c.loss.class_weight = 0.5
  return c
