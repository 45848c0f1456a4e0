"""The GPU path's defaults for a ganjax config, as the device suite's rows and its FID run
use them (what each buys, measured: the suite's --parts=recipe rows):

- data resident on the device: the compiled chunk gathers each step's batch from a device
  copy of the dataset by index (dcgan.run_ganjax, fid_vs_time), instead of the host
  gathering and sending [S, k, B, H, W, C] uint8 every chunk;
- STEPS_PER_DISPATCH steps per compiled chunk, as one lax.scan (unroll_steps=False: one
  program whatever S, so the compile does not grow with S), so the host's dispatch of a
  call hides behind S steps of device work (the configs' unroll_steps=True and S=1 are
  for XLA:CPU, whose conv gradients are slow inside a loop);
- bf16 compute with float32 parameters, optimizer states, BatchNorm statistics and losses
  (model.dtype='bfloat16', model.param_dtype='float32');
- no host sync in the loop: the host waits once per CHUNKS_PER_SYNC chunks while timing
  (and only for the chunk before the one in flight while training to a clock).
"""

STEPS_PER_DISPATCH = 32   # a multiple of StyleGAN2's lazy R1 interval (16)
CHUNKS_PER_SYNC = 4


def apply(config, precision='bf16', steps_per_dispatch=STEPS_PER_DISPATCH):
  """config (changed in place and returned) with the GPU path's chunking and precision
  ('bf16' | 'f32')."""
  config.steps_per_dispatch = steps_per_dispatch
  config.unroll_steps = False
  config.model.dtype = 'bfloat16' if precision == 'bf16' else 'float32'
  config.model.param_dtype = 'float32'
  return config
