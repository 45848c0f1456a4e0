"""What a report shows, read from a workdir: metrics.jsonl as series (resumes found),
the panels of the curves figure, floors, sample grids cut into cells, sweep seed bands.

Pure functions of files and arrays: no drawing here (that is plots.py), so the
numbers a figure shows can be checked against metrics.jsonl directly.
"""

import json
import math
import os
import re

import numpy as np

# Training metrics shown on panels of their own (the rest: one panel per group below).
LOSSES = ('d_loss', 'g_loss')
D_OUTPUTS = ('d_real', 'd_fake')
D_PROBS = ('d_real_prob', 'd_fake_prob', 'd_acc')
GROUPS = {'penalties': ('gp', 'r1', 'r2', 'lecam'), 'augmentation': ('augment_p', 'ada_rt')}
GROUP_UNITS = {'penalties': 'weighted penalty (loss units)',
               'augmentation': 'p (probability), r_t (mean sign)'}
NAMES = {'d_real': 'D(x)', 'd_fake': 'D(G(z))', 'd_real_prob': 'sigmoid D(x)',
         'd_fake_prob': 'sigmoid D(G(z))', 'd_acc': 'D accuracy'}
EMPTY = "''"   # how an empty override value shows in a label
FLOOR_LABELS = {'unseen': 'unseen-real floor', 'held-out half': 'held-out-half floor',
                '': 'real-vs-real floor'}
_STEP_PNG = re.compile(r'step_(\d+)\.png$')


def _parse(line):
  """One metrics.jsonl line -> dict, or None. A line cut by a kill and continued by the
  resumed run ('{"step": 9, "d_lo{"step": 8, ...}') still yields the continuation."""
  for start in (0, line.rfind('{"step"')):
    if start < 0:
      continue
    try:
      row = json.loads(line[start:])
    except json.JSONDecodeError:
      continue
    if isinstance(row, dict) and isinstance(row.get('step'), int):
      return row
  return None


def read_metrics(path):
  """metrics.jsonl -> {'rows': [dict], 'skipped': lines that do not parse, 'cut_last':
  whether the last line is cut (a kill mid-write, or a write in progress)}."""
  if not os.path.exists(path):
    return {'rows': [], 'skipped': 0, 'cut_last': False}
  with open(path, errors='replace') as f:
    lines = [l for l in f.read().split('\n') if l.strip()]
  rows = [_parse(l) for l in lines]
  return {'rows': [r for r in rows if r is not None],
          'skipped': sum(r is None for r in rows),
          'cut_last': bool(rows) and rows[-1] is None}


# train.py's clocks (training and evaluation seconds so far): a run's time, not a metric
# of its step; they ride on training and eval rows alike.
CLOCKS = ('train_seconds', 'eval_seconds')


def _is_training(row):
  return any(k not in ('step', 'steps_per_sec', *CLOCKS) and not k.startswith('eval/')
             for k in row)


def prepare_series(rows):
  """metrics.jsonl rows -> {'series': {name: (steps int [T], values float [T])},
  'restarts': [step]}: per metric the last value logged at each step (a resumed run
  re-logs steps), sorted by step. A restart is a training row whose step is not past
  the previous training row's, or (when the run logs steps_per_sec, which a fresh
  process cannot give for its first row) a later training row without steps_per_sec;
  its step is the first one the restarted process logged."""
  last, restarts, prev = {}, [], None
  rated = any('steps_per_sec' in r for r in rows)
  for row in rows:
    step = row['step']
    if _is_training(row):
      if prev is not None and (step <= prev or (rated and 'steps_per_sec' not in row)):
        restarts.append(step)
      prev = step
    for name, value in row.items():
      if name != 'step' and isinstance(value, (int, float)) and not isinstance(value, bool):
        last.setdefault(name, {})[step] = float(value)
  series = {}
  for name, by_step in last.items():
    steps = np.array(sorted(by_step), np.int64)
    series[name] = (steps, np.array([by_step[s] for s in steps], np.float64))
  return {'series': series, 'restarts': restarts}


def ema(values, weight):
  """Debiased exponential moving average of values [T] (TensorBoard's smoothing)."""
  out, acc = np.empty(len(values)), 0.0
  for i, v in enumerate(np.asarray(values, np.float64)):
    acc = weight * acc + (1.0 - weight) * v
    out[i] = acc / (1.0 - weight ** (i + 1)) if weight else v
  return out


def _line(name, steps, values, style='raw', label=None):
  return {'name': name, 'label': label or NAMES.get(name, name), 'x': steps, 'y': values,
          'style': style}


def _panel(title, ylabel, lines, right=(), right_ylabel='', hlines=()):
  return {'title': title, 'ylabel': ylabel, 'lines': list(lines), 'right': list(right),
          'right_ylabel': right_ylabel, 'hlines': list(hlines)}


