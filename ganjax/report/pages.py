"""A workdir as pictures: WORKDIR/report/ with curves.png, progress.png, training.gif,
latest.png beside real.png (training images in its layout) and index.html for a run;
for a sweep (results.csv or sweep.json), curves with seed bands, final-metric bars, the
points' grids and links to each run's report.

Reads what is there, so it works on a run still training. Anything missing (no metrics
yet, a cut last line, no samples, no config) becomes a note on the page, not an error:
write() raises only for a workdir that does not exist.
"""

import csv
import dataclasses
import datetime
import functools
import glob
import json
import os
import shutil

from absl import logging

from ganjax.report import data
from ganjax.report import html
from ganjax.report import reals
from ganjax import run_config, sweep
from ganjax.errors import GanjaxError


@dataclasses.dataclass(frozen=True)
class Options:
  """What the report draws: smoothing weight, GIF frame time and frames, strip size."""
  smoothing: float = 0.8    # EMA weight over logged points (TensorBoard's slider)
  gif_ms: int = 300         # GIF frame duration
  gif_frames: int = 40      # at most this many GIF frames (evenly spread, last kept)
  columns: int = 8          # progress strip: at most this many steps
  latents: int = 6          # progress strip rows of an unconditional model
  runs: bool = True         # sweep: also (re)write each run's own report


def check_options(options):
  """Raises a one-line GanjaxError for options out of range."""
  if not 0.0 <= options.smoothing < 1.0:
    raise GanjaxError(f'--smoothing={options.smoothing}: use a weight in [0, 1) (0: none)')
  for name in ('gif_ms', 'gif_frames', 'columns', 'latents'):
    if getattr(options, name) < 1:
      raise GanjaxError(f'--{name}={getattr(options, name)}: use a positive integer')


def is_sweep(workdir):
  """Whether `workdir` is a sweep root (experiments.sweep's results.csv or sweep.json)."""
  return any(os.path.exists(os.path.join(workdir, f)) for f in ('results.csv', 'sweep.json'))


def write(workdir, options=Options(), devices=None):
  """Writes WORKDIR/report/ for a run or a sweep; returns the path of its index.html.
  devices: a description of the devices training ran on (describe_devices()), kept in
  report/run_info.json for later reports."""
  if not os.path.isdir(workdir):
    raise GanjaxError(f'--workdir={workdir!r} does not exist: give a training or sweep workdir')
  if is_sweep(workdir):
    return write_sweep(workdir, options)
  return write_run(workdir, options, devices)


def after_training(config, workdir):
  """Writes the run's report at the end of training unless config.report is False (on
  process 0; a failure is logged, never raised: the run itself is done)."""
  _after(config, workdir, lambda: write_run(workdir, devices=describe_devices()))


def after_sweep(config, root):
  """Writes the sweep's report (and each point's) at the end of a sweep, as
  after_training does."""
  _after(config, root, lambda: write_sweep(root))


def _after(config, workdir, fn):
  import jax   # pylint: disable=g-import-not-at-top
  if not config.get('report', True) or jax.process_index() != 0:
    return
  try:
    logging.info('report: wrote %s', fn())
  except Exception:   # pylint: disable=broad-except
    logging.warning('report: could not write the report of %s (python -m '
                    'experiments.report --workdir=%s retries)', workdir, workdir, exc_info=True)


def describe_devices():
  """'8 x cpu (TFRT_CPU_0 ...), 1 process': this process's JAX devices."""
  import jax   # pylint: disable=g-import-not-at-top
  d = jax.devices()
  return (f'{len(d)} x {d[0].platform} ({d[0].device_kind}), '
          f'{jax.process_count()} process{"es" if jax.process_count() > 1 else ""}')


