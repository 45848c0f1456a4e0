r"""Trains a seeded sweep: every grid point x seed in its own workdir under --workdir, then
writes W/results.csv and W/results.md. Rerunning skips finished points and resumes
partial ones.

python -m experiments.sweep --config=configs/mnist_mlp.py --workdir=runs/sweep \
    --seeds=0-3 --grid=loss.generator=minimax,non_saturating --grid=d_steps=1,2 \
    --config.data.dir=../shared/data/mnist --config.data.split=test
"""

import json
import os
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from ganjax import cli, report, sweep, train, vectorized
from ganjax.errors import GanjaxError

config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Sweep root: one workdir per point below it.')
flags.DEFINE_string('seeds', '', "Seeds: a range '0-7' or a list '1,4,9' (default: the "
                    "config's seed).")
flags.DEFINE_multi_string('grid', [], "A grid axis 'FIELD=V1,V2' (repeatable; the points "
                          "are the cartesian product). Default: the config's get_sweep().")
flags.DEFINE_bool('report', False, 'Train nothing: only (re)write results.csv, results.md and the '
                  'report pages from the points.')
flags.DEFINE_bool('no_lock', False, 'Do not lock the points\' workdirs (see experiments.train).')
flags.DEFINE_bool('vectorize', False, 'Train all seeds of a grid point in one jitted program '
                  '(vmap over stacked states); see docs/scaling.md for when it pays.')
flags.mark_flags_as_required(['config', 'workdir'])
FLAGS = flags.FLAGS


def plan(config):
  """[(overrides, seed), ...] from --grid (or get_sweep()) and --seeds, grid-major."""
  seeds = sweep.parse_seeds(FLAGS.seeds, config.seed)
  if FLAGS.grid:
    points = sweep.grid_points(sweep.parse_grid(config, FLAGS.grid))
  else:
    points = sweep.load_sweep(config_flags.get_config_filename(FLAGS['config']), config) or [{}]
  return [(p, s) for p in points for s in seeds]


@cli.user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.initialize_distributed()
  config, root = FLAGS.config, FLAGS.workdir
  if config.get('task', 'gan') != 'gan':
    raise GanjaxError('experiments.sweep trains GANs; train helper networks with '
                      'experiments.train')
  points = plan(config)
  os.makedirs(root, exist_ok=True)
  if jax.process_index() == 0:
    with open(os.path.join(root, 'sweep.json'), 'w') as f:
      json.dump({'points': [{'overrides': o, 'seed': s} for o, s in points]}, f, indent=2)
  if not FLAGS.report:
    try:
      if FLAGS.vectorize:
        if jax.default_backend() == 'cpu':
          logging.warning('--vectorize on CPU: measured 0.91x the sequential speed for '
                          'mnist_mlp and 0.23x for mnist_dcgan on 2 cores (XLA:CPU batched '
                          'GEMMs and vmapped convolutions are slower); it is meant for GPU/TPU. '
                          'See docs/scaling.md')
        groups = {}
        for overrides, seed in points:
          groups.setdefault(sweep.point_name(overrides), (overrides, []))[1].append(seed)
        for overrides, seeds in groups.values():
          vectorized.train_seeds(
              [sweep.apply(config, overrides, s) for s in seeds],
              [sweep.point_workdir(root, overrides, s) for s in seeds], lock=not FLAGS.no_lock)
      else:
        for i, (overrides, seed) in enumerate(points):
          workdir = sweep.point_workdir(root, overrides, seed)
          logging.info('sweep point %d/%d: %s', i + 1, len(points), workdir)
          train.train_and_evaluate(sweep.apply(config, overrides, seed), workdir,
                                   lock=not FLAGS.no_lock)
    except train.Stopped as e:
      logging.warning('sweep stopped (%s); rerun the same command to resume it', e)
      sys.exit(128 + e.signum)   # as experiments.train: not done
  if jax.process_index() == 0:
    rows = sweep.collect(root, points)
    sweep.write_results(root, rows)
    report.after_sweep(config, root)
    pages = f' and {root}/report/index.html' if config.get('report', True) else ''
    print(f'{len(rows)} points; wrote {root}/results.csv, {root}/results.md{pages}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