def _loss_panel(series, smoothing, loss_name):
  lines = []
  for n in (n for n in LOSSES if n in series):
    lines += [_line(n, *series[n], 'raw', f'{n} (logged)'),
              _line(n, series[n][0], ema(series[n][1], smoothing), 'smooth',
                    f'{n} (EMA {smoothing:g})')]
  unit = f' ({loss_name})' if loss_name else ''
  return _panel(f'losses: thin = logged mean, thick = debiased EMA of weight {smoothing:g} '
                'over logged points', f'loss{unit}', lines)


def _d_panel(series):
  # D(x) and its sigmoid share a colour, as do D(G(z)) and its sigmoid
  hue = {'d_real': 0, 'd_real_prob': 0, 'd_fake': 1, 'd_fake_prob': 1, 'd_acc': 2}
  return _panel('D outputs: mean over the batch (solid: raw, dashed: sigmoid)',
                'mean D output (logit / critic score)',
                [dict(_line(n, *series[n], 'main'), colour=hue[n])
                 for n in D_OUTPUTS if n in series],
                [dict(_line(n, *series[n], 'prob'), colour=hue[n])
                 for n in D_PROBS if n in series], 'probability')


def _is_fid(metric):
  return metric == 'fid' or metric.endswith('_fid')


def floor_lines(metric, floors, kind=''):
  """The horizontal lines of an eval panel: the metric's floor (labelled by the real
  images it is of, and its value) and, for a FID, 2x and 3x it (the leaderboard's
  thresholds); [] when the metric has no floor."""
  if metric not in floors:
    return []
  value = floors[metric]
  out = [{'y': value, 'label': f'{FLOOR_LABELS.get(kind, FLOOR_LABELS[""])} {value:.3g}',
          'style': 'floor'}]
  if _is_fid(metric):
    out += [{'y': k * value, 'label': f'{k}x floor', 'style': 'multiple'} for k in (2, 3)]
  return out


def _eval_panel(series, name, floors, kind=''):
  metric = name[len('eval/'):]
  line = _line(name, *series[name], 'eval', metric)
  if f'{name}_std' in series:   # KID's std over subsets: a band around it
    line['std'] = dict(zip(*series[f'{name}_std']))
  panel = _panel(f'eval: {metric}', metric, [line], hlines=floor_lines(metric, floors, kind))
  # A FID falls by decades: on a log axis its distance to 2x the floor stays readable.
  values = np.append(line['y'], [h['y'] for h in panel['hlines']])
  panel['log'] = _is_fid(metric) and bool(panel['hlines']) and bool((values > 0).all())
  return panel


def curve_panels(prepared, floors=None, smoothing=0.8, loss_name='', floor_kind=''):
  """The curves figure as data: [{'title', 'ylabel', 'lines': [{'name', 'label', 'x',
  'y', 'style'}], 'right': [...], 'right_ylabel', 'hlines': [{'y', 'label', 'style'}],
  'log': whether y is logarithmic (eval panels)}]; every x is step. Losses raw and
  EMA-smoothed, D outputs, other training groups, one panel per eval metric (its
  floor_lines: the floor of floor_kind's reals), steps/s."""
  series, panels = prepared['series'], []
  if any(n in series for n in LOSSES):
    panels.append(_loss_panel(series, smoothing, loss_name))
  if any(n in series for n in D_OUTPUTS + D_PROBS):
    panels.append(_d_panel(series))
  shown = {'steps_per_sec', *CLOCKS, *LOSSES, *D_OUTPUTS, *D_PROBS, *sum(GROUPS.values(), ())}
  groups = [(t, [n for n in names if n in series]) for t, names in GROUPS.items()]
  groups += [(n, [n]) for n in sorted(series) if n not in shown and not n.startswith('eval/')]
  panels += [_panel(title, GROUP_UNITS.get(title, 'value'),
                    [_line(n, *series[n], 'main') for n in names])
             for title, names in groups if names]
  panels += [_eval_panel(series, n, floors or {}, floor_kind) for n in sorted(series)
             if n.startswith('eval/') and not n.endswith('_std')]
  if 'steps_per_sec' in series:
    panels.append(_panel('training speed (between logged steps, including samples, '
                         'evals and checkpoints)', 'steps / s',
                         [_line('steps_per_sec', *series['steps_per_sec'], 'main')]))
  return panels


