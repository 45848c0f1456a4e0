r"""Conditional SNGAN on CIFAR-10: conditional BatchNorm in G, projection D (Miyato &
Koyama 2018): the networks of StudioGAN's CIFAR-10 SNGAN.yaml (cBN + PD), trained as the
authors' code (cifar10_sngan's hinge, n_dis 5, Adam(2e-4, 0.0, 0.9) decayed to 0; StudioGAN
uses its default Adam(2e-4, 0.5, 0.999) with no decay).

python -m experiments.train --config=configs/cifar10_sngan_cond.py \
    --workdir=runs/cifar10_sngan_cond --config.data.dir=PATH_WITH/cifar-10-binary.tar.gz

Measured (2026-12-04, AMD EPYC, 2 cores): --config.time_budget=20 gives 51 G steps in 20
minutes (0.043 steps/s); blobs; domain FID 261 (floor 5.0) and label accuracy 0.11 from
configs/cifar10_classifier.py. The paper's 50,000 steps would take ~13 days here.
"""

from configs import cifar10_sngan


def get_config():
  """cifar10_sngan with per-class BN gains/biases in G and <embed(y), φ(x)> in D."""
  return cifar10_sngan.get_config(conditional=True)
