r"""Seed 001's Keras-GAN MLP (eriklindernoren/Keras-GAN gan.py) on MNIST.

python -m experiments.train --config=configs/mnist_keras_gan.py --workdir=runs/keras_gan \
    --config.data.dir=../shared/data/mnist --config.data.split=test

G: Dense 256, 512, 1024, each LeakyReLU(0.2) then BatchNormalization(momentum=0.8), Dense
784 tanh; D: Dense 512, LeakyReLU 0.2, Dense 256, LeakyReLU 0.2, Dense 1 sigmoid (a logit
here, inside the BCE); Keras' glorot-uniform init; Adam(0.0002, 0.5) for both. Its loop:
batch 32; a half batch of 16 reals drawn with replacement (np.random.randint), then two
separate D updates, on the reals (target 1) and on 16 fakes (target 0); one G update on
32 latents; 5x5 grids every 200 iterations for 30,000 iterations; D's accuracy logged
(d_acc).

fakes_for_d='inference' is Keras' `generator.predict`: D's fakes come from G with
BatchNorm's moving averages, while the combined model trains G with batch statistics.
What it changes: D learns to reject G's inference-mode samples (what the grids show),
not the train-mode samples G is optimizing; the two differ most early on, while the
moving averages (momentum 0.8, about the last 5 batches) lag G's changing activations,
and at step 0, where they are still 0 and 1. --config.fakes_for_d=train trains D on
G's train-mode fakes instead (the tutorials' other loops).

Not reproduced: Keras-GAN shares one Adam instance between D and the combined model,
so its bias-correction step counter counts D and G updates together (3 per iteration),
and Keras' Adam epsilon is 1e-7 (optax: 1e-8); both matter only in the first steps.
"""

from configs import common


def get_config():
  """Seed 001: G 1,493,520 parameters (3,584 non-trainable), D 533,505 (Keras counts)."""
  model = dict(name='mlp', conditional=False, latent_dim=100,
               generator=dict(hidden=(256, 512, 1024), negative_slope=0.2, first_init_std=0.0,
                              batch_norm=True, bn_momentum=0.8, bn_epsilon=1e-3),
               discriminator=dict(hidden=(512, 256), negative_slope=0.2, dropout=0.0,
                                  first_init_std=0.0))
  c = common.base(model=model, data_config=common.data('mnist', sampling='replacement'),
                  optimizer=common.adam(2e-4, b1=0.5))
  c.batch_size = 32
  c.d_batch = 'separate'
  c.fakes_for_d = 'inference'
  c.loss.real_label = 1.0
  c.num_steps = 30_000
  c.sample_every = 200
  c.sample_grid = 5
  c.log_every = 200
  return c