def _json(path):
  """A JSON file's content, or None if it is missing or does not parse."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _attempt(notes, what, fn, *args, **kwargs):
  """fn(*args) or, if it raises, None and a note (a report never fails a run)."""
  try:
    return fn(*args, **kwargs)
  except Exception as e:   # pylint: disable=broad-except
    # a GanjaxError says what is wrong in one line; anything else is a bug: its traceback
    logging.warning('report: could not %s: %s', what, e,
                    exc_info=not isinstance(e, GanjaxError))
    notes.append(f'could not {what}: {e}' if isinstance(e, GanjaxError) else
                 f'could not {what}: {type(e).__name__}: {e}')
    return None


def nearest_defaults(flat):
  """(name, flat defaults) of the configs/*.py whose get_config() differs from the flat
  config in the fewest fields, or (None, {}) if the configs package is not importable."""
  try:
    import configs   # pylint: disable=g-import-not-at-top
  except ImportError:
    return None, {}
  best = (None, {}, float('inf'))
  for path in sorted(glob.glob(os.path.join(os.path.dirname(configs.__file__), '*.py'))):
    name = os.path.basename(path)[:-3]
    try:
      module = __import__(f'configs.{name}', fromlist=['get_config'])
      config = module.get_config()
    except Exception:   # pylint: disable=broad-except
      continue   # not a config module (common.py), or one that needs arguments
    defaults = {**run_config.DEFAULTS,
                **run_config.flatten(json.loads(config.to_json_best_effort()))}
    diffs = sum(flat.get(k) != defaults.get(k) for k in set(flat) | set(defaults))
    if diffs < best[2]:
      best = (f'configs/{name}.py', defaults, diffs)
  return best[:2]


@functools.lru_cache(maxsize=32)
def _summary_text(config_json):
  from ganjax.experiment import Experiment   # pylint: disable=g-import-not-at-top
  import ml_collections   # pylint: disable=g-import-not-at-top
  return Experiment(ml_collections.ConfigDict(json.loads(config_json))).summary()


def model_summary(config):
  """The per-layer G/D table of a ConfigDict (built without data), or why not."""
  try:
    return _summary_text(config.to_json_best_effort(sort_keys=True))
  except Exception as e:   # pylint: disable=broad-except
    return f'(no model summary: {type(e).__name__}: {" ".join(str(e).split())[:300]})'


def _run_info(out, devices):
  """{'devices': ...}: given by training (kept in run_info.json), else what was kept."""
  path = os.path.join(out, 'run_info.json')
  if devices:
    with open(path, 'w') as f:
      json.dump({'devices': devices}, f)
    return {'devices': devices}
  return _json(path) or {}


def _evals(workdir):
  """[(name, result)] of WORKDIR/eval/*.json (experiments.evaluate)."""
  out = []
  for path in sorted(glob.glob(os.path.join(workdir, 'eval', '*.json'))):
    result = _json(path)
    if isinstance(result, dict) and isinstance(result.get('metrics'), dict):
      out.append((os.path.basename(path)[:-5], result))
  return out


def _plots(notes):
  """The report_plots module, or None and a note if matplotlib is not installed."""
  try:
    from ganjax.report import plots as report_plots   # pylint: disable=g-import-not-at-top
    return report_plots
  except ImportError as e:
    notes.append(f'no figures: {e} (pip install matplotlib)')
    return None


def _images(plots, workdir, out, config, options, notes):
  """Writes latest.png, training.gif and progress.png from samples/; returns
  {'samples': count, 'latest': (file, step), 'gif': (file, frames), 'progress': (file,
  steps)} for what it wrote."""
  samples = data.sample_steps(workdir)
  if not samples:
    every = (config or {}).get('sample_every', 'sample_every')
    notes.append(f'no samples/step_*.png yet: the first grid is drawn at step {every}')
    return {}
  wrote = {'samples': len(samples)}
  shutil.copyfile(samples[-1][1], os.path.join(out, 'latest.png'))
  wrote['latest'] = ('latest.png', samples[-1][0])
  chosen = data.pick_steps(samples, options.gif_frames)
  frames = _attempt(notes, 'write the GIF', plots.write_gif, [p for _, p in chosen],
                    [s for s, _ in chosen], os.path.join(out, 'training.gif'), options.gif_ms)
  if frames:
    wrote['gif'] = ('training.gif', frames)
  if config is None:
    notes.append('no config.json: the progress strip needs its sample_grid')
    return wrote
  strip = data.pick_steps(samples, options.columns)
  shape = _attempt(notes, 'draw the progress strip', plots.progress_strip,
                   [plots.load_image(p) for _, p in strip], [s for s, _ in strip],
                   config.get('sample_grid', 10), os.path.join(out, 'progress.png'),
                   num_classes=_num_classes(workdir, config),
                   class_names=run_config.load_classes(workdir), latents=options.latents)
  if shape:
    wrote['progress'] = ('progress.png', [s for s, _ in strip])
  elif shape == 0:
    notes.append('no progress strip: the sample grids are not the sample_grid x '
                 'sample_grid layout hooks.grid_writer draws')
  return wrote


def _num_classes(workdir, config):
  # a data.clusters run's grids are a mix of clusters, drawn as an unconditional G's
  if not config.get('model', {}).get('conditional') or config.get('data', {}).get('clusters'):
    return 0
  return len(run_config.load_classes(workdir)) or config.get('data', {}).get('num_classes', 0)


def _metric_notes(metrics, flat):
  """What the page says about a missing, cut or damaged metrics.jsonl."""
  notes = []
  if not metrics['rows']:
    notes.append('no metrics yet: metrics.jsonl is missing or empty (the first line is '
                 f'written at step {flat.get("log_every", "log_every")})')
  if metrics['cut_last']:
    notes.append('the last line of metrics.jsonl is cut (a run killed mid-write, or a '
                 'write in progress): it is left out')
  if metrics['skipped'] > metrics['cut_last']:
    notes.append(f'{metrics["skipped"] - metrics["cut_last"]} other lines of metrics.jsonl '
                 'do not parse and are left out')
  return notes


def write_run(workdir, options=Options(), devices=None):
  """Writes WORKDIR/report/ for one training run; returns index.html's path."""
  out = os.path.join(workdir, 'report')
  os.makedirs(out, exist_ok=True)
  notes, page = [], {'workdir': workdir, 'options': options}
  config = _attempt(notes, 'read config.json', run_config.load, workdir)
  # fields newer than the run's config.json at the values it trained with
  flat = {**run_config.DEFAULTS, **run_config.flatten(config)} if config is not None else {}
  page['config'] = flat
  if config is not None:
    page['defaults_from'], page['defaults'] = nearest_defaults(flat)
    page['summary'] = model_summary(config)
  metrics = data.read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  notes += _metric_notes(metrics, flat)
  prepared = page['prepared'] = data.prepare_series(metrics['rows'])
  best, evals = _json(os.path.join(workdir, 'best.json')), _evals(workdir)
  results = [e for _, e in evals]
  page.update(best=best, evals=evals, floors=data.floors(best, results),
              floor_kind=data.floor_kind(best, results))
  panels = data.curve_panels(prepared, page['floors'], options.smoothing,
                             loss_name=flat.get('loss.name', ''), floor_kind=page['floor_kind'])
  plots = _plots(notes)
  if panels and plots:
    page['curves'] = _attempt(notes, 'draw the curves', plots.draw_panels, panels,
                              os.path.join(out, 'curves.png'), restarts=prepared['restarts'])
  if plots:
    page['images'] = _attempt(notes, 'draw the sample images', _images, plots, workdir, out,
                              config, options, notes)
  if config is not None:
    page['classes'] = run_config.load_classes(workdir)
    page['real'] = _attempt(notes, 'draw the real training images (report/real.png)',
                            reals.write, config, out, _num_classes(workdir, config))
  page.update(run_info=_run_info(out, devices), time=data.training_time(prepared),
              clocks=data.clocks(prepared),
              sessions=data.tensorboard_sessions(workdir), notes=notes, written=now())
  return _write_page(out, html.run_page(page))


def _write_page(out, text):
  path = os.path.join(out, 'index.html')
  run_config.write_atomically(path, text)
  return path


def sweep_runs(root):
  """[{'point', 'seed', 'workdir'}] of a sweep: sweep.json's plan (points not started
  included), else results.csv's rows."""
  plan = _json(os.path.join(root, 'sweep.json'))
  if isinstance(plan, dict) and isinstance(plan.get('points'), list):
    return [{'point': sweep.point_name(p.get('overrides') or {}), 'seed': p.get('seed'),
             'workdir': sweep.point_workdir(root, p.get('overrides') or {}, p.get('seed'))}
            for p in plan['points']]
  try:
    with open(os.path.join(root, 'results.csv'), newline='') as f:
      rows = list(csv.DictReader(f))
  except OSError:
    return []
  return [{'point': r['point'], 'seed': r['seed'], 'workdir': os.path.join(root, r['workdir'])}
          for r in rows if r.get('point') and r.get('workdir')]


def _read_sweep(runs, names, options, notes):
  """Per point the prepared series of its started seeds; sweep.aggregate's rows; each
  run's floors. Marks runs 'started' and, if options.runs, writes their reports."""
  points, rows, floors = [], [], []
  for name in names:
    members = []
    for run in (r for r in runs if r['point'] == name):
      run['started'] = os.path.isdir(run['workdir'])
      if not run['started']:
        continue
      metrics = data.read_metrics(os.path.join(run['workdir'], 'metrics.jsonl'))
      members.append(data.prepare_series(metrics['rows']))
      run['final'] = _attempt(notes, f'read the results of {run["workdir"]}', sweep.read_point,
                              run['workdir']) or {}
      rows.append({'point': name, 'seed': run['seed'], 'workdir': run['workdir'],
                   **run['final'], '_grid': []})
      floors.append(data.floors(_json(os.path.join(run['workdir'], 'best.json')), []))
      if options.runs:
        run['report'] = _attempt(notes, f'write the report of {run["workdir"]}', write_run,
                                 run['workdir'], options)
      elif os.path.exists(os.path.join(run['workdir'], 'report', 'index.html')):
        run['report'] = os.path.join(run['workdir'], 'report', 'index.html')
    points.append(members)
  return points, rows, floors


def write_sweep(root, options=Options()):
  """Writes ROOT/report/ for a sweep (and each run's report if options.runs); returns
  index.html's path."""
  out = os.path.join(root, 'report')
  os.makedirs(out, exist_ok=True)
  notes, runs = [], sweep_runs(root)
  names = list(dict.fromkeys(r['point'] for r in runs))
  labels = [f'P{i + 1} {l}' for i, l in enumerate(data.point_labels(names))]
  points, rows, floors = _read_sweep(runs, names, options, notes)
  if not rows:
    notes.append('no point has started yet: nothing to plot')
  groups = sweep.aggregate(rows) if rows else []
  page = {'workdir': root, 'runs': runs, 'names': names, 'labels': labels, 'groups': groups,
          'options': options, 'notes': notes}
  panels = data.sweep_panels(list(zip(labels, points)), data.mean_floors(floors))
  bars = data.final_bars(names, groups, rows)
  plots = _plots(notes)
  if plots and any(p['lines'] for p in panels):
    page['curves'] = _attempt(notes, 'draw the sweep curves', plots.draw_panels, panels,
                              os.path.join(out, 'curves.png'), legend='figure')
  if plots and bars:
    page['bars'] = _attempt(notes, 'draw the final metrics', plots.draw_bars, bars,
                            labels, os.path.join(out, 'final.png'))
  if plots:
    page['grids'] = _attempt(notes, 'draw the latest grids', _sweep_grids, plots, runs,
                             names, labels, out)
  page['written'] = now()
  return _write_page(out, html.sweep_page(page))


def _sweep_grids(plots, runs, names, labels, out):
  """grids.png: each point's latest grid (of its first seed with samples), or None."""
  images, captions = [], []
  for name, label in zip(names, labels):
    for run in (r for r in runs if r['point'] == name and r.get('started')):
      samples = data.sample_steps(run['workdir'])
      if samples:
        images.append(plots.load_image(samples[-1][1]))
        captions.append(f'{label.split()[0]} seed {run["seed"]} step {samples[-1][0]}')
        break
  if not images:
    return None
  return plots.side_by_side(images, captions, os.path.join(out, 'grids.png'))


def now():
  """The local time, for the page's footer."""
  return datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
