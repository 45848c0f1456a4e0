"""Time to quality: each run's evaluations against its training wall time, and a
leaderboard of recipes x seeds (time and steps to quality thresholds, best quality
within a time budget).

Pure functions of metrics.jsonl rows and best.json floors, no JAX: the numbers in a
leaderboard can be checked by hand against the files. Time is `train_seconds` (training
wall time, evaluations excluded: train.py's clock), so evaluating more often does not
make a recipe look slower.
"""

import json
import math
import operator
import os

import numpy as np

from ganjax.report import data as report_data
from ganjax.errors import GanjaxError

# Mirrors evaluation.LOWER_IS_BETTER (evaluation imports JAX): a metric named by one of
# these, or ending in _<one of these>, is better lower; the rest higher.
LOWER_IS_BETTER = ('fid', 'kid', 'class_kl', 'copying_below')
OPS = {'<=': operator.le, '<': operator.lt, '>=': operator.ge, '>': operator.gt}
BEST_METRICS = ('domain_fid', 'class_coverage', 'class_kl', 'label_accuracy')
LABEL_SLACK = 0.02   # label accuracy may be this far under the unseen reals' own
# A recipe is flagged as copying when a seed's samples at its best FID have a median
# d(nearest training) / d(nearest unseen) below this (unseen reals score about 1).
COPYING_FLAG = 0.95


def lower_is_better(metric):
  """Whether smaller values of `metric` are better (FID, KID, class KL)."""
  return any(metric == name or metric.endswith('_' + name) for name in LOWER_IS_BETTER)


def eval_history(rows):
  """metrics.jsonl rows -> [{'step', 'train_seconds', 'eval_seconds', metric: value}], one
  per evaluated step in step order ('eval/' stripped from the names). A step evaluated
  twice (a resumed run redoing steps a killed one had logged) keeps its last row; times
  missing from an eval row come from the last row at that step that has them."""
  by_step, times = {}, {}
  for row in rows:
    step = row['step']
    if 'train_seconds' in row:
      times[step] = {k: row[k] for k in ('train_seconds', 'eval_seconds') if k in row}
    scores = {k[len('eval/'):]: v for k, v in row.items() if k.startswith('eval/')}
    if scores:
      by_step[step] = {'step': step, 'train_seconds': None, 'eval_seconds': None,
                       **times.get(step, {}), **scores}
  return [by_step[s] for s in sorted(by_step)]


def fid_conditions(factor, conditional, fid='domain_fid'):
  """A threshold set: fid <= factor x the run's floor, every class covered, class KL
  <= 0.02 and, for conditional models, label accuracy >= the unseen reals' own - 0.02
  (the evaluator's classifier errs on real images too: 0.986 on MNIST, 0.908 on
  Fashion-MNIST)."""
  out = [(fid, '<=', ('floor', factor)), ('class_coverage', '>=', 1.0),
         ('class_kl', '<=', 0.02)]
  return out + ([('label_accuracy', '>=', ('floor-', LABEL_SLACK))] if conditional else [])


def describe(conditions):
  """[('domain_fid', '<=', ('floor', 3.0)), ...] -> 'domain_fid <= 3x floor, ...'."""
  def limit(value):
    if not isinstance(value, (tuple, list)):
      return f'{value:g}'
    return f'{value[1]:g}x floor' if value[0] == 'floor' else f'floor - {value[1]:g}'
  return ', '.join(f'{m} {op} {limit(v)}' for m, op, v in conditions)


def resolve(conditions, floor):
  """Conditions with ('floor', k) limits replaced by k x floor[metric], ('floor-', d) by
  floor[metric] - d."""
  out = []
  for metric, op, value in conditions:
    if op not in OPS:
      raise GanjaxError(f'threshold {metric} {op} {value}: the op must be one of {list(OPS)}')
    if isinstance(value, (tuple, list)):
      if value[0] not in ('floor', 'floor-'):
        raise GanjaxError(f'threshold {metric} {op} {value}: a floor limit is (\'floor\', k) '
                          f'or (\'floor-\', d)')
      if not floor or metric not in floor:
        raise GanjaxError(f'threshold {describe([(metric, op, value)])} needs '
                          f'the run\'s floor of {metric} (best.json "floor"): train with '
                          f'eval_every > 0' + (' and a classifier with labels'
                                               if metric == 'label_accuracy' else ''))
      value = (value[1] * floor[metric] if value[0] == 'floor'
               else floor[metric] - value[1])
    out.append((metric, op, value))
  return out


