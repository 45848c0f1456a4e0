r"""The official R3GAN networks' outputs on fixed weights and inputs, for tests/r3gan_test.py.

python -m benchmarks.r3gan_fixture --official=/tmp/r3gan_official [--check_full]

--official: a copy of brownvc/R3GAN at COMMIT (e.g. `git --git-dir=MIRROR archive COMMIT |
tar -x -C DIR`); the three network files are checked against their SHA-256 at that commit.
Runs on CPU, where the official custom ops fall back to their reference PyTorch code.

Writes tests/fixtures/r3gan_small.npz: a small conditional G and D (SMALL: 3 stages,
16x16, widths 16/12/8) with seeded weights, the zero-initialised layers (every block's
last conv, the biases) redrawn so that no branch is trivially zero; keys 'g/NAME' and
'd/NAME' hold the official state_dict (NAME as in R3GAN.Networks, float32), 'z', 'labels',
'x' (NCHW) the inputs, 'g_out' (G(z, labels), NCHW) and 'd_out' (D(x, labels), [B]) the
outputs, 'config/*' SMALL and 'commit' the pinned commit.

--check_full: also builds the CIFAR-10 conditional preset (train.py), converts it with
ganjax.models.r3gan.from_official and prints the max |official - ganjax| on 2 samples.
"""

import hashlib
import os
import sys
import types

import numpy as np
from absl import app, flags

COMMIT = '19a7ddf463fbac2bd39b4c1c73d63f1c441c7403'
SHA256 = {
    'R3GAN/Networks.py': '901cb6360f7c0d34ce4615e142636e8f2a2a7b2ef28a28a8586032e9b638495a',
    'R3GAN/FusedOperators.py': '8756dacda8f0413f833e769c8d9b5d18cea3ae52f7b57a4ea21372e558ab38ce',
    'R3GAN/Resamplers.py': '32507d2c495343283fff54fa6a08e81ecfb079466888ba6373f6acfa07d90ef6',
}
# G's order (4x4 first); D takes them reversed, as train.py does.
SMALL = dict(noise_dim=8, widths=(16, 12, 8), cardinality=(4, 4, 2), blocks=(1, 2, 1),
             expansion=2, num_classes=3, g_embed=4, d_embed=16, batch=3)
CIFAR10 = dict(noise_dim=64, widths=(768,) * 4, cardinality=(96,) * 4, blocks=(2,) * 4,
               expansion=2, num_classes=10, g_embed=64, d_embed=768, batch=2)
OUT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', 'tests', 'fixtures',
                                   'r3gan_small.npz'))

flags.DEFINE_string('official', None, 'a copy of brownvc/R3GAN at COMMIT', required=True)
flags.DEFINE_string('out', OUT, 'where the fixture goes')
flags.DEFINE_bool('check_full', False, 'also compare the full CIFAR-10 networks')
FLAGS = flags.FLAGS


def import_official(path):
  """R3GAN.Networks from `path`, after checking its files against COMMIT's."""
  for name, digest in SHA256.items():
    with open(os.path.join(path, name), 'rb') as f:
      if hashlib.sha256(f.read()).hexdigest() != digest:
        raise SystemExit(f'{name} in {path} is not the one at commit {COMMIT}')
  try:
    import pkg_resources  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:   # setuptools >= 81 has none; conv2d_gradfix needs parse_version only
    import packaging.version  # pylint: disable=import-outside-toplevel
    sys.modules['pkg_resources'] = types.SimpleNamespace(parse_version=packaging.version.parse)
  sys.path.insert(0, path)
  import R3GAN.Networks   # pylint: disable=import-outside-toplevel
  return R3GAN.Networks


def build(networks, cfg, seed):
  """The official conditional (G, D) for cfg, seeded, zero layers redrawn, in eval mode."""
  import torch   # pylint: disable=import-outside-toplevel
  torch.manual_seed(seed)
  common = dict(ExpansionFactor=cfg['expansion'], ConditionDimension=cfg['num_classes'])
  g = networks.Generator(cfg['noise_dim'], list(cfg['widths']), list(cfg['cardinality']),
                         list(cfg['blocks']), ConditionEmbeddingDimension=cfg['g_embed'],
                         **common)
  d = networks.Discriminator(list(cfg['widths'][::-1]), list(cfg['cardinality'][::-1]),
                             list(cfg['blocks'][::-1]), ConditionEmbeddingDimension=cfg['d_embed'],
                             **common)
  with torch.no_grad():
    for p in [*g.parameters(), *d.parameters()]:
      if not p.any():   # a block's last conv (fan-in scale) or a bias (0.1)
        p.normal_(0, 1 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.1)
  return g.eval(), d.eval()


