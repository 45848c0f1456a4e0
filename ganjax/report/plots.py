"""The report's pictures: curve panels and sweep bars (matplotlib, Agg), the progress
strip, the training GIF and grids side by side (Pillow, via figures.labelled_grid).

The panels come from report_data.curve_panels / sweep_panels: this file only draws.
matplotlib's object API (Figure, no pyplot) renders with Agg and keeps no global state,
so a report drawn at the end of training touches nothing else in the process.
"""

import os
import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator
from PIL import Image, ImageDraw

from ganjax import figures
from ganjax.report.data import grid_cells, strip_rows

# Okabe & Ito's colour-blind-safe palette (yellow last: faint on white).
PALETTE = ('#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000',
           '#F0E442')
DASHES = ('-', '--', '-.', ':')   # past 8 colours, lines also differ by dash
PANEL_W, PANEL_H, DPI = 6.0, 3.2, 100
# A floor dashed and dark; its multiples (the leaderboard's 2x, 3x) dotted and lighter.
HLINES = {'floor': dict(color='0.35', ls='--', lw=1.2),
          'multiple': dict(color='0.6', ls=':', lw=1.1)}


def colour(i):
  """The i-th line's (colour, linestyle)."""
  return PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]


def _rows(num_panels, columns):
  return -(-num_panels // columns)


def figure_size(num_panels, columns=2, top=0.0, panel_w=PANEL_W):
  """(width, height) in pixels of a figure of num_panels panels in `columns` columns with
  `top` inches above them."""
  return (round(panel_w * columns * DPI),
          round((PANEL_H * _rows(num_panels, columns) + top) * DPI))


def _figure(num_panels, columns, left=0.8, gap=1.4, right=0.7, top=0.0, panel_w=PANEL_W):
  """A Figure of num_panels axes, panel_w x PANEL_H inches a cell, with margins in inches:
  `left` of the first column, `gap` between columns, `right`, and `top` extra above.
  Fixed margins, no layout engine: constrained layout costs a second a figure."""
  rows = _rows(num_panels, columns)
  width, height = panel_w * columns, PANEL_H * rows + top
  title, xlabel = 0.55, 0.5   # room for a two-line title above each axes, a label below
  aw = (width - left - right - gap * (columns - 1)) / columns
  ah = PANEL_H - title - xlabel
  fig = Figure(figsize=(width, height), dpi=DPI)
  axes = fig.subplots(rows, columns, squeeze=False, gridspec_kw=dict(
      left=left / width, right=1 - right / width, wspace=gap / aw, bottom=xlabel / height,
      top=1 - (title + top) / height, hspace=(title + xlabel) / ah)).ravel()
  for ax in axes[num_panels:]:
    ax.set_visible(False)
  return fig, axes


def _symlog_threshold(lines):
  """When some lines' scale dwarfs the others' (a WGAN critic beside BCE points), the
  largest of the small lines' scales: a symlog axis linear up to it shows both; else
  None."""
  spans = [float(np.nanmax(np.abs(l['y']))) for l in lines if np.isfinite(l['y']).any()]
  typical = float(np.median(spans)) if len(spans) > 1 else 0.0
  small = [s for s in spans if s <= 20 * typical]
  return max(small) if typical > 0 and len(small) < len(spans) else None


def _draw_line(ax, line, index):
  c, dash = colour(line.get('colour', index))
  x, y = np.asarray(line['x']), np.asarray(line['y'])
  style = line['style']
  if style == 'raw':
    return ax.plot(x, y, color=c, lw=0.9, alpha=0.45, ls=dash, label=line['label'])[0]
  if style == 'prob':
    return ax.plot(x, y, color=c, lw=1.4, ls='--', label=line['label'])[0]
  handle = ax.plot(x, y, color=c, lw=1.5 if style == 'main' else 1.8, ls=dash,
                   label=line['label'],
                   marker='o' if style == 'eval' or len(x) < 3 else None, ms=3)[0]
  std = line.get('std')
  if isinstance(std, dict):
    std = np.array([std.get(s, np.nan) for s in x])
  if std is not None and np.isfinite(std).any():
    ax.fill_between(x, y - std, y + std, color=c, alpha=0.18, lw=0)
  return handle


def _colour_index(lines, offset=0):
  """Lines of the same metric (raw and smoothed) share a colour."""
  names = []
  for line in lines:
    if line['name'] not in names:
      names.append(line['name'])
  return [offset + names.index(l['name']) for l in lines]


def _symlog(ax, threshold):
  """A symlog y axis, linear within ±threshold, with ticks at 0, ±threshold (1 digit)
  and the decades past 5 times it (the default locator crowds ticks around 0)."""
  lo, hi = ax.get_ylim()
  ax.set_yscale('symlog', linthresh=threshold, linscale=2)
  t = float(f'{threshold:.1g}')
  ticks = {0.0, t, -t}
  decade = 10.0 ** np.ceil(np.log10(5 * t))
  while decade <= max(-lo, hi):
    ticks |= {decade, -decade}
    decade *= 10
  ticks = sorted(v for v in ticks if lo <= v <= hi)
  ax.set_yticks(ticks, [f'{v:g}' for v in ticks])
  ax.yaxis.set_minor_locator(NullLocator())
  ax.set_ylim(lo, hi)


def _draw_panel(ax, panel, restarts, span):
  """One panel's lines (right-axis ones on a twin axis), floors and resume markers;
  returns the legend handles."""
  handles = [_draw_line(ax, l, i) for l, i in zip(panel['lines'], _colour_index(panel['lines']))]
  if panel['right']:
    twin = ax.twinx()
    offset = len({l['name'] for l in panel['lines']})
    handles += [_draw_line(twin, l, i) for l, i in
                zip(panel['right'], _colour_index(panel['right'], offset))]
    twin.set_ylabel(panel['right_ylabel'])
    twin.set_ylim(-0.02, 1.02)
  for h in panel['hlines']:
    look = HLINES[h.get('style', 'floor')]
    handles.append(ax.axhline(h['y'], **look, label=h['label']))
  for i, step in enumerate(restarts):
    line = ax.axvline(step, color='0.5', ls=':', lw=1.3)
    if i == 0:
      line.set_label('resumed here')
      handles.append(line)
  ax.set_title('\n'.join(textwrap.wrap(panel['title'], 62)), fontsize=9)
  ax.set_xlabel('step')
  if span:
    ax.set_xlim(*span)
  threshold = None if panel.get('log') else _symlog_threshold(panel['lines'])
  if panel.get('log'):
    ax.set_yscale('log')
  elif threshold:
    _symlog(ax, threshold)
  ax.set_ylabel(panel['ylabel'] + (' (log)' if panel.get('log') else
                                   ' (symlog)' if threshold else ''))
  ax.grid(alpha=0.3)
  return handles


def draw_panels(panels, path, restarts=(), columns=2, legend='axes'):
  """Draws curve panels (report_data.curve_panels / sweep_panels) to a PNG of
  figure_size(len(panels), columns) pixels, restarts as dotted verticals; `legend` 'axes'
  or 'figure' (one legend for all, above the panels). Returns the file name."""
  labels = {l.get('colour', 0): l['label'] for p in panels for l in p['lines']}
  top = legend_height(len(labels) + 1) if legend == 'figure' else 0.0
  fig, axes = _figure(len(panels), columns, top=top)
  # one step range on every panel, so an eval point lines up with the losses above it
  ends = [float(np.max(l['x'])) for p in panels for l in p['lines'] + p['right'] if len(l['x'])]
  span = (0, max(ends) * 1.02) if ends and max(ends) > 0 else None
  for ax, panel in zip(axes, panels):
    handles = _draw_panel(ax, panel, restarts, span)
    if legend == 'axes':
      ax.legend(handles=handles, fontsize=7, loc='best')
  if legend == 'figure' and labels:
    floor = [Line2D([], [], color='0.35', ls='--', lw=1.2,
                    label='real-vs-real floor (mean over runs)')]
    _legend_top(fig, labels, floor if any(p['hlines'] for p in panels) else ())
  return _save(fig, path)


def _legend_top(fig, labels, extra=()):
  """A legend of the points' colours above the panels (figure coordinates)."""
  handles = [Line2D([], [], color=colour(i)[0], ls=colour(i)[1], lw=1.8, label=text)
             for i, text in sorted(labels.items())] + list(extra)
  fig.legend(handles=handles, loc='upper center', ncols=2, fontsize=8, frameon=False)


def legend_height(count):
  """Inches above the panels for a two-column legend of `count` entries."""
  return 0.1 + 0.17 * -(-count // 2)


def draw_bars(bars, labels, path, columns=3):
  """Final metrics of sweep points: bars = [(metric, [(mean, std, [seed values]) or None
  per point])]; one horizontal bar per point, named by its label's first word (std as
  error bar, seeds as dots), the full labels in a legend above. Returns the file name."""
  fig, axes = _figure(len(bars), columns, left=0.5, gap=0.45, right=0.2, panel_w=4.0,
                      top=legend_height(len(labels)))
  short = [l.split()[0] for l in labels]
  for k, (ax, (metric, cells)) in enumerate(zip(axes, bars)):
    for i, cell in enumerate(cells):
      if cell is None:
        continue
      mean, std, values = cell
      ax.barh(i, mean, color=colour(i)[0], alpha=0.75, xerr=None if np.isnan(std) else std,
              error_kw={'lw': 1, 'capsize': 3})
      ax.plot(values, [i] * len(values), 'o', color='black', ms=3)
    ax.set_yticks(np.arange(len(short)), short, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(metric, fontsize=9)
    ax.set_xlabel(metric, fontsize=8)
    ax.grid(alpha=0.3, axis='x')
  _legend_top(fig, dict(enumerate(labels)),
              [Line2D([], [], color='black', marker='o', ls='', ms=3, label='one seed')])
  return _save(fig, path)


def _save(fig, path):
  """Writes the figure; returns the file's name (the page links it beside itself)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=DPI)
  return os.path.basename(path)


def load_image(path):
  """A PNG -> uint8 [H,W,C] with C = 1 (grey) or 3."""
  with Image.open(path) as im:
    im = im.convert('L') if im.mode in ('L', 'LA', 'I', '1') else im.convert('RGB')
    arr = np.asarray(im)
  return arr[..., None] if arr.ndim == 2 else arr


def _save_array(image, path):
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def progress_strip(grids, steps, side, path, num_classes=0, class_names=(), latents=6):
  """The same fixed-noise samples at each step, one column per step (report_data.
  strip_rows picks the rows) to a PNG. grids: uint8 [H,W,C] sample grids. Returns the
  number of rows, 0 (and no file) if a grid is not side x side."""
  cells = [grid_cells(g, side) for g in grids]
  if any(c is None for c in cells) or len({c.shape for c in cells}) != 1:
    return 0
  rows, labels = strip_rows(cells, num_classes, class_names, latents)
  _save_array(figures.labelled_grid(rows, labels, header=[f'step {s}' for s in steps]), path)
  return len(rows)


def _captioned(image, text):
  """A uint8 [H,W,C] image with a band of text above it, as a PIL image."""
  band = 14
  mode = 'L' if image.shape[-1] == 1 else 'RGB'
  canvas = Image.new(mode, (image.shape[1], image.shape[0] + band), 0)
  canvas.paste(Image.fromarray(image[..., 0] if mode == 'L' else image), (0, band))
  ImageDraw.Draw(canvas).text((3, 1), text, fill=255 if mode == 'L' else (255, 255, 255))
  return canvas


def write_gif(paths, steps, path, duration_ms=300, max_bytes=5 << 20):
  """The sample grids as an animated GIF, each frame captioned with its step; drops every
  other frame until the file is under max_bytes. Returns the frame count written."""
  frames = [_captioned(load_image(p), f'step {s}') for p, s in zip(paths, steps)]
  while True:
    # The last frame holds longer, so the loop's restart is visible.
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 4]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    if os.path.getsize(path) <= max_bytes or len(frames) <= 2:
      return len(frames)
    frames = frames[::-2][::-1]   # every other frame, keeping the last


def side_by_side(images, captions, path, per_row=4):
  """uint8 [H,W,C] images (resized to the first's size if they differ) in rows of
  per_row, each with its caption above, to one PNG."""
  h, w, c = images[0].shape
  same = []
  for im in images:
    if im.shape != (h, w, c):
      pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
      pil = pil.convert('L' if c == 1 else 'RGB').resize((w, h), Image.NEAREST)
      im = np.asarray(pil).reshape(h, w, c)
    same.append(im)
  rows = [np.stack(same[i:i + per_row]) for i in range(0, len(same), per_row)]
  caps = [captions[i:i + per_row] for i in range(0, len(same), per_row)]
  _save_array(figures.labelled_grid(rows, [''] * len(rows), captions=caps), path)
  return os.path.basename(path)
