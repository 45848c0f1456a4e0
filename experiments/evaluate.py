r"""Scores a trained GAN's samples: FID, KID, precision/recall (and domain extras), with n
and the real-vs-real floor. Writes WORKDIR/eval/<name>.json and prints a table.

python -m experiments.evaluate --workdir=runs/mnist_dcgan --classifier=runs/mnist_classifier
python -m experiments.evaluate --workdir=runs/cifar10_dcgan \
    --inception_weights=weights/weights-inception-2015-12-05-6726825d.pth
"""

import json
import os

import numpy as np
from absl import app, flags

from ganjax import cli, evaluation, inference
from ganjax.errors import GanjaxError

flags.DEFINE_string('workdir', None, 'A GAN training workdir.')
flags.DEFINE_integer('num', 5000, 'Generated images (and reference / held-out real ones, each).')
flags.DEFINE_integer('seed', 0, 'Latent seed of the generated images.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest that reads back).')
flags.DEFINE_enum('features', 'auto', ['auto', 'domain', 'inception'], "Feature space; auto: "
                  "'domain' for MNIST / Fashion-MNIST, 'inception' otherwise.")
flags.DEFINE_string('classifier', None, 'Domain space: a configs/mnist_classifier.py workdir '
                    '(default: the run\'s config.eval.classifier).')
flags.DEFINE_string('inception_weights', None, 'Inception space: the pt_inception-2015-12-05 '
                    'weights file (default: the run\'s config.eval.inception_weights).')
flags.DEFINE_enum('unseen_split', None, ['auto', 'none', 'train', 'test'], 'Real images '
                  'never trained on, for the floor and the copying test (default: the run\'s '
                  'config.eval.unseen_split; auto: data.dir\'s other split if there).')
flags.DEFINE_bool('raw', False, 'Score the raw G weights even if the run keeps an EMA.')
flags.DEFINE_float('truncation', None, 'Truncation psi > 0 of the latents (default: none).')
flags.DEFINE_string('denoise', None, 'A DAE workdir: score G\'s samples after denoising.')
flags.DEFINE_string('name', None, 'Result name (default: from step and options).')
flags.mark_flags_as_required(['workdir'])
FLAGS = flags.FLAGS


def asked_labels(num, num_classes):
  """Balanced labels [num] for a conditional G (class i*num/K .. ), else None."""
  return None if not num_classes else (np.arange(num) % num_classes).astype(np.int32)


@cli.user_errors
def main(argv):
  del argv
  cli.initialize_distributed()
  gen = inference.Generator(FLAGS.workdir, step=FLAGS.step, raw=FLAGS.raw)
  ev = gen.config.get('eval', {})
  space = evaluation.feature_space(
      FLAGS.features, gen.config.data.name,
      classifier=FLAGS.classifier or ev.get('classifier', ''),
      inception_weights=FLAGS.inception_weights or ev.get('inception_weights', ''),
      cache_dir=evaluation.feature_cache_dir(gen.config.data))
  denoiser = inference.load_denoiser(FLAGS.denoise)
  ref = evaluation.load_reference(gen.config.data, FLAGS.num, seed=gen.config.seed,
                                  unseen_split=FLAGS.unseen_split or ev.get('unseen_split',
                                                                            'auto'))
  if ref.n < FLAGS.num:
    print(f'note: the data holds too few usable real images for {FLAGS.num}: n = {ref.n}')
  n = ref.n
  labels = asked_labels(n, gen.num_classes)
  images = gen.images(inference.truncated_latents(FLAGS.seed, n, gen.latent_dim,
                                                  FLAGS.truncation), labels)
  if denoiser is not None:
    images = denoiser(images)
  # cluster ids (data.clusters) are not the classifier's classes: no label accuracy
  result = evaluation.evaluate(space, ref, images, None if gen.pseudo_labels else labels)
  options = {'step': gen.step, 'weights': 'ema' if gen.uses_ema else 'raw',
             'truncation': FLAGS.truncation, 'denoise': FLAGS.denoise, 'seed': FLAGS.seed}
  result.update(options)
  parts = [f'step{gen.step}', options['weights']]
  parts += [f'trunc{FLAGS.truncation:g}'] if FLAGS.truncation else []
  parts += ['denoised'] if FLAGS.denoise else []
  name = FLAGS.name or '_'.join(parts)
  path = os.path.join(FLAGS.workdir, 'eval', f'{name}.json')
  if not name.replace('_', '').replace('.', '').replace('-', '').isalnum():
    raise GanjaxError(f'--name={name!r}: use letters, digits, _ . - only')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.tmp', 'w') as f:
    json.dump(result, f, indent=2)
  os.replace(path + '.tmp', path)
  print(evaluation.format_table(result))
  print(f'step {gen.step}, {options["weights"]} weights'
        + (f', truncation {FLAGS.truncation:g}' if FLAGS.truncation else '')
        + (f', denoised by {FLAGS.denoise}' if FLAGS.denoise else '') + f'; wrote {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