def run_official(g, d, cfg, seed):
  """Inputs and the official outputs: {'z', 'labels', 'x', 'g_out', 'd_out'} (numpy)."""
  import torch   # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  b, side = cfg['batch'], 4 * 2**(len(cfg['widths']) - 1)
  z = rng.standard_normal((b, cfg['noise_dim'])).astype(np.float32)
  labels = rng.integers(0, cfg['num_classes'], b).astype(np.int32)
  x = rng.standard_normal((b, 3, side, side)).astype(np.float32)
  onehot = torch.nn.functional.one_hot(torch.from_numpy(labels).long(),
                                       cfg['num_classes']).float()
  with torch.no_grad():
    g_out = g(torch.from_numpy(z), onehot).numpy()
    d_out = d(torch.from_numpy(x), onehot).numpy()
  return dict(z=z, labels=labels, x=x, g_out=g_out, d_out=d_out)


def state(module):
  """{name: float32 numpy} of an official module's state_dict."""
  return {k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def ganjax_outputs(g_state, d_state, data, cfg):
  """(G's [B, C, H, W], D's [B]) from ganjax's modules on the converted official weights."""
  from ganjax.models import r3gan   # pylint: disable=import-outside-toplevel
  kw = dict(cardinality=cfg['cardinality'], blocks=cfg['blocks'],
            expansion=cfg['expansion'], num_classes=cfg['num_classes'])
  side = 4 * 2**(len(cfg['widths']) - 1)
  g = r3gan.R3GANGenerator(image_shape=(side, side, 3), widths=cfg['widths'],
                           noise_dim=cfg['noise_dim'], embed_dim=cfg['g_embed'], **kw)
  d = r3gan.R3GANDiscriminator(widths=cfg['widths'][::-1], embed_dim=cfg['d_embed'],
                               **{**kw, 'cardinality': cfg['cardinality'][::-1],
                                  'blocks': cfg['blocks'][::-1]})
  images = g.apply({'params': r3gan.from_official(g_state)}, data['z'], data['labels'])
  logits = d.apply({'params': r3gan.from_official(d_state)},
                   np.transpose(data['x'], (0, 2, 3, 1)), data['labels'])
  return np.transpose(np.asarray(images), (0, 3, 1, 2)), np.asarray(logits)[:, 0]


def check_full(networks):
  """Prints the max |official - ganjax| of the CIFAR-10 conditional G and D."""
  g, d = build(networks, CIFAR10, seed=1)
  data = run_official(g, d, CIFAR10, seed=1)
  images, logits = ganjax_outputs(state(g), state(d), data, CIFAR10)
  print(f'CIFAR-10 G: max |diff| {np.abs(images - data["g_out"]).max():.3g} '
        f'(outputs up to {np.abs(data["g_out"]).max():.3g}); D: max |diff| '
        f'{np.abs(logits - data["d_out"]).max():.3g} (logits {data["d_out"]})')


def main(_):
  networks = import_official(FLAGS.official)
  g, d = build(networks, SMALL, seed=0)
  arrays = run_official(g, d, SMALL, seed=0)
  arrays.update({f'g/{k}': v for k, v in state(g).items()})
  arrays.update({f'd/{k}': v for k, v in state(d).items()})
  arrays.update({f'config/{k}': np.asarray(v, np.int32) for k, v in SMALL.items()})
  arrays['commit'] = np.asarray(COMMIT)
  np.savez_compressed(FLAGS.out, **arrays)
  print(f'wrote {FLAGS.out}: {os.path.getsize(FLAGS.out):,} bytes, {len(arrays)} arrays')
  if FLAGS.check_full:
    check_full(networks)


if __name__ == '__main__':
  app.run(main)
