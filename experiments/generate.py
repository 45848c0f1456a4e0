r"""Generates images from a trained run: F.npz (uint8 images [N,H,W,C], labels) and F.png.

python -m experiments.generate --workdir=/tmp/mnist_mlp --num=100 --seed=0 --out=/tmp/digits
"""

import os

import numpy as np
from absl import app, flags

from ganjax import cli, run_config, sampling
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.parallel import to_host
from ganjax.experiment import Experiment

flags.DEFINE_string('workdir', None, 'A training workdir (holds config.json, checkpoints/).')
flags.DEFINE_integer('num', 100, 'Number of images.')
flags.DEFINE_integer('seed', 0, 'Latent seed: the same seed gives the same images.')
flags.DEFINE_string('out', None, 'Output path stem: writes OUT.npz and OUT.png.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest that reads back).')
flags.DEFINE_string('labels', None, "Conditional models: 'all' (one row per class) or a "
                    'comma-separated list of class names or indices, cycled over --num.')
flags.DEFINE_enum('conv_impl', None, ['auto', 'xla', 'subpixel'], 'Override the run\'s '
                  'transposed-convolution formulation (same parameters, same images).')
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


def output_stem(path):
  """OUT without a .npz/.png suffix."""
  stem, ext = os.path.splitext(path)
  return stem if ext in ('.npz', '.png') else path


@cli.user_errors
def main(argv):
  del argv
  cli.initialize_distributed()
  if not os.path.isdir(FLAGS.workdir):
    raise GanjaxError(f'--workdir={FLAGS.workdir} does not exist; train first with '
                      'python -m experiments.train --workdir=...')
  config = run_config.load(FLAGS.workdir)
  if FLAGS.conv_impl:
    config.conv_impl = FLAGS.conv_impl
  exp = Experiment(config)
  ckpt = Checkpointer(FLAGS.workdir, read_only=True)
  if not os.path.isdir(ckpt.directory) or not ckpt.steps():
    raise GanjaxError(f'no checkpoint in {ckpt.directory}; train first (or wait for the '
                      'first checkpoint_every steps)')
  state, step = ckpt.restore(exp.abstract_state(), step=FLAGS.step, set_aside=False)
  if state is None:
    raise GanjaxError(f'no checkpoint in {ckpt.directory} reads back; retrain or restore '
                      'the directory from a backup')
  labels = parse_labels(FLAGS.labels, FLAGS.num, exp.num_classes,
                        run_config.load_classes(FLAGS.workdir))
  host = to_host({'p': state.g_params, 's': state.g_batch_stats})
  z = sampling.fixed_latents(FLAGS.seed, FLAGS.num, exp.config.model.latent_dim)
  generator = exp.generator.clone(axis_name=None)
  images = sampling.generate_images(sampling.make_generate_fn(generator), host['p'],
                                    host['s'], z, labels)
  stem = output_stem(FLAGS.out)
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  extra = {} if labels is None else {'labels': labels}
  np.savez(stem + '.npz', images=images, **extra)
  # 'all': one row per class; labels are laid out class-major above.
  rows = exp.num_classes if labels is not None and FLAGS.labels in (None, 'all') else None
  sampling.save_png(sampling.grid(images, rows=rows), stem + '.png',
                    scale=max(1, 256 // (images.shape[1] * 10)))
  print(f'wrote {stem}.npz and {stem}.png: {len(images)} images from step {step}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
