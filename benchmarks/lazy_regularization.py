r"""Lazy R1/R2, StyleGAN2's way against ganjax's old one, on the same recipe and seeds.

python -m benchmarks.lazy_regularization --config=configs/mnist.py \
    --config.data.dir=../shared/data/mnist --config.data.split=test \
    --config.reg.r1=1.0 --config.reg.r1_every=16 --config.num_steps=3000 \
    --config.eval_every=1000 --config.eval.classifier=runs/mnist_classifier --seeds=0,1

Each seed trains twice from the same init: reg.lazy=own_step (the penalty in a D update
of its own every k D updates, D's Adam at lr * c and betas ** c, c = k / (k + 1)) and
reg.lazy=fused (k times the penalty in that D update's loss, Adam as configured). The
table: steps/s, the mean logged penalty (k x on lazy updates, 0 between: the penalty's
mean), and the evaluator's best metric at each evaluation.
"""

import json
import os

from absl import app, flags
from ml_collections import config_flags

from ganjax import cli, train
from ganjax.report import data as report_data

config_flags.DEFINE_config_file('config', 'configs/mnist.py', 'The recipe, with overrides.')
flags.DEFINE_list('seeds', ['0'], 'Seeds; each trains in both modes.')
flags.DEFINE_string('workdir', 'runs/lazy_regularization', 'Root of the runs.')
flags.DEFINE_string('json', '', 'Also write the rows here.')
FLAGS = flags.FLAGS
MODES = ('own_step', 'fused')


def run_row(config, workdir):
  """Trains (or resumes) one run; its row: steps/s, mean penalties, evals by step."""
  train.train_and_evaluate(config, workdir)
  rows = report_data.read_metrics(os.path.join(workdir, 'metrics.jsonl'))['rows']
  mean = lambda k: (sum(r[k] for r in rows if k in r) / max(1, sum(k in r for r in rows)))
  evals = {r['step']: {k[5:]: v for k, v in r.items() if k.startswith('eval/')}
           for r in rows if any(k.startswith('eval/') for k in r)}
  return {'steps_per_sec': mean('steps_per_sec'), 'r1': mean('r1'), 'r2': mean('r2'),
          'train_seconds': max((r.get('train_seconds', 0.0) for r in rows), default=0.0),
          'evals': evals}


def table(rows, metric):
  """Markdown: one line per run, the metric at each evaluated step."""
  steps = sorted({s for r in rows for s in r['evals']})
  head = ['reg.lazy', 'seed', 'steps/s', 'mean r1', 'mean r2'] + [f'{metric} @{s}' for s in steps]
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for r in rows:
    cells = [r['mode'], str(r['seed']), f'{r["steps_per_sec"]:.2f}', f'{r["r1"]:.4g}',
             f'{r["r2"]:.4g}'] + [f'{r["evals"].get(s, {}).get(metric, float("nan")):.4g}'
                                  for s in steps]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


@cli.user_errors
def main(argv):
  del argv
  base, rows = FLAGS.config, []
  for seed in map(int, FLAGS.seeds):
    for mode in MODES:
      config = base.copy_and_resolve_references()
      config.seed, config.report = seed, False
      config.reg.lazy = mode
      row = run_row(config, os.path.join(FLAGS.workdir, mode, f'seed_{seed}'))
      rows.append({'mode': mode, 'seed': seed, **row})
  metric = next((k for r in rows for e in r['evals'].values() for k in e if k.endswith('fid')),
                'fid')
  print(table(rows, metric))
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  app.run(main)
