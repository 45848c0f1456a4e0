"""Writes tests/fixtures/stylegan2_loss.npz: the gradients of one StyleGAN2-ADA training
step's four phases (Dmain, Dreg, Gmain, Greg) as NVlabs/stylegan2-ada-pytorch computes
them, at commit d72cc7d041b42ec8e806021a205ed9349f87c6a4 (training/loss.py
StyleGAN2Loss.accumulate_gradients, with the gains of training/training_loop.py: 1 for the
main phases, the reg intervals for Dreg and Greg), for tests/stylegan2_loss_test.py.

Small official networks (16x16, channels <= 16, z / w 16, 3 classes, 2-layer mappings, D
'resnet' with minibatch-stddev groups of 2 over a batch of 4) get seeded weights with every
constant-initialised tensor perturbed, as benchmarks/stylegan2_fixture.py does. The loss:
r1_gamma 1, pl_weight 2, pl_batch_shrink 2, pl_decay 0.01, no style mixing, no
augmentation; G's synthesis runs with noise_mode='const'. The latents, labels and path
length noise are the ones ganjax's step draws at step 0 of a run whose state.rng is
PRNGKey(RNG_SEED) with d_steps=1 (D update i=0, G update i=1, path length update i=2),
computed here with ganjax's own step.streams / update_key / draw_fakes and fed to the
official phases (the path length noise through torch.randn_like). Each phase runs from
the same initial weights (zero gradients before it; G's w_avg reset), so every phase's
gradient is at the same point. Official custom ops fall back to reference PyTorch on CPU.

Arrays, float32 (labels int32), flat keys:
  meta/commit, meta/config (JSON)   the code, the networks' and the loss's settings
  G/<name>, D/<name>                official tensors (NCHW layouts), before any phase
  in/real [B,3,16,16], in/real_labels   the real batch (NCHW) and its labels
  in/z_d, in/labels_d               D update's fakes (i=0)
  in/z_g, in/labels_g               G update's fakes (i=1)
  in/z_pl, in/labels_pl, in/pl_noise    path length update's fakes and its N(0, 1) image
                                    noise [B/2, 16, 16, 3] (NHWC, before / sqrt(H W))
  grad/<phase>/<name>               the phase's gradient of each trainable tensor
  out/pl_mean                       the official pl_mean after Greg (from 0)

  python benchmarks/stylegan2_loss_fixture.py --official=/tmp/sg2ada_official
"""

import argparse
import contextlib
import copy
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.stylegan2_fixture import perturbed, tensors  # noqa: E402
from ganjax.models.stylegan2 import OFFICIAL_COMMIT  # noqa: E402

FIXTURE = ROOT / 'tests' / 'fixtures' / 'stylegan2_loss.npz'
BATCH, CLASSES, RNG_SEED = 4, 3, 2021
CONV_CLAMP = 1.0   # bites on some activations without zeroing most gradients
G_KWARGS = dict(z_dim=16, c_dim=CLASSES, w_dim=16, img_resolution=16, img_channels=3,
                mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=128, channel_max=16,
                                      conv_clamp=CONV_CLAMP))
D_KWARGS = dict(c_dim=CLASSES, img_resolution=16, img_channels=3, architecture='resnet',
                channel_base=128, channel_max=16, conv_clamp=CONV_CLAMP,
                mapping_kwargs=dict(num_layers=2), epilogue_kwargs=dict(mbstd_group_size=2))
LOSS = dict(r1_gamma=1.0, pl_weight=2.0, pl_batch_shrink=2, pl_decay=0.01,
            style_mixing_prob=0.0)
G_REG_INTERVAL, D_REG_INTERVAL = 4, 16
# (phase, trained net, gain) in training_loop's order; each here from the same weights.
PHASES = (('Gmain', 'G', 1), ('Greg', 'G', G_REG_INTERVAL),
          ('Dmain', 'D', 1), ('Dreg', 'D', D_REG_INTERVAL))


