"""Writes tests/fixtures/r3gan_loss.npz: the gradients of one R3GAN training step's two
phases (D, then G) as brownvc/R3GAN computes them, at benchmarks.r3gan_fixture.COMMIT
(R3GAN/Trainer.py AdversarialTraining: RpGAN's softplus(-(D(x) - D(G(z)))) plus
γ/2 (R1 + R2) for D, softplus(-(D(G(z)) - D(x))) for G; training/loss.py R3GANLoss with
no augment pipe; training_loop.py's gain batch_gpu / batch_size = 1), for
tests/r3gan_loss_test.py.

Small official conditional networks (benchmarks.r3gan_fixture.SMALL: 16x16, widths
16/12/8, 3 classes) with seeded weights, the zero-initialised layers redrawn; γ = GAMMA,
batch BATCH, constant hyper-parameters (no schedules, no EMA, no augmentation). The
latents are the ones ganjax's step draws at step 0 of a run whose state.rng is
PRNGKey(RNG_SEED) with d_steps=1 (D update i=0 on the first real batch, G update i=1 on
the second: step.batches_per_step is 2 for relativistic losses), computed here with
ganjax's own step.streams / update_key / draw_fakes. The official loop makes each fake
with the label of the real it is paired with (training_loop.py passes the real batch's
real_c as the fakes' conditions, in both phases): ganjax's fake_labels='real' (the R3GAN
presets'); the real labels here are drawn apart from ganjax's sampled ones, so a step
that used those would fail the test. Both phases run from the
same initial weights, gradients cleared before each. Official custom ops fall back to
reference PyTorch on CPU.

Arrays, float32 (labels int32), flat keys:
  meta/commit, meta/config (JSON)   the code, the networks' and the loss's settings
  G/<name>, D/<name>                official state_dicts (NCHW layouts)
  in/real [2,B,3,16,16]             the step's two real batches (NCHW): D's, then G's
  in/real_labels [2,B]              their labels (and the fakes', as the official pairs them)
  in/z_d, in/labels_d               D update's fakes (i=0)
  in/z_g, in/labels_g               G update's fakes (i=1)
  grad/<phase>/<name>               phase D's / G's gradient of each parameter

  python benchmarks/r3gan_loss_fixture.py --official=/tmp/r3gan_official
"""

import argparse
import copy
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.r3gan_fixture import COMMIT, SMALL, build, import_official, state  # noqa: E402

FIXTURE = ROOT / 'tests' / 'fixtures' / 'r3gan_loss.npz'
BATCH, RNG_SEED, GAMMA, WEIGHT_SEED = 4, 2024, 1.0, 0
NETS = {k: v for k, v in SMALL.items() if k != 'batch'}
SIDE = 4 * 2**(len(NETS['widths']) - 1)


def step_config():
  """ganjax's StepConfig of the same step (what tests/r3gan_loss_test.py runs)."""
  from ganjax.objectives import losses, regularizers, step
  return step.StepConfig(latent_dim=NETS['noise_dim'], global_batch=BATCH, d_steps=1,
                         loss=losses.LossConfig(name='relativistic', relativistic='paired'),
                         reg=regularizers.RegConfig(r1=GAMMA, r2=GAMMA),
                         num_classes=NETS['num_classes'])


def ganjax_draws(cfg, rng):
  """{name: array} of the latents and labels ganjax's train_step draws at step 0 from
  state.rng = rng (step.py's streams, as d_update and g_update call them)."""
  from ganjax.objectives import step
  ctx = step.Context(cfg, None, None, None, None, lambda x: x)
  out = {}
  for name, i, update in (('d', 0, 'd'), ('g', cfg.d_steps, 'g')):
    keys = step.streams(step.update_key(rng, 0, i), update)
    z, labels = step.draw_fakes(ctx, keys['fakes'], cfg.global_batch)
    out[f'z_{name}'], out[f'labels_{name}'] = np.array(z), np.array(labels)
  return out


def official_phases(loss, G, D, real, real_c, z):
  """{phase: {official name: gradient}} of phases 'D' and 'G' (training_loop.py's order),
  each from the initial weights with its gradients cleared."""
  initial = {'G': copy.deepcopy(G.state_dict()), 'D': copy.deepcopy(D.state_dict())}
  G.requires_grad_(False)
  D.requires_grad_(False)
  grads = {}
  for i, phase in enumerate(('D', 'G')):
    G.load_state_dict(initial['G'])
    D.load_state_dict(initial['D'])
    net = {'G': G, 'D': D}[phase]
    net.requires_grad_(True)
    for p in net.parameters():
      p.grad = None
    loss.accumulate_gradients(phase=phase, real_img=real[i], real_c=real_c[i], gen_z=z[i],
                              gamma=GAMMA, gain=1.0)   # num_gpus * batch_gpu / batch_size
    net.requires_grad_(False)
    grads[phase] = {}
    for name, p in net.named_parameters():
      assert p.grad is not None, f'{phase}: no gradient for {name}'
      grads[phase][name] = p.grad.detach().numpy().copy()
  return grads


def write_fixture(path, official):
  """Builds the networks, runs the official phases and writes the npz at path."""
  import jax
  import torch
  networks = import_official(official)   # puts the checkout on sys.path
  from training.loss import R3GANLoss
  G, D = build(networks, NETS, seed=WEIGHT_SEED)
  G.train()
  D.train()
  draws = ganjax_draws(step_config(), jax.random.PRNGKey(RNG_SEED))
  gen = torch.Generator().manual_seed(1)
  real = torch.rand([2, BATCH, 3, SIDE, SIDE], generator=gen) * 2 - 1
  real_labels = torch.randint(0, NETS['num_classes'], (2, BATCH), generator=gen).numpy()
  real_c = torch.nn.functional.one_hot(torch.as_tensor(real_labels, dtype=torch.int64),
                                       NETS['num_classes']).float()
  z = torch.as_tensor(np.stack([draws['z_d'], draws['z_g']]))
  loss = R3GANLoss(G, D, augment_pipe=None)
  arrays = {f'G/{k}': v for k, v in state(G).items()}
  arrays |= {f'D/{k}': v for k, v in state(D).items()}
  grads = official_phases(loss, G, D, real, real_c, z)
  for phase, named in grads.items():
    arrays |= {f'grad/{phase}/{k}': v for k, v in named.items()}
    print(f'{phase}: max |grad| {max(np.abs(v).max() for v in named.values()):.3g}')
  arrays |= {'in/real': real.numpy(), 'in/real_labels': real_labels,
             **{f'in/{k}': v for k, v in draws.items()}}
  arrays = {k: np.asarray(v).astype(np.int32 if 'labels' in k else np.float32)
            for k, v in arrays.items()}
  config = dict(nets=NETS, gamma=GAMMA, batch=BATCH, rng_seed=RNG_SEED,
                weight_seed=WEIGHT_SEED, side=SIDE)
  np.savez_compressed(path, **arrays, **{'meta/commit': np.array(COMMIT),
                                         'meta/config': np.array(json.dumps(config))})
  print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays)')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--official', required=True, help='a copy of brownvc/R3GAN at COMMIT')
  parser.add_argument('--out', default=str(FIXTURE))
  args = parser.parse_args()
  write_fixture(pathlib.Path(args.out), str(pathlib.Path(args.official).resolve()))


if __name__ == '__main__':
  main()