def sweep_panels(points, floors_by_metric=None):
  """points: [(label, [prepare_series() of each seed])] -> curve panels (as
  curve_panels), one per metric: a line per point, its mean over the seeds logged at each
  step, with their std as a band ('colour': the point's index)."""
  floors_by_metric = floors_by_metric or {}
  present = {n for _, runs in points for p in runs for n in p['series']}
  names = [n for n in LOSSES + D_OUTPUTS if n in present]
  names += sorted(n for n in present if n.startswith('eval/') and not n.endswith('_std'))
  panels = []
  for name in names:
    lines = []
    for i, (label, runs) in enumerate(points):
      got = [p['series'][name] for p in runs if name in p['series']]
      if got:
        steps, mean, std, n = seed_band(got)
        lines.append({'name': label, 'label': label, 'x': steps, 'y': mean, 'std': std,
                      'n': n, 'style': 'band', 'colour': i})
    metric = name[len('eval/'):] if name.startswith('eval/') else name
    hl = ([{'y': floors_by_metric[metric], 'label': 'real-vs-real floor (mean over runs)'}]
          if metric in floors_by_metric else [])
    panels.append(_panel(f'{NAMES.get(name, metric)}: mean ± std over seeds', metric, lines,
                         hlines=hl))
  return panels


def _floor_source(best, evals):
  """The result the floors come from: best.json (the n the training evals use), else
  the eval/*.json whose n is the most common; {} if none has a floor."""
  if best and best.get('floor'):
    return best
  with_floor = [e for e in evals if e.get('floor')]
  if not with_floor:
    return {}
  ns = [e.get('n') for e in with_floor]
  common = max(set(ns), key=ns.count)
  return next(e for e in with_floor if e.get('n') == common)


def floors(best, evals):
  """{metric: real-vs-real floor}: best.json's, else the eval/*.json whose n is the most
  common."""
  return dict(_floor_source(best, evals).get('floor') or {})


def floor_kind(best, evals):
  """Which real images floors() scored: 'unseen' (a split the run never trained on),
  'held-out half' (of the training split) or '' (not recorded: older results)."""
  return _floor_source(best, evals).get('floor_kind', '')


def clocks(prepared):
  """(training seconds, evaluation seconds) the run logged last, or None (runs logged
  before train.py kept them)."""
  series = prepared['series']
  if 'train_seconds' not in series:
    return None
  return tuple(float(series[n][1][-1]) if n in series else 0.0 for n in CLOCKS)


def training_time(prepared):
  """Seconds of training estimated from steps_per_sec: each logged interval's length
  over its rate; intervals without a rate (each session's first) at the median rate."""
  series = prepared['series']
  if 'steps_per_sec' not in series or not any(n in series for n in LOSSES):
    return None
  steps = next(series[n][0] for n in LOSSES if n in series)
  rate = dict(zip(*series['steps_per_sec']))
  median = float(np.median(list(rate.values())))
  total, prev = 0.0, 0
  for s in steps:
    total += (s - prev) / rate.get(s, median)
    prev = s
  return total


def mean_floors(floor_dicts):
  """{metric: mean floor} over runs' floors (each run's reference set has its seed)."""
  values = {}
  for f in floor_dicts:
    for k, v in f.items():
      values.setdefault(k, []).append(v)
  return {k: float(np.mean(v)) for k, v in values.items()}


def final_bars(names, groups, rows):
  """The sweep's final-metrics chart as data: [(metric, [(mean, std, [seed values]) or
  None per point name])], from sweep.aggregate groups and their rows."""
  by_point = {g['point']: g for g in groups}
  present = {k for g in groups for k, v in g.items() if isinstance(v, tuple)}
  evals = sorted(k for k in present if k.startswith('final_') and not k.endswith('_std'))
  metrics = evals + [k for k in ('best_value',) + LOSSES + D_OUTPUTS if k in present]
  bars = []
  for metric in metrics:
    cells = []
    for name in names:
      g = by_point.get(name, {})
      seeds = [r[metric] for r in rows if r['point'] == name and metric in r]
      cells.append((*g[metric], seeds) if metric in g else None)
    bars.append((metric, cells))
  return bars


def tensorboard_sessions(workdir):
  """[(start, last write)] in seconds since the epoch, one per process that logged: the
  TensorBoard event files are named by their start time."""
  d = os.path.join(workdir, 'tensorboard')
  out = []
  for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    m = re.match(r'events\.out\.tfevents\.(\d+)\.', name)
    if m:
      out.append((int(m.group(1)), os.path.getmtime(os.path.join(d, name))))
  return sorted(out)


def sample_steps(workdir):
  """[(step, path)] of WORKDIR/samples/step_*.png, by step."""
  d = os.path.join(workdir, 'samples')
  if not os.path.isdir(d):
    return []
  found = [(int(m.group(1)), os.path.join(d, f)) for f in os.listdir(d)
           if (m := _STEP_PNG.search(f))]
  return sorted(found)


