r"""Time to quality: recipes x seeds trained against the same training-time budget, then
a leaderboard of the time and steps each takes to reach quality thresholds.

python -m benchmarks.quality --recipes=configs/mnist_mlp.py,configs/mnist_dcgan.py \
    --seeds=0-2 --budget=1.0 --unit_seconds=0 --workdir=runs/quality \
    --classifier=runs/mnist_classifier --eval_every=500 \
    --data_dir=../shared/data/mnist --data_split=test

Recipes of several datasets share one board, grouped by dataset, each row read against
its own dataset's floor; --data_dir and --classifier then name one per dataset:
    --recipes=configs/mnist.py,configs/fashion_mnist.py \
    --data_dir=mnist=data/mnist,fashion_mnist=data/fashion_mnist \
    --classifier=mnist=runs/mnist_classifier,fashion_mnist=runs/fashion_classifier

Time is each run's train_seconds (training wall time with evaluations excluded, data
loading, init and compiles included: ganjax/train.py). The budget is in units of T: with
--unit_seconds=0, T is measured first as the train_seconds of --unit_steps (10,000) steps
of --unit_recipe with eval off (kept in W/unit.json, reused); give --unit_seconds to
compare runs across machines by a T measured elsewhere. Each run is a plain
`experiments.train` subprocess in W/<recipe>/seed_<s> with --config.time_budget, so a
rerun skips finished runs and resumes cut ones. Thresholds and the table: ganjax/report/leaderboard.py.
Writes W/leaderboard.md, W/leaderboard.json (or --json) and W/leaderboard.png.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
from absl import app, flags
from matplotlib.figure import Figure

from benchmarks.harness import ROOT
from ganjax.report import data as report_data, leaderboard as lb
from ganjax.errors import GanjaxError
from ganjax.report.plots import colour
from ganjax.sweep import parse_seeds

flags.DEFINE_list('recipes', ['configs/mnist_mlp.py', 'configs/mnist_dcgan.py'],
                  'Config files to compare.')
flags.DEFINE_string('seeds', '0-2', "Seeds per recipe: '0-2' or '1,4,9'.")
flags.DEFINE_float('budget', 1.0, 'Training time per run, in units of T (--unit_seconds).')
flags.DEFINE_float('unit_seconds', 0.0, 'T in seconds; 0: measure it (--unit_recipe).')
flags.DEFINE_string('unit_recipe', 'configs/mnist_mlp.py', 'The recipe T is measured on.')
flags.DEFINE_integer('unit_steps', 10_000, 'T = train_seconds of this many unit_recipe steps.')
flags.DEFINE_string('workdir', 'runs/quality', 'Root of the runs and the leaderboard.')
flags.DEFINE_string('classifier', '', 'configs/mnist_classifier.py workdir (domain metrics); '
                    'name=DIR,name=DIR: one per dataset.')
flags.DEFINE_integer('eval_every', 500, 'Steps between evaluations.')
flags.DEFINE_integer('eval_samples', 0, 'Images per evaluation (0: the config\'s, 5000).')
flags.DEFINE_integer('num_steps', 10**7, 'Step cap of every run: the budget ends them first.')
flags.DEFINE_bool('keep_num_steps', False, "Keep each recipe's own num_steps as the cap.")
flags.DEFINE_string('data_dir', '', '--config.data.dir of every run (empty: the config\'s); '
                    'name=DIR,name=DIR: one per dataset (data.name).')
flags.DEFINE_string('data_split', '', '--config.data.split of every run (empty: the config\'s).')
flags.DEFINE_string('json', '', 'Where to write the leaderboard JSON (empty: W/leaderboard.json).')
FLAGS = flags.FLAGS


def recipe_name(path):
  """configs/mnist_mlp.py -> mnist_mlp."""
  return os.path.splitext(os.path.basename(path))[0]


def recipe_dataset(path):
  """The data.name of a recipe's get_config() (configs/fashion_mnist.py -> fashion_mnist)."""
  spec = importlib.util.spec_from_file_location(f'_recipe_{recipe_name(path)}',
                                                os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config().data.name


def per_dataset(value, dataset):
  """A flag's value for `dataset`: 'V' is every dataset's, 'name=V,name=V' one per
  dataset ('' for a dataset it does not name: the config's own)."""
  if '=' not in value:
    return value
  pairs = dict(p.split('=', 1) for p in value.split(',') if p)
  return pairs.get(dataset, '')


def _data_flags(dataset):
  data_dir = per_dataset(FLAGS.data_dir, dataset)
  return ([f'--config.data.dir={data_dir}'] if data_dir else []) + (
      [f'--config.data.split={FLAGS.data_split}'] if FLAGS.data_split else [])


def _train(recipe, workdir, overrides):
  """Runs experiments.train (its log in WORKDIR.log); exits on failure or a signal."""
  cmd = [sys.executable, '-m', 'experiments.train', f'--config={recipe}',
         f'--workdir={workdir}', *overrides, *_data_flags(recipe_dataset(recipe))]
  os.makedirs(os.path.dirname(workdir), exist_ok=True)
  print(f'training {workdir} (log: {workdir}.log)', flush=True)
  with open(workdir + '.log', 'w') as log:
    rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
  if rc:
    with open(workdir + '.log', errors='replace') as f:
      tail = f.read()[-3000:]
    sys.exit(f'{" ".join(cmd)} failed (rc {rc}); end of {workdir}.log:\n{tail}')


def unit_seconds(root):
  """T: train_seconds of --unit_steps steps of --unit_recipe, eval off (W/unit.json)."""
  if FLAGS.unit_seconds:
    return FLAGS.unit_seconds
  path = os.path.join(root, 'unit.json')
  want = {'recipe': FLAGS.unit_recipe, 'steps': FLAGS.unit_steps}
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if {k: saved.get(k) for k in want} != want:
      raise GanjaxError(f'{path} holds T of {saved.get("recipe")} x {saved.get("steps")} '
                        'steps: delete it, or pass that --unit_recipe / --unit_steps')
    return saved['seconds']
  workdir = os.path.join(root, 'unit')
  _train(FLAGS.unit_recipe, workdir, [f'--config.num_steps={FLAGS.unit_steps}',
                                      '--config.eval_every=0', '--config.report=False'])
  rows = report_data.read_metrics(os.path.join(workdir, 'metrics.jsonl'))['rows']
  hits = [r['train_seconds'] for r in rows
          if r['step'] == FLAGS.unit_steps and 'train_seconds' in r]
  if not hits:
    raise GanjaxError(f'{workdir}/metrics.jsonl has no train_seconds at step '
                      f'{FLAGS.unit_steps}: delete {workdir} and rerun')
  with open(path, 'w') as f:
    json.dump({**want, 'seconds': hits[-1]}, f, indent=2)
  return hits[-1]


def run_overrides(seed, minutes, dataset):
  """The --config flags of one leaderboard run on `dataset`."""
  out = [f'--config.seed={seed}', f'--config.eval_every={FLAGS.eval_every}',
         f'--config.time_budget={minutes!r}', '--config.report=False']
  if FLAGS.eval_samples:
    out.append(f'--config.eval_samples={FLAGS.eval_samples}')
  classifier = per_dataset(FLAGS.classifier, dataset)
  if classifier:
    out.append(f'--config.eval.classifier={classifier}')
  if not FLAGS.keep_num_steps:
    out.append(f'--config.num_steps={FLAGS.num_steps}')
  return out


def _plot_dataset(ax, runs, colours, budget_seconds):
  """One dataset's panel: domain_fid (log) over training seconds, a thin line per seed,
  the mean over seeds per evaluated step thick; its mean floor x1, x2, x3 dashed."""
  for name, recipe_runs in runs.items():
    c, dash = colour(colours[name])
    histories = [lb.eval_history(r['rows']) for r in recipe_runs]
    for h in histories:
      pts = [(e['train_seconds'], e['domain_fid']) for e in h
             if e.get('domain_fid') is not None and e['train_seconds'] is not None]
      if pts:
        ax.plot(*zip(*pts), color=c, ls=dash, lw=0.8, alpha=0.4)
    x, y = lb.mean_curve(histories, 'domain_fid')
    if len(x):
      ax.plot(x, y, color=c, ls=dash, lw=2.0, marker='o', ms=3, label=f'{name} (mean)')
  floors = [r['floor']['domain_fid'] for rr in runs.values() for r in rr
            if 'domain_fid' in r['floor']]
  if floors:
    for k in (1, 2, 3):
      ax.axhline(k * np.mean(floors), color='0.4', ls='--', lw=1.0)
      ax.annotate(f'{k}x floor', (0, k * np.mean(floors)), xycoords=('axes fraction', 'data'),
                  fontsize=8, color='0.3', va='bottom')
  ax.axvline(budget_seconds, color='0.5', ls=':', lw=1.2, label='budget')
  ax.set_yscale('log')
  ax.set_xlabel('training seconds (evaluations excluded)')
  ax.set_ylabel('domain_fid (log)')
  ax.legend(fontsize=8)


def plot(path, runs, budget_seconds):
  """The leaderboard's figure: one _plot_dataset panel per dataset, side by side, one
  colour per recipe."""
  groups = {}
  for name, recipe_runs in runs.items():
    groups.setdefault(recipe_runs[0].get('dataset', ''), {})[name] = recipe_runs
  colours = {name: i for i, name in enumerate(runs)}
  fig = Figure(figsize=(8 * len(groups), 5), dpi=100)
  for ax, (dataset, group) in zip(fig.subplots(1, len(groups), squeeze=False)[0],
                                  groups.items()):
    _plot_dataset(ax, group, colours, budget_seconds)
    ax.set_title(f'{dataset + ": " if dataset else ""}time to quality: thin = one seed, '
                 'thick = mean over seeds', fontsize=10)
  fig.savefig(path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    leaderboard(FLAGS.workdir)
  except GanjaxError as e:
    sys.exit(f'error: {e}')


def leaderboard(root):
  """Trains what is missing under `root`, then writes and prints the leaderboard."""
  os.makedirs(root, exist_ok=True)
  seeds = parse_seeds(FLAGS.seeds, 0)
  unit = unit_seconds(root)
  budget_seconds = FLAGS.budget * unit
  print(f'T = {unit:.1f} s; budget {FLAGS.budget:g} T = {budget_seconds:.1f} s of training '
        'per run', flush=True)
  runs = {}
  for recipe in FLAGS.recipes:
    name, dataset = recipe_name(recipe), recipe_dataset(recipe)
    for seed in seeds:
      workdir = os.path.join(root, name, f'seed_{seed}')
      _train(recipe, workdir, run_overrides(seed, budget_seconds / 60, dataset))
      runs.setdefault(name, []).append(lb.read_run(workdir))
  rows = lb.by_dataset([lb.recipe_row(name, recipe_runs, budget_seconds)
                        for name, recipe_runs in runs.items()])
  text = (f'T = {unit:.1f} s ({FLAGS.unit_recipe}, {FLAGS.unit_steps} steps, eval off); '
          f'budget {FLAGS.budget:g} T = {budget_seconds:.0f} s; seeds {seeds}.\n\n'
          + lb.markdown(rows, budget_seconds))
  print(text)
  with open(os.path.join(root, 'leaderboard.md'), 'w') as f:
    f.write(text)
  with open(FLAGS.json or os.path.join(root, 'leaderboard.json'), 'w') as f:
    json.dump({'unit_seconds': unit, 'budget': FLAGS.budget, 'budget_seconds': budget_seconds,
               'seeds': seeds, 'recipes': FLAGS.recipes, 'data_dir': FLAGS.data_dir,
               'classifier': FLAGS.classifier, 'rows': rows}, f, indent=2)
  plot(os.path.join(root, 'leaderboard.png'), runs, budget_seconds)


if __name__ == '__main__':
  app.run(main)
