"""The report's index.html: one self-contained page (inline CSS, images beside it by
relative path, no script, no network) for a run or for a sweep."""

import datetime
import html
import math
import os
import urllib.parse

from ganjax.report.data import FLOOR_LABELS, parse_point_name

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px;
       padding: 0 1em; color: #111; line-height: 1.4; overflow-wrap: anywhere; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; }
.path, .meta { color: #555; font-size: 0.9em; }
.path { font-family: monospace; }
.notes { background: #fff4d6; border-left: 4px solid #E69F00; padding: 0.5em 1em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child { white-space: nowrap; }
img { max-width: 100%; border: 1px solid #ddd; image-rendering: pixelated; }
img.plot { image-rendering: auto; }
figure { margin: 0.5em 0 1.2em; } figcaption { color: #444; font-size: 0.88em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
nav a { margin-right: 1em; } .row { display: flex; gap: 2em; flex-wrap: wrap; }
.glance { display: flex; gap: 1.5em; align-items: flex-start; } .glance img { flex: none; }
.glance figure { flex: none; margin: 0; }
"""
e = html.escape


def fmt(value):
  """A number to 4 significant digits, anything else as text."""
  if isinstance(value, float):
    return 'nan' if math.isnan(value) else f'{value:.4g}'
  return str(value)


def pm(cell):
  """(mean, std) -> 'mean ± std' ('mean' for one seed)."""
  mean, std = cell
  if math.isnan(std):
    return fmt(mean)
  spread = f'{std:.2g}'
  return f'{fmt(mean)} ± {spread if "e" not in spread else f"{std:.0f}"}'


def table(header, rows, numeric=(), show_header=True):
  """An HTML table of escaped cells; columns named in `numeric` align right."""
  head = ''.join(f'<th>{e(str(h))}</th>' for h in header)
  body = ''.join('<tr>' + ''.join(
      f'<td{" class=num" if h in numeric else ""}>{c if isinstance(c, Raw) else e(fmt(c))}'
      '</td>' for h, c in zip(header, row)) + '</tr>' for row in rows)
  return f'<table>{f"<tr>{head}</tr>" if show_header else ""}{body}</table>'


class Raw(str):
  """Markup that table() inserts unescaped (a link)."""


def href(path):
  """A relative path as a URL (point names hold '=' and ',')."""
  return urllib.parse.quote(path.replace(os.sep, '/'))


def figure(src, caption, plot=True):
  """An <img> beside the page with a caption."""
  cls = ' class=plot' if plot else ''
  return (f'<figure><img{cls} src="{href(src)}" alt="{e(caption)}">'
          f'<figcaption>{e(caption)}</figcaption></figure>')


def page(title, path, sections, notes, written):
  """The whole document: title, the notes on what is missing, a contents line, sections
  [(anchor, heading, body html)]."""
  nav = ' '.join(f'<a href="#{a}">{e(h)}</a>' for a, h, _ in sections)
  note = ('<div class=notes><b>Missing or incomplete:</b><ul>'
          + ''.join(f'<li>{e(n)}</li>' for n in notes) + '</ul></div>') if notes else ''
  body = ''.join(f'<h2 id="{a}">{e(h)}</h2>{b}' for a, h, b in sections)
  return (f'<!DOCTYPE html><html lang=en><head><meta charset="utf-8"><title>{e(title)}'
          f'</title><style>{CSS}</style></head><body><h1>{e(title)}</h1>'
          f'<div class=path>{e(os.path.abspath(path))}</div>{note}<nav>{nav}</nav>{body}'
          f'<p class=meta>Written {e(written)} by <code>python -m experiments.report '
          f'--workdir={e(path)}</code>; rerun it to refresh.</p></body></html>')


def _duration(seconds):
  return str(datetime.timedelta(seconds=round(seconds)))


def _last_step(prepared):
  return max((int(s[-1]) for s, _ in prepared['series'].values()), default=0)


def _curves_section(p):
  prepared, opt = p['prepared'], p['options']
  if not p.get('curves'):
    return '<p>No curves: nothing logged yet.</p>'
  restarts = prepared['restarts']
  resumed = (f'Dotted verticals: the run was resumed (first step logged after a restart: '
             f'{", ".join(map(str, restarts))}).' if restarts else 'No resume seen.')
  return figure(p['curves'], f'Logged metrics against step. Losses are shown raw and as a '
                f'debiased EMA of weight {opt.smoothing:g} over logged points. Eval panels '
                f'show {_floor_words(p)} dashed where known (FID panels: 2x and 3x it '
                f'dotted, the leaderboard\'s thresholds). {resumed}')


FLOOR_MEANINGS = {'unseen': ' (real images the run never trained on)',
                  'held-out half': ' (a half of the training split)'}


def _floor_words(p):
  kind = p.get('floor_kind') or ''
  return f'the {FLOOR_LABELS.get(kind, FLOOR_LABELS[""])}{FLOOR_MEANINGS.get(kind, "")}'


def _samples_section(p):
  images, out = p.get('images') or {}, []
  if 'progress' in images:
    name, steps = images['progress']
    out.append(figure(name, 'The same fixed noise at steps ' + ', '.join(map(str, steps))
                      + ' (one column per step; a conditional model: one row per class).',
                      plot=False))
  row = []
  if 'latest' in images:
    row.append(figure(images['latest'][0], f'Generated: the latest grid, step '
                      f'{images["latest"][1]}.', plot=False))
  else:
    out.append('<p>No samples yet.</p>')
  row.append(_real_figure(p))   # beside the generated grid, in its layout
  if 'gif' in images:
    row.append(figure(images['gif'][0], f'{images["gif"][1]} of the {images["samples"]} '
                      f'grids as a GIF, {p["options"].gif_ms} ms a frame.', plot=False))
  out.append(f'<div class=row>{"".join(row)}</div>')
  return ''.join(out)


def _real_caption(p):
  """What real.png shows: which images, drawn how, laid out how."""
  flat, real = p['config'], p['real']
  data = f'{flat.get("data.name")} ({flat.get("data.split")} split)'
  if real.get('labels') is None:
    layout = 'in the same layout as the generated grid'
  else:
    names = p.get('classes') or []
    rows = real['labels'][::real['key']['side']]
    layout = 'in the generated grid\'s layout, one row per class: ' + ', '.join(
        names[c] if c < len(names) else str(c) for c in rows)
  return (f'Real: training images of {data}, a seeded draw (seed {real["key"]["seed"]}), '
          f'{layout}.')


def _real_figure(p):
  """real.png beside the latest grid, or one line on why it is not there."""
  if p.get('real'):
    return figure('real.png', _real_caption(p), plot=False)
  if not p['config']:
    return ''
  return ('<p>No real images beside the samples: they could not be drawn (the notes at '
          'the top say why).</p>')


def _best_text(best):
  """'domain_fid 44 at step 900: 2.0x the unseen-real floor 22 (n = 5000)'."""
  text = f'{best["metric"]} {fmt(best.get("value"))} at step {best.get("step")}'
  floor, value = (best.get('floor') or {}).get(best['metric']), best.get('value')
  if floor is None:
    return text
  label = FLOOR_LABELS.get(best.get('floor_kind', ''), FLOOR_LABELS[''])
  times = f'{value / floor:.1f}x the ' if floor > 0 and isinstance(value, (int, float)) else ''
  return text + f': {times}{label} {fmt(floor)} (n = {best.get("n")})'


def metric_table(result):
  """An eval result's {'metrics', 'floor'} as a metric / value / floor table (the floor
  named by the real images it is of)."""
  floor = result.get('floor') or {}
  head = FLOOR_LABELS.get(result.get('floor_kind', ''), FLOOR_LABELS[''])
  return table(('metric', 'value', head),
               [(k, v, floor.get(k, '')) for k, v in result['metrics'].items()],
               numeric=('value', head))


def _eval_section(p):
  out, best = [], p.get('best')
  if isinstance(best, dict) and 'metric' in best:
    out.append(f'<h3>Best checkpoint (best.json)</h3><p>{e(best["metric"])} = '
               f'{e(fmt(best.get("value")))} at step {e(str(best.get("step")))}, n = '
               f'{e(str(best.get("n")))} generated images, feature space '
               f'<code>{e(str(best.get("feature_space")))}</code>; its weights are in '
               '<code>best/</code>.</p>')
    if isinstance(best.get('metrics'), dict):
      out.append(metric_table(best))
  else:
    out.append('<p>No best.json: the run has not evaluated during training '
               '(<code>--config.eval_every</code>).</p>')
  for name, result in p.get('evals', []):
    out.append(f'<h3>eval/{e(name)}.json</h3><p>step {e(str(result.get("step", "?")))}, '
               f'{e(str(result.get("weights", "")))} weights, n = {e(str(result.get("n")))}'
               f'</p>' + metric_table(result))
  if not p.get('evals'):
    out.append('<p>No eval/*.json: score a checkpoint with <code>python -m '
               'experiments.evaluate --workdir=...</code>.</p>')
  return ''.join(out)


def _time_section(p):
  rows = [('devices', p['run_info'].get('devices') or 'not recorded (training records '
           'them when it writes the report at its end)')]
  flat = p['config']
  rows.append(('steps', f'{_last_step(p["prepared"])} of {flat.get("num_steps", "?")}'))
  if p.get('clocks'):
    rows.append(('training time', f'{_duration(p["clocks"][0])} measured (wall time, '
                 f'start-up and compilation included), plus {_duration(p["clocks"][1])} of '
                 'evaluation'))
  elif p.get('time') is not None:
    rows.append(('training time (estimate)', f'≈ {_duration(p["time"])}, from the logged '
                 'steps/s (each session\'s first interval, compilation included, at the '
                 'median rate)'))
  sessions = p.get('sessions') or []
  if sessions:
    wall = sum(end - start for start, end in sessions)
    stamp = lambda t: datetime.datetime.fromtimestamp(t).strftime('%Y-%m-%d %H:%M')
    rows.append(('sessions', f'{len(sessions)} process start(s) (TensorBoard event files); '
                 f'wall clock {_duration(wall)} from each start to its last write; first '
                 f'start {stamp(sessions[0][0])}, last write {stamp(sessions[-1][1])}'))
  return table(('', ''), rows, show_header=False)


def _config_section(p):
  flat, defaults, source = p['config'], p.get('defaults') or {}, p.get('defaults_from')
  if not flat:
    return '<p>No config.json.</p>'
  shown = lambda v: "''" if v == '' else v   # an empty string, visibly
  if source:
    differ = [(k, shown(flat.get(k, '(unset)')), shown(defaults.get(k, '(unset)')))
              for k in sorted(set(flat) | set(defaults)) if flat.get(k) != defaults.get(k)]
    head = (f'<p>Fields that differ from <code>{e(source)}</code>, the config file closest '
            f'to this run\'s config.json ({len(differ)} fields differ):</p>'
            + table(('field', 'value', f'in {source}'), differ))
  else:
    head = '<p>The configs package is not importable: no defaults to compare with.</p>'
  return head + (f'<details><summary>All {len(flat)} fields (config.json; fields newer '
                 'than it at the values it trained with)</summary>'
                 + table(('field', 'value'), [(k, shown(v)) for k, v in sorted(flat.items())])
                 + '</details>')


def _last(prepared, name):
  series = prepared['series'].get(name)
  return None if series is None else (int(series[0][-1]), float(series[1][-1]))


def _overview(p):
  """The run at a glance: where it is, its last losses and D outputs, its best score."""
  flat, prepared, rows = p['config'], p['prepared'], []
  step, total = _last_step(prepared), flat.get('num_steps')
  state = ('finished' if total and step >= total else
           'not finished: still training, or stopped (rerun the command to resume)')
  rows.append(('step', f'{step} of {total if total else "?"}: {state}'))
  if flat:
    rows.append(('model', f'{flat.get("model.name")} on {flat.get("data.name")}'
                 f'{" (conditional)" if flat.get("model.conditional") else ""}, loss '
                 f'{flat.get("loss.name")}, batch {flat.get("batch_size")}'))
  logged = [(n, _last(prepared, n)) for n in ('d_loss', 'g_loss', 'd_real', 'd_fake',
                                               'd_real_prob', 'd_fake_prob')]
  if any(v for _, v in logged):
    rows.append(('last logged', ', '.join(f'{n} {fmt(v[1])}' for n, v in logged if v)
                 + f' (step {next(v[0] for _, v in logged if v)})'))
  best = p.get('best')
  if isinstance(best, dict) and 'metric' in best:
    rows.append(('best eval', _best_text(best)))
  restarts = prepared['restarts']
  rows.append(('resumes', f'{len(restarts)} (first steps logged after: '
                          f'{", ".join(map(str, restarts))})' if restarts else 'none seen'))
  if p.get('clocks'):
    rows.append(('training time', f'{_duration(p["clocks"][0])} (+ '
                                  f'{_duration(p["clocks"][1])} evaluation)'))
  elif p.get('time') is not None:
    rows.append(('training time', f'≈ {_duration(p["time"])} (estimate from steps/s)'))
  return f'<div class=glance>{_thumbs(p)}{table(("", ""), rows, show_header=False)}</div>'


def _thumbs(p):
  """The latest grid and the real one, small, captioned."""
  images, out = p.get('images') or {}, []
  if 'latest' in images:
    out.append(f'<figure><img src="{href(images["latest"][0])}" alt="latest grid" width=200>'
               f'<figcaption>generated, step {images["latest"][1]}</figcaption></figure>')
  if 'latest' in images and p.get('real'):
    out.append('<figure><img src="real.png" alt="real training images" width=200>'
               '<figcaption>real (training data)</figcaption></figure>')
  return ''.join(out)


def run_page(p):
  """The index.html of one run, from write_run's page dict."""
  sections = [('overview', 'At a glance', _overview(p)),
              ('curves', 'Curves', _curves_section(p)),
              ('samples', 'Samples', _samples_section(p)),
              ('eval', 'Evaluation', _eval_section(p)),
              ('time', 'Training time and devices', _time_section(p)),
              ('config', 'Config', _config_section(p)),
              ('model', 'Model', f'<pre>{e(p.get("summary") or "(no config.json)")}</pre>')]
  parts = os.path.normpath(os.path.abspath(p['workdir'])).split(os.sep)
  name = os.path.join(*parts[-2:]) if parts[-1].startswith('seed_') else parts[-1]
  return page(f'ganjax run: {name}', p['workdir'], sections, p['notes'], p['written'])


def _points_table(p):
  rows = []
  for name, label in zip(p['names'], p['labels']):
    seeds = []
    for run in (r for r in p['runs'] if r['point'] == name):
      text = e(f'seed {run["seed"]}: ')
      if not run.get('started'):
        seeds.append(text + 'not started')
        continue
      text += e(f'step {run.get("final", {}).get("step", 0)}')
      if run.get('report'):
        rel = os.path.relpath(run['report'], os.path.join(p['workdir'], 'report'))
        text += f' (<a href="{href(rel)}">report</a>)'
      seeds.append(text)
    pairs = Raw('<br>'.join(e(f'{k}={v}') for k, v in parse_point_name(name)) or e(name))
    rows.append((label.split()[0], ' '.join(label.split()[1:]), pairs, Raw('<br>'.join(seeds))))
  return table(('point', 'label', 'overrides', 'seeds'), rows)


def _results_table(groups, labels, names):
  """One row per metric, one column per point: mean ± std over its seeds."""
  metrics = []
  for g in groups:
    metrics += [k for k, v in g.items() if isinstance(v, tuple) and k not in metrics]
  by_point = {g['point']: g for g in groups}
  cols = [(label, by_point[n]) for label, n in zip(labels, names) if n in by_point]
  rows = [('seeds', *[g['n'] for _, g in cols])]
  rows += [(m, *[pm(g[m]) if m in g else '' for _, g in cols]) for m in metrics]
  return table(('metric', *[s for s, _ in cols]), rows, numeric=[s for s, _ in cols])


def sweep_page(p):
  """The index.html of a sweep, from write_sweep's page dict."""
  sections = []
  if p['groups']:
    sections.append(('results', 'Results (mean ± std over seeds)',
                     '<p>The last logged values of each run (runs still training are at '
                     'the step shown under Points, which names P1, P2, ...).</p>'
                     + _results_table(p['groups'], p['labels'], p['names'])))
  if p.get('curves'):
    sections.append(('curves', 'Curves', figure(
        p['curves'], 'Per metric, one line per point: the mean over its seeds logged at '
        'each step, the band ± one std (where 2+ seeds); eval panels: the real-vs-real '
        'floor dashed.')))
  if p.get('bars'):
    sections.append(('final', 'Final metrics', figure(
        p['bars'], 'Bars: mean over seeds, error bars: std, dots: the seeds.')))
  if p.get('grids'):
    sections.append(('grids', 'Latest grids', figure(
        p['grids'], 'Each point\'s latest sample grid (its first seed with samples).',
        plot=False)))
  sections.append(('points', 'Points', _points_table(p)))
  name = os.path.basename(os.path.normpath(p['workdir']))
  return page(f'ganjax sweep: {name}', p['workdir'], sections, p['notes'], p['written'])
