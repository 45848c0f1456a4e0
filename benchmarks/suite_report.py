"""The device suite's report: ratios and % of the chip's peak from the rows, the markdown
tables, and the JSON and markdown files (rewritten whole after every row, so a killed run
leaves what it measured)."""

import json
import math
import os

# Dense bf16 TFLOP/s from NVIDIA's datasheets, by a piece of the device's name (longest
# first); measured on this workplace's H100: 798 on an 8192^3 product (KINDS.md).
BF16_PEAK_TFLOPS = {'H100 PCIe': 756.0, 'H100 NVL': 835.0, 'H200 NVL': 835.0, 'H100': 989.4,
                    'H200': 989.4, 'GH200': 989.4, 'A100': 312.0, 'L4': 121.0}
CONTENDERS = ('ganjax', 'torch', 'torch.compile')


def peak_tflops(device):
  """The datasheet's dense bf16 TFLOP/s of a device name, or None (a CPU, an unknown chip)."""
  for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
    if key in (device or ''):
      return BF16_PEAK_TFLOPS[key]
  return None


def group_key(row):
  return row['model'], row['batch'], row['precision']


def fill(rows):
  """Adds images/s, % of peak (from the ganjax row's FLOPs per step), the ganjax / row
  ratio and params_match to the throughput rows, in place."""
  ganjax = {group_key(r): r for r in rows
            if r['contender'] == 'ganjax' and r.get('steps_per_sec')}
  for r in rows:
    g, sps = ganjax.get(group_key(r)), r.get('steps_per_sec')
    if not sps:
      continue
    r['images_per_sec'] = sps * r['batch']
    flops, peak = (g or r).get('flops_per_step'), peak_tflops(r.get('device'))
    r['pct_bf16_peak'] = 100 * sps * flops / (peak * 1e12) if flops and peak else None
    if g and r is not g:
      r['ganjax_over'] = g['steps_per_sec'] / sps
      r['params_match'] = (g.get('g_params'), g.get('d_params')) == (r.get('g_params'),
                                                                     r.get('d_params'))
  return rows


def _num(v, spec):
  return '-' if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def throughput_table(rows):
  """Markdown: one line per (model, batch, precision), the contenders side by side."""
  head = ('| model | batch | precision | ganjax G steps/s (images/s) | PyTorch eager | '
          'torch.compile | ganjax / eager | ganjax / compile | compile s (ganjax / eager / '
          'compile) | % bf16 peak (ganjax / eager / compile) |')
  lines, seen = [head, '|' + '---|' * 10], []
  for key in (group_key(r) for r in rows):
    if key in seen:
      continue
    seen.append(key)
    by = {r['contender']: r for r in rows if group_key(r) == key}
    get = lambda c, f, spec: _num(by.get(c, {}).get(f), spec)
    g = f'{get("ganjax", "steps_per_sec", ".3g")} ({get("ganjax", "images_per_sec", ",.0f")})'
    triple = lambda f, spec: ' / '.join(get(c, f, spec) for c in CONTENDERS)
    ratio = lambda c: get(c, 'ganjax_over', '.2f') + 'x'
    lines.append(f'| `{key[0]}` | {key[1]} | {key[2]} | {g} | '
                 f'{get("torch", "steps_per_sec", ".3g")} | '
                 f'{get("torch.compile", "steps_per_sec", ".3g")} | {ratio("torch")} | '
                 f'{ratio("torch.compile")} | {triple("compile_s", ".1f")} | '
                 f'{triple("pct_bf16_peak", ".2g")} |')
  notes = [f'- `{r["model"]}` batch {r["batch"]} {r["precision"]} {r["contender"]}: '
           f'{r["status"]}: {r.get("reason", "")[:300]}' for r in rows if r['status'] != 'ok']
  return '\n'.join(lines + ([''] + notes if notes else []))


def carried_line(manifest):
  """One line: the carried files and their sizes (device_carry's manifest)."""
  if 'files' not in manifest:
    return f'carried: nothing readable ({manifest.get("missing", "?")})'
  files = ', '.join(f'{name} {f["bytes"]:,} B' for name, f in manifest['files'].items())
  floor = manifest.get('subset_fid_vs_reference')
  return (f'carried: {files} ({manifest["images"]:,} training images; reference of '
          f'{manifest["reference_n"]:,})' + (f'; the subset itself scores FID {floor:.2f} '
                                             'against the reference' if floor else ''))


def fid_table(fid):
  """Markdown: the FID run's evaluations."""
  setup = fid.get('setup') or {}
  lines = [carried_line(setup.get('carry') or fid.get('carry') or {}), '',f'recipe `{setup.get("recipe", "?")}` ({setup.get("dtype", "?")}, batch '
           f'{setup.get("batch", "?")}, S={setup.get("steps_per_dispatch", "?")}, overrides '
           f'`{setup.get("overrides") or "none"}`) on {setup.get("images", "?")} carried '
           f'training images; reference: {setup.get("reference_n", "?")} training images',
           '', '| train s | G steps | real kimg | FID | samples | eval s |',
           '|---|---|---|---|---|---|']
  for e in fid.get('evals', []):
    lines.append(f'| {e["train_s"]:.0f} | {e["g_steps"]:,} | {e["kimg_real"]:,.0f} | '
                 f'{_num(e["fid"], ".2f")} | {e["samples"]:,} | {e["eval_s"]:.1f} |')
  if fid.get('status', 'ok') != 'ok':
    lines.append(f'\nFID part: {fid["status"]}: {fid.get("reason", "")[:300]}')
  return '\n'.join(lines)


def recipe_table(rows):
  """Markdown: each GPU default switched off, against the recipe."""
  base = next((r.get('steps_per_sec') for r in rows if r['variant'] == 'recipe'), None)
  lines = ['| variant | G steps/s | recipe / variant |', '|---|---|---|']
  for r in rows:
    sps = r.get('steps_per_sec')
    ratio = base / sps if base and sps else None
    lines.append(f'| {r["variant"]} | {_num(sps, ".3g")} | {_num(ratio, ".2f")}x |'
                 + ('' if r['status'] == 'ok' else f' {r["status"]}: {r.get("reason", "")[:120]}'))
  return '\n'.join(lines)


def markdown(report):
  """The whole report as markdown."""
  parts = [f'# Device suite\n\n{report["header"]}\n']
  if report['rows']:
    parts.append('## Throughput: ganjax vs PyTorch, same model, loss, batch and optimizer\n\n'
                 + throughput_table(report['rows']) + '\n')
  if report.get('fid'):
    parts.append('## CIFAR-10 FID against training time\n\n' + fid_table(report['fid']) + '\n')
  if report.get('recipe'):
    parts.append('## What each GPU default buys\n\n' + recipe_table(report['recipe']) + '\n')
  return '\n'.join(parts + [n + '\n' for n in report.get('notes', [])])


def write(report, json_path, markdown_path):
  """Writes both files through temporary names (a kill mid-write leaves the last ones)."""
  for path, text in ((json_path, lambda: json.dumps(report, indent=2, default=str)),
                     (markdown_path, lambda: markdown(report))):
    if path:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      with open(path + '.tmp', 'w') as f:
        f.write(text())
      os.replace(path + '.tmp', path)
