"""Writes tests/fixtures/ada_bgc.npz: the official StyleGAN2-ADA AugmentPipe's outputs on
fixed images, with the random numbers it drew recorded: the 'bgc' pipeline, and R3GAN's
(its train.py --aug=1: bgc with colour at 0.5 and cutout; R3GAN's training/augment.py is
this AugmentPipe).

The official code is NVlabs/stylegan2-ada-pytorch at OFFICIAL_COMMIT (a plain checkout);
its custom ops fall back to their reference PyTorch paths on CPU (grid_sample_gradfix
is off by default, so grid_sample is torch's own). torch.rand and torch.randn, the only
random functions the pipeline calls, are patched to return numbers pre-drawn with numpy,
in the order the pipeline asks for them. Float32, flat keys (images NHWC, as ganjax
holds them; the pipe gets them NCHW):
  meta/commit                  the official code's commit
  <images>/x                   input images [B, H, W, C] (rgb16, rgb16_r3gan: 8x16x16x3,
                               gray28: 6x28x28x1)
  <images>/p<p>/y              the pipe's output at p [B, H, W, C]
  <images>/p<p>/draws          [B, K]: every random call's numbers, per sample, in call order
  <images>/p<p>/normal         [K]: 1 where a column came from torch.randn, else 0

  python benchmarks/ada_fixture.py --official=/tmp/sg2ada_official
"""

import argparse
import pathlib
import sys

import numpy as np

from ganjax.models.stylegan2 import OFFICIAL_COMMIT

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'ada_bgc.npz'
# train.py's augpipe_specs['bgc'] (xfrac included, as the official 'bgc' has it), and
# R3GAN train.py's augment_kwargs.
PIPES = {'bgc': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                     brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
         'r3gan': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                       brightness=0.5, contrast=0.5, lumaflip=0.5, hue=0.5,
                       saturation=0.5, cutout=1)}
# images: ((batch, side, channels), the ps the pipe runs at on them, the pipeline)
CASES = {'rgb16': ((8, 16, 3), (1.0, 0.5, 0.2), 'bgc'),
         'gray28': ((6, 28, 1), (1.0, 0.5), 'bgc'),
         'rgb16_r3gan': ((8, 16, 3), (1.0, 0.55), 'r3gan')}


def images(rng, batch, side, channels):
  """Smooth random images in [-1, 1] [B, side, side, C]: sums of random waves."""
  r = np.arange(side, dtype=np.float64)[:, None] / side
  c = np.arange(side, dtype=np.float64)[None, :] / side
  out = np.zeros((batch, side, side, channels))
  for _ in range(4):
    fy, fx = rng.uniform(-4, 4, size=(2, batch, 1, 1, channels))
    phase = rng.uniform(0, 2 * np.pi, size=(batch, 1, 1, channels))
    out += np.sin(2 * np.pi * (fy * r[..., None] + fx * c[..., None]) + phase) / 4
  return np.clip(out + rng.uniform(-0.2, 0.2, out.shape), -1, 1).astype(np.float32)


class Recorder:
  """Stands in for torch.rand / torch.randn: numpy draws, recorded in call order."""

  def __init__(self, torch, rng):
    self.torch, self.rng, self.calls = torch, rng, []

  def make(self, normal):
    def fn(size, *args, device=None, **kwargs):
      shape = tuple(size)
      a = (self.rng.standard_normal(shape) if normal else self.rng.random(shape))
      a = a.astype(np.float32)
      self.calls.append((a.reshape(shape[0], -1), normal))
      return self.torch.from_numpy(a).to(device or 'cpu')
    return fn

  def columns(self):
    """([B, K] draws in call order, [K] 1 for normal columns)."""
    draws = np.concatenate([a for a, _ in self.calls], axis=1)
    normal = np.concatenate([np.full(a.shape[1], n, np.float32) for a, n in self.calls])
    return draws, normal


def run_case(torch, augment, rng, x, p, pipeline):
  """(y, draws, normal) of one official pipe call on x [B, H, W, C] at p."""
  pipe = augment.AugmentPipe(**PIPES[pipeline])
  pipe.p.copy_(torch.as_tensor(p))
  rec = Recorder(torch, rng)
  saved = torch.rand, torch.randn
  torch.rand, torch.randn = rec.make(False), rec.make(True)
  try:
    with torch.no_grad():
      y = pipe(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
  finally:
    torch.rand, torch.randn = saved
  draws, normal = rec.columns()
  return y.transpose(0, 2, 3, 1).astype(np.float32), draws, normal


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--official', required=True, help='checkout of stylegan2-ada-pytorch')
  parser.add_argument('--out', default=str(FIXTURE))
  args = parser.parse_args()
  sys.path.insert(0, str(pathlib.Path(args.official).resolve()))   # dnnlib, torch_utils
  import torch
  from training import augment
  rng = np.random.default_rng(2021)
  arrays = {'meta/commit': np.array(OFFICIAL_COMMIT)}
  for name, (shape, ps, pipeline) in CASES.items():
    x = arrays[f'{name}/x'] = images(rng, *shape)
    for p in ps:
      y, draws, normal = run_case(torch, augment, rng, x, p, pipeline)
      arrays.update({f'{name}/p{p}/y': y, f'{name}/p{p}/draws': draws,
                     f'{name}/p{p}/normal': normal})
      print(f'{name} p={p}: {draws.shape[1]} draw columns, max |y - x| '
            f'{np.abs(y - x).max():.3f}')
  path = pathlib.Path(args.out)
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(path, **arrays)
  print(f'wrote {path} ({path.stat().st_size} bytes)')


if __name__ == '__main__':
  main()
