r"""One command for a lent GPU: ganjax's compiled training chunk against the same model,
loss, batch and optimizer in plain PyTorch (eager and torch.compile), bf16 and f32, batch
64 and 256; CIFAR-10 FID against training time; one JSON and one markdown table.

Here (CPU), first:
  python -m benchmarks.device_carry --pack=runs/device_carry --data_dir=/work/data/cifar10
  python -m benchmarks.device_suite --smoke   # every row kind at a tiny size (~5 min on
                                              # 2 cores; tests/device_suite_test.py splits it)
On the device (one H100; carry runs/official_gpu and runs/device_carry, 62.6 MB with the
repo: benchmarks/device_carry.py lists what travels):
  PYTHONUNBUFFERED=1 python3 -m benchmarks.device_suite --json=$OUT/device_suite.json \
      --markdown=$OUT/device_suite.md        # --budget_s=450: done in 7.5 minutes

Rows, most important first: bf16 before f32, batch 64 before 256; within each, the models
cifar10_sngan, _dcgan, _biggan, _stylegan2, _r3gan as ganjax and as PyTorch eager, then
their torch.compile rows (the slowest to start). Each contender runs in its own process
(its own memory and threads) under a timeout. --budget_s is a global deadline: the FID
part's time is set aside first, rows that no longer fit are written as skipped, a
contender that failed or timed out at batch 64 is not retried at 256, and both files are
rewritten after every row (a killed run leaves its rows).

The PyTorch side: for SNGAN / BigGAN benchmarks/torch_resnets.py's StudioGAN-structured
nets, for DCGAN benchmarks/dcgan.py's, for StyleGAN2 / R3GAN the official code
(runs/official_gpu) with its custom ops as their reference PyTorch code (--official_ops=
auto builds them with nvcc, minutes). torch.compile compiles G and D in place
(nn.Module.compile, inductor), but only G for StyleGAN2 / R3GAN: their R1 / R2
differentiate D's input gradient, which torch.compile refuses (double backward). --smoke
compiles with backend aot_eager (dynamo and AOTAutograd, no code generation): inductor's
C++ build of the SNGAN step alone ran past 90 s on 2 cores.

The columns:
  G steps/s   full training steps (n_dis D updates and a G update) a second; images/s =
              batch x that. The ratio ganjax / PyTorch is the headline.
  compile s   ganjax: the first chunk call (compile + S steps); PyTorch: its warm-up steps
              (torch.compile compiles in them; eager: cuDNN's autotuning).
  % bf16 peak XLA's FLOPs of one ganjax step (the lowered program) x steps/s over the
              chip's datasheet dense bf16 peak (suite_report.BF16_PEAK_TFLOPS), for every row
              of a model, f32 rows too. Absolute numbers hold for the named chip only.
  bf16        ganjax model.dtype=bfloat16 (float32 params); PyTorch torch.autocast(bf16)
              around G's and D's forward; the official code its own (StyleGAN2's fp16
              layers, R3GAN's bf16 stages). f32: strict float32 on both sides (no TF32).
The ganjax rows follow benchmarks/gpu_recipe.py (resident data, S steps a scan, no host
sync in the loop); --parts=recipe times each of those defaults switched off.
"""

import argparse
import datetime
import glob
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks import fid_vs_time, suite_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ('cifar10_sngan', 'cifar10_dcgan', 'cifar10_biggan', 'cifar10_stylegan2',
          'cifar10_r3gan')
# (GPU default, --smoke default) of the settings that differ.
DEFAULTS = {'batches': ('64,256', '4'), 'precisions': ('bf16,f32', 'bf16'),
            'parts': ('throughput,fid', 'throughput,fid,recipe'), 'seconds': (3.0, 0.2),
            'steps': (10 ** 6, 1), 'steps_per_dispatch': (32, 1), 'chunks_per_sync': (4, 1),
            'row_timeout_s': (150.0, 90.0), 'fid_minutes': (2.0, 0.1), 'fid_every_s': (60.0, 6.0),
            'fid_samples': (10000, 16), 'budget_s': (450.0, 600.0), 'torch_warmup': (3, 2),
            'repeats': (2, 1), 'official_steps': (32, 2), 'recipe_batch': (64, 8)}
