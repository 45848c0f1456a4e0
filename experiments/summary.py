r"""Prints the per-layer G and D tables and the parameter counts of a config; needs no data.

python -m experiments.summary --config=configs/mnist_mlp.py
"""

from absl import app, flags
from ml_collections import config_flags

from ganjax import cli
from ganjax.experiment import Experiment

config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.mark_flags_as_required(['config'])
FLAGS = flags.FLAGS


@cli.user_errors
def main(argv):
  del argv
  print(Experiment(FLAGS.config).summary())


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