def first_crossing(history, conditions, floor=None):
  """(train_seconds, step) of the first eval where all conditions hold, or None. An eval
  missing a condition's metric does not hold it."""
  limits = resolve(conditions, floor)
  for entry in history:
    if all(m in entry and OPS[op](entry[m], v) for m, op, v in limits):
      return entry['train_seconds'], entry['step']
  return None


def best_within(history, metric, budget_seconds, stop_step=None):
  """{'value', 'step', 'train_seconds'} of the best `metric` among the evals with
  train_seconds <= budget_seconds (the earliest of ties), or None if there is none. The
  eval at stop_step counts too: a run that config.time_budget stopped ends with an eval
  a chunk past the budget, of the state its user gets."""
  best = None
  for entry in history:
    value = entry.get(metric)
    late = entry['train_seconds'] is None or entry['train_seconds'] > budget_seconds
    if value is None or math.isnan(value) or (late and entry['step'] != stop_step):
      continue
    if best is None or (value < best['value'] if lower_is_better(metric)
                        else value > best['value']):
      best = {'value': value, 'step': entry['step'], 'train_seconds': entry['train_seconds']}
  return best


def aggregate(values):
  """[value or None (not reached)] over seeds -> {'mean', 'std', 'reached', 'n'}: mean and
  sample std (ddof=1; 0 for one value; None for none) of the reached values."""
  got = np.asarray([v for v in values if v is not None], np.float64)
  return {'mean': float(got.mean()) if len(got) else None,
          'std': float(got.std(ddof=1)) if len(got) > 1 else (0.0 if len(got) else None),
          'reached': len(got), 'n': len(values)}