FID_OVERHEAD_S = (75.0, 40.0)   # process start, carry, the chunk's, G's and Inception's compiles
MIN_ROW_S = (25.0, 5.0)   # a contender not started with less than this left
RECIPE_VARIANTS = (('recipe', {}), ('data host-fed', {'host_fed': True}),
                   ('sync after every chunk', {'chunks_per_sync': 1}),
                   ('1 step per dispatch, sync every step', {'steps_per_dispatch': 1,
                                                             'chunks_per_sync': 1}),
                   ('one program a step (unroll_steps, the CPU configs\' choice)',
                    {'unroll': True}),
                   ('float32', {'precision': 'f32'}))


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--smoke', action='store_true', help='tiny sizes on this CPU (the tests)')
  p.add_argument('--fast_compile', action=argparse.BooleanOptionalAction, default=None,
                 help="--smoke's default: XLA's test settings (half the compile time, slower "
                 'steps); --no-fast_compile for CPU timings that mean something')
  p.add_argument('--json', default='runs/device_suite.json')
  p.add_argument('--markdown', default='runs/device_suite.md')
  p.add_argument('--models', default=','.join(MODELS))
  p.add_argument('--contenders', default=','.join(suite_report.CONTENDERS))
  for name, (gpu, smoke) in DEFAULTS.items():
    p.add_argument(f'--{name}', type=type(gpu), default=None, help=f'GPU {gpu}, --smoke {smoke}')
  p.add_argument('--official_ops', default='ref', choices=('ref', 'auto'))
  p.add_argument('--torch_compile_backend', default=None,
                 help="GPU inductor; --smoke aot_eager: inductor's C++ build of SNGAN's "
                 'step alone ran past 90 s on 2 cores')
  p.add_argument('--official_sg2', default='runs/official_gpu/sg2ada')
  p.add_argument('--official_r3gan', default='runs/official_gpu/r3gan')
  p.add_argument('--carry', default='runs/device_carry', help='device_carry.py folder')
  p.add_argument('--fid_recipe', default='cifar10_sngan')
  p.add_argument('--fid_overrides', default=None, help="'a.b=v;c=w' (fid_vs_time.py)")
  p.add_argument('--recipe_model', default='cifar10_dcgan')
  p.add_argument('--pack', default='', help='build the carry in this folder and exit')
  p.add_argument('--data_dir', default='data/cifar10', help='--pack: CIFAR-10 binary')
  p.add_argument('--images', type=int, default=6000, help='--pack: training images carried')
  args = p.parse_args(argv)
  for name, pair in DEFAULTS.items():
    if getattr(args, name) is None:
      setattr(args, name, pair[args.smoke])
  args.torch_compile_backend = args.torch_compile_backend or ('aot_eager' if args.smoke
                                                              else 'inductor')
  args.fast_compile = args.smoke if args.fast_compile is None else args.fast_compile
  for name in ('models', 'contenders', 'parts'):
    setattr(args, name, [v for v in getattr(args, name).split(',') if v])
  args.batches = [int(b) for b in args.batches.split(',')]
  args.precisions = args.precisions.split(',')
  return args


def wheel_path():
  """PYTHONPATH entries that make ml_collections importable (the device has none: the
  wheel official_speed carries is pure Python, so zipimport reads it in place)."""
  if importlib.util.find_spec('ml_collections'):
    return []
  return sorted(glob.glob(os.path.join(ROOT, 'runs/official_gpu/whl/ml_collections-*.whl')))[-1:]


def child_env(only, spec):
  """The environment of a child: ml_collections on the path; JAX kept off the GPU in a
  PyTorch contender (resnet's replica spec traces ganjax's nets on the CPU)."""
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env['PYTHONPATH'] = os.pathsep.join(wheel_path() + [ROOT] + [env.get('PYTHONPATH', '')])
  if only == 'contender' and spec['contender'] != 'ganjax':
    env['JAX_PLATFORMS'] = 'cpu'
  return env


