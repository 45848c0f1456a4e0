r"""Turns a workdir into pictures: WORKDIR/report/index.html with the loss, D-output and
eval curves (each against its floor), the fixed-noise progression, a training GIF and the
latest grid beside real training images in its layout; for a sweep root, curves with
seed bands, final-metric bars, the points' grids and each run's report.

python -m experiments.report --workdir=runs/mnist_mlp
python -m experiments.report --workdir=runs/objectives --gif_ms=200
"""

from absl import app, flags

from ganjax import cli, report

flags.DEFINE_string('workdir', None, 'A training workdir, or a sweep root (results.csv or '
                    'sweep.json).')
flags.DEFINE_float('smoothing', report.Options.smoothing, 'Loss curves: weight in [0, 1) of '
                   'the debiased EMA drawn over the logged points (0: none).')
flags.DEFINE_integer('gif_ms', report.Options.gif_ms, 'training.gif: milliseconds a frame.')
flags.DEFINE_integer('gif_frames', report.Options.gif_frames, 'training.gif: at most this '
                     'many frames, evenly spread over the sample grids (the last kept).')
flags.DEFINE_integer('columns', report.Options.columns, 'progress.png: at most this many '
                     'steps.')
flags.DEFINE_bool('runs', report.Options.runs, 'Sweep: also write each run\'s own report.')
flags.mark_flags_as_required(['workdir'])
FLAGS = flags.FLAGS


@cli.user_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  options = report.Options(smoothing=FLAGS.smoothing, gif_ms=FLAGS.gif_ms,
                           gif_frames=FLAGS.gif_frames, columns=FLAGS.columns,
                           runs=FLAGS.runs)
  report.check_options(options)
  print(f'wrote {report.write(FLAGS.workdir, options)}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
