"""Which library XLA:CPU runs convolutions on: set by the entry points, read by the models.

XLA:CPU (jax 0.10) runs convolutions through YNNPACK by default; its own Eigen
convolutions run the DCGAN training steps 1.2-1.5x faster on a 2-core Zen 4 (mnist_dcgan
340 -> 260 ms, cifar10_dcgan 560 -> 420 ms, folder_dcgan64 3.1 -> 2.0 s: benchmarks/
dcgan.py --cpu_convs) and differentiate the sub-pixel layers' small-window convolutions
well, where YNNPACK's kernel gradient of those is slow. Matmuls stay on YNNPACK.
"""

import os

_YNN_TYPES = 'xla_cpu_experimental_ynn_fusion_type'
EIGEN_CONVS = f'--{_YNN_TYPES}=-individual_convolution'


def prefer_eigen_convolutions(environ=os.environ):
  """Adds EIGEN_CONVS to XLA_FLAGS unless they already choose YNN fusion types. Takes
  effect only before JAX starts its CPU backend (the first array or computation)."""
  current = environ.get('XLA_FLAGS', '')
  if _YNN_TYPES not in current:
    environ['XLA_FLAGS'] = f'{current} {EIGEN_CONVS}'.strip()


def eigen_convolutions(environ=os.environ):
  """Whether XLA_FLAGS moves XLA:CPU's convolutions off YNNPACK (onto Eigen)."""
  return '-individual_convolution' in environ.get('XLA_FLAGS', '')
