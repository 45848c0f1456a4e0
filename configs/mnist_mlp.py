r"""The MLP GAN of seed 000 on MNIST: Adam(2e-4, 0.5), batch 128, real label 0.9.

python -m experiments.train --config=configs/mnist_mlp.py --workdir=/tmp/mnist_mlp \
    --config.data.dir=../shared/data/mnist
"""

import ml_collections


def get_config():
  """The seed 000 recipe."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 128
  c.num_steps = 10_000
  c.d_steps = 1                 # k D updates per G update
  c.d_batch = 'combined'        # one D update on [real; fake] (seed 000)
  c.parallel = 'jit'            # or 'pmap'
  c.steps_per_dispatch = 10     # train steps per compiled call (lax.scan)
  c.log_every = 100
  c.sample_every = 1000
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3

  c.model = ml_collections.ConfigDict()
  c.model.name = 'mlp'
  c.model.conditional = False
  c.model.latent_dim = 100
  c.model.generator = dict(hidden=(256, 512, 1024), negative_slope=0.2, first_init_std=0.02)
  c.model.discriminator = dict(hidden=(1024, 512, 256), negative_slope=0.2, dropout=0.3,
                               first_init_std=0.02)

  c.loss = ml_collections.ConfigDict()
  c.loss.generator = 'non_saturating'  # or 'minimax'
  c.loss.real_label = 0.9              # one-sided label smoothing

  adam = dict(learning_rate=2e-4, b1=0.5, b2=0.999)
  c.optimizer = ml_collections.ConfigDict(dict(g=dict(adam), d=dict(adam)))

  c.data = ml_collections.ConfigDict()
  c.data.name = 'mnist'
  c.data.dir = ''          # folder with the IDX files; empty: tfds
  c.data.split = 'train'   # 'train' (train-*) or 'test' (t10k-*)
  c.data.source = 'auto'   # 'auto' (files if data.dir else tfds), 'files', 'tfds'
  c.data.tfds_dir = ''     # tfds data_dir; empty: tfds' default
  return c
