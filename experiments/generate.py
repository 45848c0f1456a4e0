r"""Generates images from a trained run: F.npz (uint8 images [N,H,W,C]; a conditional G's
class `labels`, or a data.clusters G's k-means `clusters`) and F.png.

python -m experiments.generate --workdir=/tmp/mnist_mlp --num=100 --seed=0 --out=/tmp/digits
"""

import os

import numpy as np
from absl import app, flags

from ganjax import cli, figures, inference, sampling
from ganjax.errors import GanjaxError

flags.DEFINE_string('workdir', None, 'A training workdir (holds config.json, checkpoints/).')
flags.DEFINE_integer('num', 100, 'Number of images.')
flags.DEFINE_integer('seed', 0, 'Latent seed: the same seed gives the same images.')
flags.DEFINE_string('out', None, 'Output path stem: writes OUT.npz and OUT.png.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest that reads back).')
flags.DEFINE_string('labels', None, "Conditional models: 'all' (one row per class) or a "
                    'comma-separated list of class names or indices, cycled over --num. A data.clusters '
                    'model draws a balanced random mix of its clusters by default, saved as '
                    'clusters (never labels, which are classes).')
flags.DEFINE_enum('conv_impl', None, ['auto', 'xla', 'subpixel'], 'Override the run\'s '
                  'transposed-convolution formulation (same parameters, same images).')
flags.DEFINE_bool('raw', False, 'Sample with the raw G weights even if the run keeps an EMA.')
flags.DEFINE_float('truncation', None, 'Truncation psi > 0: latents from N(0, 1) truncated to '
                   '[-psi, psi] (resampled outside). Default: no truncation.')
flags.DEFINE_string('denoise', None, 'A denoising autoencoder workdir (configs/mnist_dae.py): '
                    'G\'s samples are passed through it.')
flags.mark_flags_as_required(['workdir', 'out'])
FLAGS = flags.FLAGS


def parse_labels(spec, num, num_classes, class_names=()):
  """Label array [num] for --labels (names or indices), or None for unconditional models."""
  if not num_classes:
    if spec:
      raise GanjaxError('--labels is only for conditional models; this run is unconditional')
    return None
  if spec in (None, 'all'):
    return np.repeat(np.arange(num_classes), -(-num // num_classes))[:num].astype(np.int32)
  names = {name: i for i, name in enumerate(class_names)}
  wanted = []
  for item in spec.split(','):
    item = item.strip()
    if item in names:
      wanted.append(names[item])
    elif item.isdigit() and int(item) < num_classes:
      wanted.append(int(item))
    else:
      known = ', '.join(class_names) if class_names else f'0..{num_classes - 1}'
      raise GanjaxError(f'--labels: unknown class {item!r}; classes are {known}')
  return np.resize(np.array(wanted, np.int32), num)


@cli.user_errors
def main(argv):
  del argv
  cli.initialize_distributed()
  gen = inference.Generator(FLAGS.workdir, step=FLAGS.step, raw=FLAGS.raw,
                            conv_impl=FLAGS.conv_impl)
  denoiser = inference.load_denoiser(FLAGS.denoise)
  mixed = gen.pseudo_labels and FLAGS.labels is None
  labels = (sampling.mixed_labels(FLAGS.seed, FLAGS.num, gen.num_classes) if mixed else
            parse_labels(FLAGS.labels, FLAGS.num, gen.num_classes, gen.class_names))
  z = inference.truncated_latents(FLAGS.seed, FLAGS.num, gen.latent_dim, FLAGS.truncation)
  images = gen.images(z, labels)
  if denoiser is not None:
    images = denoiser(images)
  stem = figures.output_stem(FLAGS.out)
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  extra = {} if labels is None else {gen.label_key: labels}
  np.savez(stem + '.npz', images=images, **extra)
  # 'all': one row per class; labels are laid out class-major above.
  rows = None if mixed or labels is None or FLAGS.labels not in (None, 'all') else gen.num_classes
  sampling.save_png(sampling.grid(images, rows=rows), stem + '.png',
                    scale=max(1, 256 // (images.shape[1] * 10)))
  how = ', '.join(['EMA weights' if gen.uses_ema else 'raw weights']
                  + ([f'truncation {FLAGS.truncation:g}'] if FLAGS.truncation else [])
                  + ([f'denoised by {FLAGS.denoise}'] if denoiser else []))
  print(f'wrote {stem}.npz and {stem}.png: {len(images)} images from step {gen.step} ({how})')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