def _read_json(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def read_run(workdir):
  """{'rows': metrics.jsonl rows (cut lines skipped), 'floor': best.json's floor or {},
  'floor_kind': which reals it is of ('unseen', 'held-out half'; '' unrecorded),
  'time_budget': config.json's time_budget in seconds (0: none), 'dataset': its
  data.name ('' unknown)}."""
  rows = report_data.read_metrics(os.path.join(workdir, 'metrics.jsonl'))['rows']
  best = _read_json(os.path.join(workdir, 'best.json'))
  config = _read_json(os.path.join(workdir, 'config.json'))
  return {'rows': rows, 'floor': best.get('floor') or {},
          'floor_kind': best.get('floor_kind', ''),
          'time_budget': 60.0 * float(config.get('time_budget') or 0.0),
          'dataset': (config.get('data') or {}).get('name', '')}


def _budget_stop(history, time_budget_seconds):
  """The step of the run's last eval if the run's own time budget stopped it there, else
  None."""
  last = history[-1] if history else None
  if not time_budget_seconds or last is None or last['train_seconds'] is None:
    return None
  return last['step'] if last['train_seconds'] >= time_budget_seconds else None


def _total(rows, name):
  """The last logged value of a cumulative time, or None."""
  values = [r[name] for r in rows if name in r]
  return values[-1] if values else None


def recipe_row(recipe, runs, budget_seconds, factors=(3.0, 2.0)):
  """One leaderboard row from a recipe's runs ([read_run(...)], one per seed): per
  threshold set fid <= k x floor (k in factors) the aggregate time and steps to it, the
  aggregate best of BEST_METRICS within the budget, total train and eval seconds."""
  histories = [eval_history(r['rows']) for r in runs]
  conditional = any('label_accuracy' in e for h in histories for e in h)
  row = {'recipe': recipe, 'n': len(runs), 'conditional': conditional, 'thresholds': {},
         'best': {}}
  for k in factors:
    conditions = fid_conditions(k, conditional)
    hits = [first_crossing(h, conditions, r['floor']) if r['floor'] else None
            for h, r in zip(histories, runs)]
    row['thresholds'][f'fid<={k:g}x floor'] = {
        'conditions': describe(conditions),
        'seconds': aggregate([h and h[0] for h in hits]),
        'steps': aggregate([h and h[1] for h in hits])}
  stops = [_budget_stop(h, r.get('time_budget', 0.0)) for h, r in zip(histories, runs)]
  for metric in BEST_METRICS:
    best = [best_within(h, metric, budget_seconds, stop) for h, stop in zip(histories, stops)]
    if any(best):
      row['best'][metric] = aggregate([b and b['value'] for b in best])
  for name in ('train_seconds', 'eval_seconds'):
    row[name] = aggregate([_total(r['rows'], name) for r in runs])
  row['copying'] = copying_at_best(histories, runs, budget_seconds, stops)
  row.update(floor_columns(histories, runs, budget_seconds, stops))
  return row


def _one(values):
  """The distinct non-empty values joined by '/' (seeds of a recipe share one)."""
  return '/'.join(sorted({v for v in values if v}))


def floor_columns(histories, runs, budget_seconds, stops, fid='domain_fid'):
  """{'dataset', 'floor': aggregate of the seeds' `fid` floors, 'floor_kind', 'ratio':
  aggregate over seeds of best `fid` within the budget / that seed's floor}."""
  floors = [r['floor'].get(fid) for r in runs]
  ratios = []
  for h, stop, floor in zip(histories, stops, floors):
    best = best_within(h, fid, budget_seconds, stop)
    ratios.append(best['value'] / floor if best and floor else None)
  return {'dataset': _one(r.get('dataset') for r in runs), 'floor': aggregate(floors),
          'floor_kind': _one(r.get('floor_kind') for r in runs), 'ratio': aggregate(ratios)}


def by_dataset(rows):
  """Rows grouped by dataset, datasets in order of first appearance, recipes in order
  within each (rows without one, older leaderboards, stay as they are)."""
  first = {}
  for r in rows:
    first.setdefault(r.get('dataset', ''), len(first))
  return sorted(rows, key=lambda r: first[r.get('dataset', '')])


def copying_at_best(histories, runs, budget_seconds, stops, fid='domain_fid'):
  """The copying test at each seed's best `fid` within the budget: {'median', 'below'}
  aggregates, the floor's (unseen reals') median, and 'flag': whether a seed's median is
  below COPYING_FLAG. Empty when the runs have no copying test (no unseen split)."""
  at_best = []
  for h, stop in zip(histories, stops):
    best = best_within(h, fid, budget_seconds, stop)
    entry = next((e for e in h if best and e['step'] == best['step']), {})
    at_best.append(entry)
  medians = [e.get('copying_median') for e in at_best]
  if all(m is None for m in medians):
    return {}
  return {'median': aggregate(medians),
          'below': aggregate([e.get('copying_below') for e in at_best]),
          'floor_median': aggregate([r['floor'].get('copying_median') for r in runs]),
          'flag': any(m is not None and m < COPYING_FLAG for m in medians)}


def _copying_cell(copying):
  """'median (floor f), below' with a COPIES flag, or '-'."""
  if not copying:
    return '-'
  text = (f'{_pm(copying["median"], "{:.2f}")} (floor {_pm(copying["floor_median"], "{:.2f}")})'
          f', {_pm(copying["below"], "{:.2f}")} < 0.8')
  return text + (' **COPIES**' if copying['flag'] else '')


def _pm(agg, fmt='{:.3g}'):
  """'mean ± std' ('mean' for one value), or '-' for none."""
  if agg['mean'] is None:
    return '-'
  text = fmt.format(agg['mean'])
  return text + (f' ± {fmt.format(agg["std"])}' if agg['reached'] > 1 else '')


def _reached(agg, fmt='{:.0f}'):
  """'mean ± std (k/n)', or 'not reached (0/n)'."""
  shown = _pm(agg, fmt) if agg['reached'] else 'not reached'
  return f'{shown} ({agg["reached"]}/{agg["n"]})'


def _floor_cell(row):
  """'mean ± std (kind)' of the seeds' FID floors, or '-'."""
  if row['floor']['mean'] is None:
    return '-'
  kind = row.get('floor_kind')
  return _pm(row['floor'], '{:.4g}') + (f' ({kind})' if kind else '')


def _threshold_cells(row, s):
  hit = row['thresholds'].get(s)
  return [_reached(hit['seconds']), _reached(hit['steps'])] if hit else ['-', '-']


def _columns(rows, budget_seconds):
  """[(header, cells of a row)] of the table; a column no row has a field for is left
  out, so an older leaderboard.json renders as it did."""
  has = lambda key: any(key in r for r in rows)
  sets = list(dict.fromkeys(s for r in rows for s in r['thresholds']))
  named = any(r.get('dataset') for r in rows)
  cols = [('dataset', lambda r: r.get('dataset') or '-')] if named else []
  cols += [('recipe', lambda r: r['recipe']), ('seeds', lambda r: str(r['n']))]
  cols += [('domain_fid floor', _floor_cell)] if has('floor') else []
  for s in sets:
    cols += [(f's to {s}', lambda r, s=s: _threshold_cells(r, s)[0]),
             (f'steps to {s}', lambda r, s=s: _threshold_cells(r, s)[1])]
  for m in (m for m in BEST_METRICS if any(m in r['best'] for r in rows)):
    cols.append((f'best {m} in {budget_seconds:.0f} s',
                 lambda r, m=m: _pm(r['best'][m], '{:.4g}') if m in r['best'] else '-'))
    if m == 'domain_fid' and has('ratio'):
      cols.append(('best domain_fid / floor', lambda r: _pm(r['ratio'], '{:.2f}')))
  if any(r.get('copying') for r in rows):
    cols.append(('copying at best FID', lambda r: _copying_cell(r.get('copying'))))
  return cols + [('train s', lambda r: _pm(r['train_seconds'], '{:.0f}')),
                 ('eval s', lambda r: _pm(r['eval_seconds'], '{:.0f}'))]


def _notes(rows):
  """The table's footnotes: each threshold set's conditions and who uses it, the copying
  test, the floor."""
  notes = []
  for s in dict.fromkeys(s for r in rows for s in r['thresholds']):
    users = {}   # conditional recipes add a condition: list who uses which set
    for r in (r for r in rows if s in r['thresholds']):
      users.setdefault(r['thresholds'][s]['conditions'], []).append(r['recipe'])
    notes += [f'- {s}: {c} ({", ".join(names)})' for c, names in users.items()]
  if any('floor' in r for r in rows):
    notes.append('- floor: domain_fid of real images against the same training images '
                 '(unseen: a split the run never trained on; held-out half: half of its '
                 'training split), mean ± std over seeds; best / floor: per seed, then '
                 'mean ± std')
  if any(r.get('copying') for r in rows):
    notes.append(f'- copying: median over samples of d(nearest training image) / d(nearest '
                 f'unseen real image), the floor is the unseen reals\' own; **COPIES**: a '
                 f'seed\'s median < {COPYING_FLAG:g}')
  return notes


def markdown(rows, budget_seconds):
  """A markdown table of recipe_row()s grouped by dataset: its floor, time (s) and steps
  to each threshold set (mean ± sample std over the seeds that reached it, k/n reached),
  best metrics within the budget and the best FID over the floor, the copying test,
  total train and eval seconds."""
  rows = by_dataset(rows)
  cols = _columns(rows, budget_seconds)
  lines = ['| ' + ' | '.join(h for h, _ in cols) + ' |', '|' + '---|' * len(cols)]
  lines += ['| ' + ' | '.join(cell(r) for _, cell in cols) + ' |' for r in rows]
  return ('Time is training wall time (evaluations excluded). Mean ± sample std (ddof=1) '
          'over seeds; times to a threshold over the seeds that reached it (k/n).\n\n'
          + '\n'.join(lines) + '\n\n' + '\n'.join(_notes(rows)) + '\n')


def mean_curve(histories, metric):
  """(train_seconds [S], values [S]): means over the seeds at each step that every seed
  evaluated, then at the seeds' last evaluations (a budget ends each seed at its own step)."""
  runs = [[e for e in h if e.get(metric) is not None and e['train_seconds'] is not None]
          for h in histories]
  runs = [r for r in runs if r]
  if not runs:
    return np.zeros(0), np.zeros(0)
  common = set.intersection(*({e['step'] for e in r} for r in runs))
  points = [[e for r in runs for e in r if e['step'] == step]
            for step in sorted(common)]
  last = [r[-1] for r in runs]
  if not common or any(e['step'] > max(common) for e in last):
    points.append(last)
  xs = [np.mean([e['train_seconds'] for e in p]) for p in points]
  ys = [np.mean([e[metric] for e in p]) for p in points]
  return np.asarray(xs), np.asarray(ys)