def step_config():
  """ganjax's StepConfig of the same step (what tests/stylegan2_loss_test.py runs)."""
  from ganjax.objectives import losses, regularizers, step
  reg = regularizers.RegConfig(r1=LOSS['r1_gamma'], r1_every=D_REG_INTERVAL, lazy='own_step',
                               pl_weight=LOSS['pl_weight'], pl_every=G_REG_INTERVAL,
                               pl_decay=LOSS['pl_decay'],
                               pl_batch_shrink=LOSS['pl_batch_shrink'])
  return step.StepConfig(latent_dim=G_KWARGS['z_dim'], global_batch=BATCH, d_steps=1,
                         loss=losses.LossConfig(name='logistic'), reg=reg,
                         num_classes=CLASSES)


def ganjax_draws(cfg, rng, image_shape):
  """{name: array} of the latents, labels and path length noise ganjax's train_step
  draws at step 0 from state.rng = rng (step.py's streams, as its updates call them)."""
  import jax
  from ganjax.objectives import step
  ctx = step.Context(cfg, None, None, None, None, lambda x: x)
  out = {}
  for name, i, update, batch in (('d', 0, 'd', cfg.global_batch),
                                 ('g', cfg.d_steps, 'g', cfg.global_batch),
                                 ('pl', cfg.d_steps + 1, 'g',
                                  cfg.global_batch // cfg.reg.pl_batch_shrink)):
    keys = step.streams(step.update_key(rng, 0, i), update)
    z, labels = step.draw_fakes(ctx, keys['fakes'], batch)
    out[f'z_{name}'], out[f'labels_{name}'] = np.array(z), np.array(labels)
    if name == 'pl':   # path_lengths: _global_draw(normal, keys['pl_noise'], (b, H, W, C))
      out['pl_noise'] = np.array(jax.random.normal(keys['pl_noise'],
                                                     (batch,) + tuple(image_shape)))
  return out


@contextlib.contextmanager
def randn_like_returns(value):
  """torch.randn_like(x) -> value (x's shape) while inside: Greg's path length noise."""
  import torch
  original, calls = torch.randn_like, []

  def fake(x, *args, **kwargs):
    assert tuple(x.shape) == tuple(value.shape), (x.shape, value.shape)
    calls.append(1)
    return value.clone()
  torch.randn_like = fake
  try:
    yield calls
  finally:
    torch.randn_like = original


def official_phases(G, D, real, real_c, draws):
  """{phase: {official name: gradient}} of the four phases, each from G's and D's initial
  weights, and the official pl_mean after Greg."""
  import torch
  from training.loss import StyleGAN2Loss

  class ConstNoiseSynthesis(torch.nn.Module):
    """G.synthesis with noise_mode='const' (run_G calls G_synthesis(ws))."""
    def __init__(self, synthesis):
      super().__init__()
      self.synthesis = synthesis

    def forward(self, ws):
      return self.synthesis(ws, noise_mode='const')

  onehot = lambda labels: torch.nn.functional.one_hot(
      torch.as_tensor(labels, dtype=torch.int64), CLASSES).float()
  t = lambda x: torch.as_tensor(np.array(x, np.float32))
  half = lambda x: torch.cat([x, x])   # Greg takes gen_z[:B / pl_batch_shrink]
  gen = {'Gmain': (t(draws['z_g']), onehot(draws['labels_g'])),
         'Greg': (half(t(draws['z_pl'])), half(onehot(draws['labels_pl']))),
         'Dmain': (t(draws['z_d']), onehot(draws['labels_d'])),
         'Dreg': (t(draws['z_d']), onehot(draws['labels_d']))}
  pl_noise = t(draws['pl_noise']).permute(0, 3, 1, 2).contiguous()   # NHWC -> NCHW
  initial = {'G': copy.deepcopy(G.state_dict()), 'D': copy.deepcopy(D.state_dict())}
  G.train().requires_grad_(False)
  D.train().requires_grad_(False)
  loss = StyleGAN2Loss(torch.device('cpu'), G.mapping, ConstNoiseSynthesis(G.synthesis), D,
                       augment_pipe=None, **LOSS)
  grads, pl_mean = {}, None
  for phase, net_name, gain in PHASES:
    G.load_state_dict(initial['G'])
    D.load_state_dict(initial['D'])
    net = {'G': G, 'D': D}[net_name]
    net.requires_grad_(True)
    for p in net.parameters():
      p.grad = None
    gen_z, gen_c = gen[phase]
    with randn_like_returns(pl_noise) as calls:
      loss.accumulate_gradients(phase=phase, real_img=real, real_c=real_c, gen_z=gen_z,
                                gen_c=gen_c, sync=True, gain=gain)
    assert len(calls) == (phase == 'Greg'), (phase, len(calls))
    net.requires_grad_(False)
    grads[phase] = {}
    for name, p in net.named_parameters():
      assert p.grad is not None, f'{phase}: no gradient for {name}'
      grads[phase][name] = p.grad.detach().numpy().copy()
    if phase == 'Greg':
      pl_mean = float(loss.pl_mean)
  return grads, pl_mean


def clamped_fraction(G, D, real, real_c, draws):
  """The fraction of G's and D's clamped activations (a sanity print)."""
  import torch
  from torch_utils.ops import bias_act
  seen = []
  original = bias_act._bias_act_ref

  def spy(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None):
    y = original(x=x, b=b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    if clamp is not None and clamp >= 0:
      seen.append((int((y.abs() >= clamp).sum()), y.numel()))
    return y
  bias_act._bias_act_ref = spy
  try:
    with torch.no_grad():
      z = torch.as_tensor(np.array(draws['z_g']))
      c = torch.nn.functional.one_hot(torch.as_tensor(draws['labels_g'], dtype=torch.int64),
                                      CLASSES).float()
      D(G(z, c, noise_mode='const'), c)
      D(real, real_c)
  finally:
    bias_act._bias_act_ref = original
  return sum(s[0] for s in seen) / max(1, sum(s[1] for s in seen))


def write_fixture(path):
  """Builds the networks, runs the official phases and writes the npz at path."""
  import jax
  import torch
  from training.networks import Discriminator, Generator
  torch.manual_seed(0)
  G = perturbed(Generator(**G_KWARGS))
  torch.manual_seed(1)
  D = perturbed(Discriminator(**D_KWARGS))
  gen = torch.Generator().manual_seed(2)
  real = torch.rand([BATCH, 3, 16, 16], generator=gen) * 2 - 1
  real_labels = torch.randint(0, CLASSES, [BATCH], generator=gen)
  real_c = torch.nn.functional.one_hot(real_labels, CLASSES).float()
  draws = ganjax_draws(step_config(), jax.random.PRNGKey(RNG_SEED), (16, 16, 3))
  arrays = {f'G/{k}': v for k, v in tensors(G).items()}
  arrays |= {f'D/{k}': v for k, v in tensors(D).items()}
  print(f'clamped activations: {clamped_fraction(G.eval(), D.eval(), real, real_c, draws):.1%}')
  grads, pl_mean = official_phases(G, D, real, real_c, draws)
  for phase, named in grads.items():
    arrays |= {f'grad/{phase}/{k}': v for k, v in named.items()}
    print(f'{phase}: max |grad| {max(np.abs(v).max() for v in named.values()):.3g}')
  arrays |= {'in/real': real, 'in/real_labels': real_labels,
             **{f'in/{k}': v for k, v in draws.items()}, 'out/pl_mean': np.float32(pl_mean)}
  arrays = {k: np.asarray(v).astype(np.int32 if 'labels' in k else np.float32)
            for k, v in arrays.items()}
  config = dict(G=G_KWARGS, D=D_KWARGS, loss=LOSS, G_reg_interval=G_REG_INTERVAL,
                D_reg_interval=D_REG_INTERVAL, rng_seed=RNG_SEED, batch=BATCH)
  np.savez_compressed(path, **arrays, **{'meta/commit': np.array(OFFICIAL_COMMIT),
                                         'meta/config': np.array(json.dumps(config))})
  print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays); '
        f'pl_mean {pl_mean:.6g}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--official', required=True, help='checkout of stylegan2-ada-pytorch')
  parser.add_argument('--out', default=str(FIXTURE))
  args = parser.parse_args()
  sys.path.insert(0, str(pathlib.Path(args.official).resolve()))   # dnnlib, torch_utils
  write_fixture(pathlib.Path(args.out))


if __name__ == '__main__':
  main()