def _tail(path, chars=1500):
  with open(path, errors='replace') as f:
    return f.read()[-chars:]


def wait(proc, timeout, poll):
  """Waits up to timeout seconds for proc, calling poll() every 2 s; whether it ended."""
  start = time.perf_counter()
  while proc.poll() is None and time.perf_counter() - start < timeout:
    try:
      proc.wait(timeout=min(2.0, max(0.05, timeout - (time.perf_counter() - start))))
    except subprocess.TimeoutExpired:
      poll()
  return proc.poll() is not None


def spawn(only, spec, timeout, poll=lambda: None):
  """Runs `--only=ONLY --spec=SPEC` in its own process group: {'status': 'ok', **result}
  or {'status': 'error' | 'timeout', 'reason': ...}; poll() every 2 s while it runs."""
  with tempfile.TemporaryDirectory() as tmp:
    result, log = os.path.join(tmp, 'result.json'), os.path.join(tmp, 'log')
    cmd = [sys.executable, '-m', 'benchmarks.suite_child', f'--only={only}',
           f'--spec={json.dumps(spec)}', f'--result={result}']
    start = time.perf_counter()
    with open(log, 'w') as out:
      # A process group of its own (not a session: the device tool ends what a command
      # leaves running unless it started a session of its own).
      proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                              env=child_env(only, spec), process_group=0)
      try:
        ended = wait(proc, timeout, poll)
      finally:   # a timeout, or this process stopped: torch.compile's workers go too
        if proc.poll() is None:
          os.killpg(proc.pid, signal.SIGKILL)
          proc.wait()
    wall = time.perf_counter() - start
    if not ended:
      return {'status': 'timeout', 'reason': f'over its {timeout:.0f} s; log: {_tail(log, 600)}',
              'wall_s': wall}
    if proc.returncode or not os.path.exists(result):
      return {'status': 'error', 'reason': f'rc {proc.returncode}: {_tail(log)}', 'wall_s': wall}
    with open(result) as f:
      return {'status': 'ok', **json.load(f), 'wall_s': wall}


def contender_spec(args, model, batch, precision, contender, **extra):
  """What a contender's process gets (suite_child.run_contender's spec)."""
  names = ('smoke', 'seconds', 'steps', 'steps_per_dispatch', 'chunks_per_sync', 'torch_warmup',
           'repeats', 'official_steps', 'official_ops', 'official_sg2', 'official_r3gan',
           'torch_compile_backend', 'fast_compile')
  spec = {n: getattr(args, n) for n in names}
  spec.update(model=model, batch=batch, precision=precision, contender=contender, warmup=1)
  return {**spec, **extra}


def plan(args):
  """The throughput rows' specs, most important first: by precision, then batch; within
  those, every model's ganjax and eager rows before the torch.compile rows (minutes of
  compiling each, so a tight budget still compares every model)."""
  first = [c for c in args.contenders if c != 'torch.compile']
  later = [c for c in args.contenders if c == 'torch.compile']
  return [contender_spec(args, m, b, p, c) for p in args.precisions for b in args.batches
          for group in (first, later) for m in args.models for c in group]


def row_of(spec, got):
  """A report row from a contender's spec and spawn's answer."""
  keep = ('steps_per_sec', 'steps', 'flops_per_step', 'device', 'g_params', 'd_params',
          'first_call_s', 'warmup_s', 'wall_s', 'steps_per_dispatch', 'chunks_per_sync',
          'cuda_ops', 'windows_s', 'device_peak_mib', 'peak_rss_mib')
  row = {k: spec[k] for k in ('model', 'batch', 'precision', 'contender')}
  row.update({k: got[k] for k in keep if k in got}, status=got['status'])
  row['compile_s'] = got.get('first_call_s' if spec['contender'] == 'ganjax' else 'warmup_s')
  if got['status'] != 'ok':
    row['reason'] = got.get('reason', '')
  return row


