"""Writes tests/fixtures/stylegan2_small.npz from the official StyleGAN2-ADA code, and
checks the full-size `--cfg=cifar` networks against ganjax's.

The official code is NVlabs/stylegan2-ada-pytorch at OFFICIAL_COMMIT (a plain checkout,
e.g. `git --git-dir=<mirror> archive <commit> | tar -x -C /tmp/sg2ada_official`); its
custom ops fall back to their reference PyTorch paths on CPU. Small networks (16x16,
channels <= 16, z/w 16, 3 classes, 2-layer mappings, conv_clamp 0.5 so clamps bite) get
seeded weights with every constant-initialised tensor perturbed; the fixture holds their
tensors, fixed inputs and outputs (G with noise_mode 'const', with truncation, and with
recorded random noise; D 'orig', 'resnet', 'skip'), float32, flat keys:
  meta/commit, meta/config (JSON)      the code and the networks' keyword arguments
  <net>/<official tensor name>         weights and buffers, official layout (NCHW)
  in/z, in/labels, in/images           inputs (images NCHW), in/noise<i> [B, 1, r, r]
  out/<net>/<case>                     outputs (images NCHW; D logits [B, 1])

  python benchmarks/stylegan2_fixture.py --official=/tmp/sg2ada_official
  python benchmarks/stylegan2_fixture.py --official=/tmp/sg2ada_official --full
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from ganjax.models.stylegan2 import OFFICIAL_COMMIT

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'stylegan2_small.npz'
BATCH, CLASSES = 4, 3
SMALL_G = dict(z_dim=16, w_dim=16, img_resolution=16, img_channels=3,
               mapping_kwargs=dict(num_layers=2),
               synthesis_kwargs=dict(channel_base=128, channel_max=16, conv_clamp=0.5))
SMALL_D = dict(img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
               conv_clamp=0.5, mapping_kwargs=dict(num_layers=2),
               epilogue_kwargs=dict(mbstd_group_size=2))
NETS = {  # name: (kind, c_dim, extra keyword arguments)
    'G_skip': ('G', CLASSES, {}),
    'G_resnet': ('G', 0, dict(synthesis_kwargs=dict(SMALL_G['synthesis_kwargs'],
                                                    architecture='resnet'))),
    'D_orig': ('D', CLASSES, dict(architecture='orig')),
    'D_resnet': ('D', CLASSES, dict(architecture='resnet')),
    'D_skip': ('D', 0, dict(architecture='skip')),
}


def build(kind, c_dim, extra, seed):
  """An official G or D of the small configuration with seeded, perturbed tensors."""
  import torch
  from training.networks import Discriminator, Generator
  torch.manual_seed(seed)
  net = (Generator(c_dim=c_dim, **{**SMALL_G, **extra}) if kind == 'G'
         else Discriminator(c_dim=c_dim, **{**SMALL_D, **extra}))
  return perturbed(net).eval()


def perturbed(net):
  """net with N(0, 0.3) added to every constant tensor (zeros / ones inits, w_avg), so
  that biases, noise strengths and affine biases all count."""
  import torch
  with torch.no_grad():
    for t in tensors(net, torch_tensors=True).values():
      if t.numel() == 1 or bool((t == t.flatten()[0]).all()):
        t.add_(torch.randn_like(t) * 0.3)
  return net


def tensors(net, torch_tensors=False):
  """{official name: tensor} of net's parameters and buffers, less resample_filter."""
  named = list(net.named_parameters()) + list(net.named_buffers())
  return {k: (v if torch_tensors else v.detach().numpy().copy()) for k, v in named
          if not k.endswith('resample_filter')}


def recorded_noise(G, seed):
  """[B, 1, r, r] per synthesis conv, as noise_mode='random' draws them after seed."""
  import torch
  torch.manual_seed(seed)
  layers = [m for n, m in G.synthesis.named_modules() if n.endswith(('conv0', 'conv1'))]
  return [torch.randn([BATCH, 1, m.resolution, m.resolution]) for m in layers]


def g_outputs(G, z, c, every_case):
  """The small G's cases: const noise, w_avg update; every_case adds truncation and
  recorded random noise."""
  import torch
  with torch.no_grad():
    out = {'const': G(z, c, noise_mode='const'), 'ws': G.mapping(z, c)}
    if every_case:
      out['trunc'] = G(z, c, truncation_psi=0.7, truncation_cutoff=2, noise_mode='const')
      torch.manual_seed(7)
      out['random'] = G(z, c, noise_mode='random')
    G.mapping.train()
    G.mapping(z, c)
    out['w_avg_after'] = G.mapping.w_avg.clone()
    G.mapping.eval()
  return out


