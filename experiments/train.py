r"""Trains a GAN (or, by config.task, the evaluator's classifier or a denoising
autoencoder): the run lives in --workdir, and rerunning the command resumes it.

python -m experiments.train --config=configs/mnist_mlp.py --workdir=/tmp/mnist_mlp \
    --config.data.dir=../shared/data/mnist
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from ganjax import cli, supervised, train
from ganjax.errors import GanjaxError

config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples and metrics.')
flags.DEFINE_bool('no_lock', False, 'Do not lock the workdir (only for a filesystem without '
                  'working file locks, with one writer guaranteed otherwise).')
flags.mark_flags_as_required(['config', 'workdir'])
FLAGS = flags.FLAGS


@cli.user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.initialize_distributed()
  task = FLAGS.config.get('task', 'gan')
  if task == 'gan':
    try:
      train.train_and_evaluate(FLAGS.config, FLAGS.workdir, lock=not FLAGS.no_lock)
    except train.Stopped as e:
      # saved and logged; not done, so not 0: schedulers requeue, `train && x` stops
      sys.exit(128 + e.signum)
  elif task in supervised.TASKS:
    supervised.train_and_evaluate(FLAGS.config, FLAGS.workdir, lock=not FLAGS.no_lock)
  else:
    raise GanjaxError(f"unknown --config.task={task!r}; use 'gan' or one of {supervised.TASKS}")


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
