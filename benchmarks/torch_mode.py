"""How a PyTorch contender runs: its device, its precision (bf16 by torch.autocast, as
PyTorch's users run mixed precision), eager or under torch.compile, and its timing.

The runners (dcgan.run_torch, resnet.run_torch, official_speed.run_official) read these
args, each with a default that keeps their own CLIs as they were (CPU, float32, eager):
  torch_device     'cpu' | 'cuda' | 'auto' (cuda when available)
  torch_precision  'f32' (TF32 off: the strict float32 JAX's rows use too) | 'bf16'
  torch_compile    False | True: nn.Module.compile() on G and D (in place)
  torch_compile_backend  torch.compile's backend: 'inductor' (its default) | 'aot_eager'
  steps_per_sync   steps between device syncs while timing (1: every step)
"""

import time

from benchmarks.harness import timed_steps


def setting(args, name):
  """args.<name>, or the default that leaves a runner as its CLI has it."""
  return getattr(args, name, {'torch_device': 'cpu', 'torch_precision': 'f32',
                              'torch_compile': False, 'torch_compile_backend': 'inductor',
                              'steps_per_sync': 1}[name])


def device(args):
  """The torch.device a contender runs on."""
  import torch   # pylint: disable=g-import-not-at-top
  want = setting(args, 'torch_device')
  if want == 'auto':
    want = 'cuda' if torch.cuda.is_available() else 'cpu'
  return torch.device(want)


def backends(dev, precision):
  """cuDNN's autotuner on, as the GAN codebases set it; float32 without TF32 (what 'f32'
  means on both sides of the suite)."""
  import torch   # pylint: disable=g-import-not-at-top
  if dev.type == 'cuda':
    torch.backends.cudnn.benchmark = True
    tf32 = precision != 'f32'
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32


def autocast(net, dev):
  """net under torch.autocast(bf16): forward passes in bf16 where autocast casts, float32
  outputs (the losses and the backward pass run outside autocast, as its docs advise)."""
  import torch   # pylint: disable=g-import-not-at-top

  class Autocast(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.net = net

    def forward(self, *a, **kw):
      with torch.autocast(dev.type, dtype=torch.bfloat16):
        out = self.net(*a, **kw)
      return out.float()
  return Autocast()


def prepare(nets, args, dev):
  """(G, D) moved to dev, compiled in place if torch_compile, under autocast if bf16."""
  import torch   # pylint: disable=g-import-not-at-top
  precision = setting(args, 'torch_precision')
  backends(dev, precision)
  if dev.type == 'cpu':
    # Inductor's compile worker pool keeps the cores busy for seconds after a compile: on
    # 2 cores the first ~6 steps ran 100x slower (0.73 s vs 7 ms, tiny DCGAN) with it.
    torch._inductor.config.compile_threads = 1   # pylint: disable=protected-access
  out = []
  for net in nets:
    net = net.to(dev)
    if setting(args, 'torch_compile'):
      net.compile(backend=setting(args, 'torch_compile_backend'))
    out.append(autocast(net, dev) if precision == 'bf16' else net)
  return tuple(out)


def sync(dev):
  """Waits for dev's queued work (nothing to wait for on CPU)."""
  import torch   # pylint: disable=g-import-not-at-top
  if dev.type == 'cuda':
    torch.cuda.synchronize(dev)


def timed(args, step, dev):
  """max(1, --warmup) untimed steps (torch.compile compiles in them), then timed_steps with
  a sync every steps_per_sync steps at most (as many as fill about a second, from one more
  warm-up step, timed): (warmup seconds, {'steps', 'secs'})."""
  start = time.perf_counter()
  for _ in range(max(1, args.warmup)):
    step()
  sync(dev)
  first, per = time.perf_counter() - start, max(1, setting(args, 'steps_per_sync'))
  if per > 1:
    start = time.perf_counter()
    step()
    sync(dev)
    per = min(per, max(1, round(1.0 / (time.perf_counter() - start))))

  def call():
    for _ in range(per):
      step()
    sync(dev)
  return first, timed_steps(args, call, per)