def grid_layouts(height, width, side, pad=2):
  """[(cell h, cell w, scale)] that a hooks.grid_writer grid image [height, width] of
  side x side cells, `pad` px apart and nearest-upscaled by scale = ceil(256 / (side *
  h)) (at least 1), may have; largest scale first (a size alone can fit two)."""
  out = []
  for scale in range(max(height, width), 0, -1):
    if height % scale or width % scale:
      continue
    h, rh = divmod(height // scale - pad, side)
    w, rw = divmod(width // scale - pad, side)
    if rh or rw or h <= pad or w <= pad:
      continue
    if scale == max(1, math.ceil(256 / (side * (h - pad)))):
      out.append((h - pad, w - pad, scale))
  return out


def _fits(image, h, w, scale, pad):
  """Whether `image` is scale x scale blocks, with black `pad`-px lines between h x w
  cells."""
  small = image[::scale, ::scale]
  if not np.array_equal(np.repeat(np.repeat(small, scale, 0), scale, 1), image):
    return False
  lines = lambda n, cell: np.arange(n) % (cell + pad) < pad
  return not (small[lines(small.shape[0], h)].any() or small[:, lines(small.shape[1], w)].any())


def grid_cells(image, side, pad=2):
  """A sample grid uint8 [H,W,C] -> its cells uint8 [side, side, h, w, C] at the
  generated resolution; None if the image is not a side x side grid."""
  for h, w, scale in grid_layouts(image.shape[0], image.shape[1], side, pad):
    if _fits(image, h, w, scale, pad):
      small = image[::scale, ::scale]
      return np.asarray([[small[pad + r * (h + pad):pad + r * (h + pad) + h,
                                pad + c * (w + pad):pad + c * (w + pad) + w]
                          for c in range(side)] for r in range(side)])
  return None


def strip_rows(cells, num_classes=0, class_names=(), latents=6):
  """The progress strip's rows from each step's grid cells [side, side, h, w, C]: for a
  conditional model the first cell of each grid row (row i is class i), one row per
  class; else the first `latents` cells. Returns ([uint8 [steps, h, w, C]], labels)."""
  side = cells[0].shape[0]
  if num_classes:
    n = min(side, num_classes)
    picked = [c[:n, 0] for c in cells]
    names = list(class_names) or [str(i) for i in range(num_classes)]
    labels = [f'class {names[i]}' for i in range(n)]
  else:
    n = min(latents, side * side)
    picked = [c.reshape(-1, *c.shape[2:])[:n] for c in cells]
    labels = [f'z{i + 1}' for i in range(n)]
  return [np.stack([p[r] for p in picked]) for r in range(n)], labels


def pick_steps(steps, count):
  """At most `count` of the sorted `steps`, evenly spread, first and last included."""
  if len(steps) <= count:
    return list(steps)
  if count == 1:
    return [steps[-1]]
  idx = np.unique(np.round(np.linspace(0, len(steps) - 1, count)).astype(int))
  return [steps[i] for i in idx]


def seed_band(series_list):
  """[(steps [T_i], values [T_i])] of one metric over seeds -> (steps [T], mean [T],
  std [T] (nan where one seed), n [T]) over the seeds logged at each step."""
  by_step = {}
  for steps, values in series_list:
    for s, v in zip(steps, values):
      by_step.setdefault(int(s), []).append(v)
  steps = np.array(sorted(by_step), np.int64)
  vals = [np.asarray(by_step[s]) for s in steps]
  mean = np.array([v.mean() for v in vals])
  std = np.array([v.std(ddof=1) if len(v) > 1 else np.nan for v in vals])
  return steps, mean, std, np.array([len(v) for v in vals])


def parse_point_name(name):
  """sweep.point_name text -> [(field, value)]; a comma inside a value ('policy=color,
  translation') joins the token to the value before it."""
  pairs = []
  for token in name.split(','):
    if '=' in token:
      pairs.append(list(token.split('=', 1)))
    elif pairs:
      pairs[-1][1] += ',' + token
  return [tuple(p) for p in pairs]


def point_labels(names):
  """Short legend labels for sweep points: the fewest fields whose values tell the points
  apart (greedily, most distinct values first), as 'last_part=value'."""
  pairs = [dict(parse_point_name(n)) for n in names]
  fields = sorted({f for p in pairs for f in p})
  chosen = []
  distinct = lambda fs: len({tuple(p.get(f) for f in fs) for p in pairs})
  while distinct(chosen) < len(set(names)) and len(chosen) < len(fields):
    chosen.append(max((f for f in fields if f not in chosen),
                      key=lambda f: (distinct(chosen + [f]), -fields.index(f))))
  chosen.sort(key=fields.index)
  label = lambda p: ' '.join(f'{f.split(".")[-1]}={p.get(f) or EMPTY}' for f in chosen)
  return [label(p) if chosen else n for p, n in zip(pairs, names)]
