"""Seeded sweeps: the points (grid overrides x seeds), their workdirs, and the results table.

A point is a dict of config overrides plus a seed; it trains in W/<grid name>/seed_<s>
with the core's resume, so rerunning a sweep skips finished points and resumes partial
ones. The results table reads each point's metrics.jsonl and best.json.
"""

import csv
import importlib.util
import itertools
import json
import math
import os
import re

import numpy as np

from ganjax.errors import GanjaxError

FINAL_METRICS = ('d_loss', 'g_loss', 'd_real', 'd_fake')


def parse_seeds(spec, default):
  """'0-7' | '1,4,9' | '' (the config's seed) -> sorted unique list of ints."""
  if not spec:
    return [default]
  seeds = set()
  for part in spec.split(','):
    m = re.fullmatch(r'\s*(\d+)\s*(?:-\s*(\d+)\s*)?', part)
    if not m:
      raise GanjaxError(f"--seeds={spec!r}: use a range like 0-7 or a list like 1,4,9")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if hi < lo:
      raise GanjaxError(f'--seeds={spec!r}: empty range {lo}-{hi}')
    seeds.update(range(lo, hi + 1))
  return sorted(seeds)


def _field(config, name):
  node = config
  for part in name.split('.'):
    if not hasattr(node, 'keys') or part not in node:
      raise GanjaxError(f'--grid: the config has no field {name!r} (check the spelling)')
    node = node[part]
  return node


def _cast(config, name, text):
  """The string `text` as the type of config field `name`."""
  current = _field(config, name)
  if isinstance(current, bool):
    if text.lower() not in ('true', 'false'):
      raise GanjaxError(f'--grid {name}={text!r}: use true or false')
    return text.lower() == 'true'
  try:
    return type(current)(text) if isinstance(current, (int, float, str)) else text
  except ValueError:
    raise GanjaxError(f'--grid {name}={text!r}: expected a {type(current).__name__}') from None


def parse_grid(config, specs):
  """['a.b=1,2', 'c=x,y'] -> {'a.b': [1, 2], 'c': ['x', 'y']} typed like the config."""
  grid = {}
  for spec in specs or []:
    name, sep, values = spec.partition('=')
    if not sep or not values:
      raise GanjaxError(f"--grid={spec!r}: use FIELD=V1,V2 (e.g. 'd_steps=1,2')")
    name = name.strip()
    grid[name] = [_cast(config, name, v.strip()) for v in values.split(',')]
  return grid


def load_sweep(config_path, config):
  """The config file's get_sweep(): {field: [values]} (a grid) or [{field: value}, ...]."""
  path = config_path.split(':')[0]
  spec = importlib.util.spec_from_file_location('_ganjax_sweep_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_sweep'):
    return None
  sweep = module.get_sweep()
  if isinstance(sweep, dict):
    return [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]
  for point in sweep:
    for name in point:
      _field(config, name)
  return [dict(p) for p in sweep]


def grid_points(grid):
  """{field: [values]} -> the cartesian list of override dicts (one {} for no grid)."""
  return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def point_name(overrides):
  """A directory name for a grid point: 'd_steps=2,loss.generator=minimax' ('base')."""
  if not overrides:
    return 'base'
  name = ','.join(f'{k}={overrides[k]}' for k in sorted(overrides))
  return re.sub(r'[^A-Za-z0-9_.,=+-]', '_', name)


def point_workdir(root, overrides, seed):
  """W/<point name>/seed_<seed>."""
  return os.path.join(root, point_name(overrides), f'seed_{seed}')


def apply(config, overrides, seed):
  """A copy of config with the overrides and the seed set."""
  point = config.copy_and_resolve_references()
  for name, value in overrides.items():
    *parents, leaf = name.split('.')
    node = point
    for p in parents:
      node = node[p]
    _field(config, name)
    node[leaf] = value
  point.seed = seed
  return point


def read_point(workdir):
  """Final training metrics, final eval metrics and best.json of one point."""
  final, evals, step = {}, {}, 0
  path = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          row = json.loads(line)
        except json.JSONDecodeError:   # a line cut by a kill mid-write
          continue
        step = max(step, row.get('step', 0))
        final.update({k: v for k, v in row.items() if k in FINAL_METRICS})
        evals.update({k[len('eval/'):]: v for k, v in row.items() if k.startswith('eval/')})
  best = {}
  if os.path.exists(os.path.join(workdir, 'best.json')):
    with open(os.path.join(workdir, 'best.json')) as f:
      saved = json.load(f)
    best = {'best_metric': saved['metric'], 'best_value': saved['value'],
            'best_step': saved['step']}
  return {'step': step, **final, **{f'final_{k}': v for k, v in evals.items()}, **best}


def collect(root, points):
  """Rows (dicts) for each (overrides, seed) point that has a workdir."""
  rows = []
  for overrides, seed in points:
    workdir = point_workdir(root, overrides, seed)
    if os.path.isdir(workdir):
      rows.append({'point': point_name(overrides), 'seed': seed,
                   'workdir': os.path.relpath(workdir, root), **overrides,
                   **read_point(workdir), '_grid': sorted(overrides)})
  return rows


def aggregate(rows):
  """Per grid point: {'point', 'n', metric: (mean, std)} over its seeds' numeric metrics."""
  groups = {}
  for row in rows:
    groups.setdefault(row['point'], []).append(row)
  out = []
  for point, members in groups.items():
    agg = {'point': point, 'n': len(members), 'seeds': [m['seed'] for m in members]}
    fixed = {'point', 'seed', 'workdir', 'best_metric', '_grid', *members[0]['_grid']}
    names = [k for k in members[0] if k not in fixed]
    for name in names:
      values = [m.get(name) for m in members]
      if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        arr = np.asarray(values, np.float64)
        agg[name] = (float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else math.nan)
    out.append(agg)
  return out


def write_results(root, rows):
  """W/results.csv (one row per point) and W/results.md (mean ± std over seeds, n)."""
  columns = []
  for row in rows:
    columns += [k for k in row if k not in columns and k != '_grid']
  with open(os.path.join(root, 'results.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)
  groups = aggregate(rows)
  metrics = []
  for g in groups:
    metrics += [k for k in g if isinstance(g[k], tuple) and k not in metrics]
  lines = ['| point | n | ' + ' | '.join(metrics) + ' | workdirs |',
           '|' + '---|' * (len(metrics) + 3)]
  for g in groups:
    cells = [_pm(*g[m]) if m in g else '' for m in metrics]
    dirs = ', '.join(f'{g["point"]}/seed_{s}' for s in g['seeds'])
    lines.append(f'| {g["point"]} | {g["n"]} | ' + ' | '.join(cells) + f' | {dirs} |')
  with open(os.path.join(root, 'results.md'), 'w') as f:
    f.write('Mean ± std over seeds (n seeds per point); one row per grid point.\n\n'
            + '\n'.join(lines) + '\n')
  return groups


def _pm(mean, std):
  return f'{mean:.4g}' if math.isnan(std) else f'{mean:.4g} ± {std:.2g}'