def fid_spec(args, progress):
  """What the FID part's process gets (fid_vs_time.run's spec, less its deadline)."""
  return {'carry': args.carry, 'recipe': args.fid_recipe, 'minutes': args.fid_minutes,
          'every_s': args.fid_every_s, 'samples': args.fid_samples,
          'eval_batch': 8 if args.smoke else 500, 'precision': 'bf16',
          'steps_per_dispatch': args.steps_per_dispatch, 'smoke': args.smoke,
          'fast_compile': args.fast_compile, 'eval_guess_s': 3.0 if args.smoke else 15.0,
          'progress': progress, 'batch': 8 if args.smoke else 0,
          'overrides': (fid_vs_time.DEFAULT_OVERRIDES if args.fid_overrides is None
                        else args.fid_overrides)}


class Suite:
  """The run: its deadline, its report, and the parts in order."""

  def __init__(self, args):
    self.args, self.start = args, time.perf_counter()
    self.report = {'command': shlex.join(['python', '-m', 'benchmarks.device_suite',
                                          *sys.argv[1:]]),
                   'started': datetime.datetime.now().isoformat(timespec='seconds'),
                   'header': '', 'rows': [], 'fid': {}, 'recipe': [], 'notes': [],
                   'settings': vars(args)}

  def left(self):
    """Seconds to the deadline."""
    return self.args.budget_s - (time.perf_counter() - self.start)

  def save(self):
    """Both files, as the report stands."""
    suite_report.fill(self.report['rows'])
    suite_report.write(self.report, self.args.json, self.args.markdown)

  def reserve(self, part):
    """Seconds set aside for the parts after `part`."""
    a, after = self.args, ('throughput', 'fid', 'recipe')
    later = [p for p in after[after.index(part) + 1:] if p in a.parts]
    fid = (a.fid_minutes * 60 + FID_OVERHEAD_S[a.smoke]
           + 15.0 * max(1, a.fid_minutes * 60 // a.fid_every_s))
    recipe = len(RECIPE_VARIANTS) * MIN_ROW_S[a.smoke] * 2
    return fid * ('fid' in later) + recipe * ('recipe' in later)

  def probe(self):
    """The chip and versions, and the report's header from them."""
    spec = {'smoke': self.args.smoke, 'fast_compile': self.args.fast_compile}
    got = spawn('probe', spec, max(30.0, min(120.0, self.left())))
    self.report['probe'] = got
    self.report['header'] = header(self.args, got)
    self.save()

  def contender(self, spec, failed):
    """spawn's answer for one row: run unless it failed at a smaller batch or the
    budget is spent (failed: (model, precision, contender) -> batch, updated)."""
    what, left = (spec['model'], spec['precision'], spec['contender']), (
        self.left() - self.reserve('throughput'))
    if what in failed:
      return {'status': 'skipped', 'reason': f'failed at batch {failed[what]}'}
    if left < MIN_ROW_S[self.args.smoke]:
      return {'status': 'skipped', 'reason': f'budget: {max(left, 0):.0f} s left for rows'}
    got = spawn('contender', spec, min(self.args.row_timeout_s, left))
    if got['status'] in ('error', 'timeout'):
      failed[what] = spec['batch']
    return got

  def throughput(self):
    """The throughput rows in plan's order, each saved as it comes."""
    failed = {}
    for spec in plan(self.args):
      r = row_of(spec, self.contender(spec, failed))
      self.report['rows'].append(r)
      print(f'{r["model"]:18s}{r["batch"]:5d} {r["precision"]:5s}{r["contender"]:15s}'
            f'{r["status"]:8s}{r.get("steps_per_sec") or 0:10.3g} steps/s  '
            f'compile {r.get("compile_s") or 0:6.1f} s', flush=True)
      self.save()

  def fid(self):
    """The FID-vs-time run in its process, its rows read into the report as they come."""
    progress = self.args.json + '.fid.jsonl'
    if os.path.exists(progress):
      os.remove(progress)
    spec = fid_spec(self.args, progress)
    spec['deadline_s'] = max(0.0, self.left() - 10.0 - self.reserve('fid'))
    fid = self.report['fid'] = {'status': 'running', 'evals': [], 'carry': (
        {'tiny': 'random images, packed by the FID process'} if self.args.smoke
        else carried(self.args.carry))}
    if spec['deadline_s'] < FID_OVERHEAD_S[self.args.smoke]:
      fid.update(status='skipped', reason=f'budget: {spec["deadline_s"]:.0f} s left')
      return self.save()

    def poll():
      rows = read_jsonl(progress)
      fid['setup'] = next((r for r in rows if r['kind'] == 'setup'), None)
      fid['evals'] = [r for r in rows if r['kind'] == 'eval']
      self.save()
    got = spawn('fid', spec, spec['deadline_s'] + 10.0, poll)
    poll()
    fid['status'], fid['reason'] = got['status'], got.get('reason', '')
    return self.save()

  def recipe(self):
    """The recipe rows: the GPU recipe, then each of its defaults switched off."""
    a = self.args
    for name, change in RECIPE_VARIANTS:
      spec = {**contender_spec(a, a.recipe_model, a.recipe_batch, 'bf16', 'ganjax'), **change}
      left = self.left()
      got = (spawn('contender', spec, min(a.row_timeout_s, left)) if left > MIN_ROW_S[a.smoke]
             else {'status': 'skipped', 'reason': 'budget'})
      self.report['recipe'].append({'variant': name, **row_of(spec, got), **change})
      self.save()

  def run(self):
    """Probe, then the parts asked for, in order; prints the markdown at the end."""
    self.probe()
    for part in ('throughput', 'fid', 'recipe'):
      if part in self.args.parts:
        getattr(self, part)()
    self.report['finished'] = datetime.datetime.now().isoformat(timespec='seconds')
    self.report['elapsed_s'] = time.perf_counter() - self.start
    self.save()
    print(suite_report.markdown(self.report))


def read_jsonl(path):
  """The rows a child has appended so far (a half-written last line is left out)."""
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError:
        break
  return rows


def carried(directory):
  """The carry's manifest (what travelled, sizes), or why there is none."""
  try:
    with open(os.path.join(directory, 'manifest.json')) as f:
      return json.load(f)
  except OSError as e:
    return {'missing': str(e)}


def header(args, probe):
  """The report's first lines: date, chip, versions, settings that shape every number."""
  dev = probe.get('device', '?')
  peak = suite_report.peak_tflops(dev)
  matmul = probe.get('bf16_matmul_tflops')
  chip = (f' (dense bf16 peak {peak:g} TFLOP/s by its datasheet' if peak else ' (no bf16 peak'
          ) + (f'; measured bf16 8192^3 matmul {matmul:.0f} TFLOP/s)' if matmul else ')')
  return (f'{datetime.date.today()}; device: {dev}{chip}; {probe.get("versions", "?")}; '
          f'GPU recipe: S={args.steps_per_dispatch} steps a chunk, a sync every '
          f'{args.chunks_per_sync} chunks at most; f32 = strict float32 both sides; official '
          f'ops: {args.official_ops}; torch.compile backend {args.torch_compile_backend}; '
          f'budget {args.budget_s:g} s'
          + ('; SMOKE: tiny widths on CPU, the numbers mean nothing' if args.smoke else ''))


def main(argv=None):
  args = parse_args(argv)
  # SIGTERM as an exception, so spawn's cleanup ends the contender running then.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  if args.pack:
    from benchmarks import device_carry   # pylint: disable=g-import-not-at-top
    return device_carry.main([f'--pack={args.pack}', f'--data_dir={args.data_dir}',
                              f'--images={args.images}'])
  Suite(args).run()


if __name__ == '__main__':
  main()