def small_fixture(path):
  """Builds the small networks, runs them and writes the npz at path."""
  import torch
  gen = torch.Generator().manual_seed(0)
  z = torch.randn([BATCH, 16], generator=gen)
  labels = torch.tensor([0, 2, 1, 2])
  c = torch.nn.functional.one_hot(labels, CLASSES).float()
  images = torch.randn([BATCH, 3, 16, 16], generator=gen)
  arrays = {'in/z': z, 'in/labels': labels.int(), 'in/images': images}
  for seed, (name, (kind, c_dim, extra)) in enumerate(NETS.items()):
    net = build(kind, c_dim, extra, seed)
    if kind == 'G':
      arrays |= {f'{name}/{k}': v for k, v in tensors(net).items()}   # before w_avg moves
      outputs = g_outputs(net, z, c if c_dim else None, every_case=name == 'G_skip')
      arrays |= {f'out/{name}/{k}': v for k, v in outputs.items()}
      if name == 'G_skip':
        arrays |= {f'in/noise{i}': n for i, n in enumerate(recorded_noise(net, 7))}
    else:
      arrays |= {f'{name}/{k}': v for k, v in tensors(net).items()}
      with torch.no_grad():
        arrays[f'out/{name}/logits'] = net(images, c if c_dim else None)
  arrays = {k: np.asarray(v).astype(np.int32 if k == 'in/labels' else np.float32)
            for k, v in arrays.items()}
  config = dict(G=SMALL_G, D=SMALL_D, nets=NETS)
  np.savez_compressed(path, **arrays, **{'meta/commit': np.array(OFFICIAL_COMMIT),
                              'meta/config': np.array(json.dumps(config))})
  print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays)')


def cifar_networks():
  """The official `--cfg=cifar` conditional G and 'orig' D (fp32), seeded and perturbed."""
  import torch
  from training.networks import Discriminator, Generator
  torch.manual_seed(0)
  G = Generator(z_dim=512, c_dim=10, w_dim=512, img_resolution=32, img_channels=3,
                mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=32768, channel_max=512, conv_clamp=256))
  D = Discriminator(c_dim=10, img_resolution=32, img_channels=3, architecture='orig',
                    channel_base=32768, channel_max=512, conv_clamp=256,
                    epilogue_kwargs=dict(mbstd_group_size=32))
  return perturbed(G).eval(), perturbed(D).eval()


def full_check():
  """cifar-size G and D, official vs ganjax on 2 inputs: prints the max |diff|s."""
  import jax.numpy as jnp
  import torch
  from ganjax.models import stylegan2 as sg
  G, D = cifar_networks()
  z, labels = torch.randn([2, 512]), torch.tensor([3, 7])
  c = torch.nn.functional.one_hot(labels, 10).float()
  with torch.no_grad():
    img = G(z, c, noise_mode='const')
    logits = D(img, c).numpy()
  img = img.numpy().transpose(0, 2, 3, 1)
  g = sg.StyleGAN2Generator((32, 32, 3), num_classes=10, **sg.CIFAR_G)
  d = sg.StyleGAN2Discriminator(num_classes=10, **sg.CIFAR_D)
  ours = g.apply(sg.from_official(tensors(G)), jnp.asarray(z.numpy()), labels.numpy(),
                 train=False, noise_mode='const')
  ours_d = d.apply(sg.from_official(tensors(D)), jnp.asarray(img), labels.numpy(), train=False)
  print(f'cifar G: max |diff| {np.abs(np.asarray(ours) - img).max():.3g} '
        f'(max |pixel| {np.abs(img).max():.3g})')
  print(f'cifar D: max |diff| {np.abs(np.asarray(ours_d) - logits).max():.3g} '
        f'(max |logit| {np.abs(logits).max():.3g})')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--official', required=True, help='checkout of stylegan2-ada-pytorch')
  parser.add_argument('--out', default=str(FIXTURE))
  parser.add_argument('--full', action='store_true', help='check the cifar networks instead')
  args = parser.parse_args()
  sys.path.insert(0, str(pathlib.Path(args.official).resolve()))   # dnnlib, torch_utils
  full_check() if args.full else small_fixture(pathlib.Path(args.out))


if __name__ == '__main__':
  main()
