"""Reports: every file of a tiny real run and sweep, the plotted series equal
metrics.jsonl (cut lines and resumes included), grid cells recovered exactly, and pages
for missing metrics, missing samples and eval results that link only what exists."""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, make_small_config
from ganjax import figures, input_pipeline, report, run_config, sampling, sweep, train
from ganjax.report import data as report_data, plots as report_plots, reals
from ganjax.errors import GanjaxError

# The grid changes only host-side index sampling, so the 4 runs share one compiled step.
POINTS = [({'data.sampling': v}, s) for v in ('epochs', 'replacement') for s in (0, 1)]


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A 12-step mnist_mlp run trained to step 4, then resumed to 12: metrics and grids at
  steps 4, 8 and 12."""
  workdir = str(tmp_path_factory.mktemp('run'))
  config = make_small_config()
  for config.num_steps in (4, 12):
    train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def cond_run(tmp_path_factory):
  """A 4-step conditional mnist_mlp run: one grid, one row per digit."""
  workdir = str(tmp_path_factory.mktemp('cond'))
  config = make_small_config()
  config.model.conditional, config.num_steps = True, 4
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def labels_of():
  """{image bytes: the labels of the shared t10k digits that have them}."""
  data = make_small_config().data
  dataset = input_pipeline.load_dataset(data)
  out = {}
  for image, label in zip(dataset.images, dataset.labels):
    out.setdefault(image.tobytes(), set()).add(int(label))
  return out


@pytest.fixture(scope='module')
def swept(tmp_path_factory):
  """A 2-point x 2-seed sweep of 4-step runs (one logged row, one grid each) with
  results.csv, as experiments.sweep leaves it."""
  root = str(tmp_path_factory.mktemp('sweep'))
  config = make_small_config()
  config.num_steps = 4
  for overrides, seed in POINTS:
    train.train_and_evaluate(sweep.apply(config, overrides, seed),
                             sweep.point_workdir(root, overrides, seed))
  sweep.write_results(root, sweep.collect(root, POINTS))
  return root


def _copy(src, dst, *keep):
  """A copy of the workdir `src` with only the entries named in `keep`."""
  os.makedirs(dst)
  for name in keep:
    if os.path.isdir(os.path.join(src, name)):
      shutil.copytree(os.path.join(src, name), os.path.join(dst, name))
    elif os.path.exists(os.path.join(src, name)):
      shutil.copy(os.path.join(src, name), dst)
  return str(dst)


def _check_page(path):
  """The page's text, after checking it links only files that exist and no URL."""
  text = open(path).read()
  assert 'http://' not in text and 'https://' not in text and '<script' not in text
  links = re.findall(r'(?:src|href)="([^"]*)"', text)
  for link in links:
    if not link.startswith('#'):
      target = os.path.join(os.path.dirname(path), urllib.parse.unquote(link))
      assert os.path.isfile(target), link
  return text


def _rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _size(path):
  with Image.open(path) as im:
    im.load()
    return im.size


def test_run_report_writes_every_file(run):
  # training's end wrote one (config.report defaults to True); rewrite it here
  assert os.path.isfile(os.path.join(run, 'report', 'run_info.json'))
  index = report.write(run, devices=report.describe_devices())
  out = os.path.join(run, 'report')
  assert index == os.path.join(out, 'index.html')
  assert sorted(os.listdir(out)) == ['curves.png', 'index.html', 'latest.png', 'progress.png',
                                     'real.json', 'real.png', 'run_info.json', 'training.gif']
  prepared = report_data.prepare_series(_rows(run))
  panels = report_data.curve_panels(prepared)
  assert [p['title'].split(' ')[0] for p in panels] == ['losses:', 'D', 'training']
  assert _size(os.path.join(out, 'curves.png')) == report_plots.figure_size(len(panels))
  grids = sorted(os.listdir(os.path.join(run, 'samples')))
  assert grids == ['step_08.png', 'step_12.png', 'step_4.png']   # padded to num_steps
  grid_w, grid_h = _size(os.path.join(run, 'samples', 'step_12.png'))
  with Image.open(os.path.join(out, 'training.gif')) as gif:
    assert gif.n_frames == len(grids) and gif.size == (grid_w, grid_h + 14)
  # 6 fixed latents (28 x 28 cells, drawn 3x) at steps 4, 8, 12, as labelled_grid lays out
  expected = figures.labelled_grid([np.zeros((3, 28, 28, 1), np.uint8)] * 6,
                                   [f'z{i}' for i in range(1, 7)],
                                   header=['step 4', 'step 8', 'step 12'])
  assert _size(os.path.join(out, 'progress.png')) == (expected.shape[1], expected.shape[0])
  with open(os.path.join(out, 'latest.png'), 'rb') as a, \
       open(os.path.join(run, 'samples', 'step_12.png'), 'rb') as b:
    assert a.read() == b.read()
  text = _check_page(index)
  for needle in ('curves.png', 'progress.png', 'training.gif', 'latest.png', 'real.png',
                 'Real: training images of mnist (test split)', 'GENERATOR (',
                 'configs/mnist_mlp.py', 'batch_size', 'cpu',
                 'first step logged after a restart: 8', '12 of 12: finished'):
    assert needle in text, needle
  assert 'Missing or incomplete' not in text


def test_series_are_the_logged_values(run):
  rows = _rows(run)
  # the resumed process's first row has no steps_per_sec (it has no interval yet)
  assert [r['step'] for r in rows] == [4, 8, 12] and 'steps_per_sec' not in rows[1]
  prepared = report_data.prepare_series(rows)
  assert prepared['restarts'] == [8]
  for name in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'd_real_prob', 'd_fake_prob'):
    steps, values = prepared['series'][name]
    np.testing.assert_array_equal(steps, [r['step'] for r in rows])
    np.testing.assert_array_equal(values, [r[name] for r in rows])
  losses = report_data.curve_panels(prepared, smoothing=0.5)[0]
  raw, smooth = losses['lines'][0], losses['lines'][1]
  assert raw['label'] == 'd_loss (logged)'
  np.testing.assert_array_equal(raw['y'], [r['d_loss'] for r in rows])
  a, b, c = (r['d_loss'] for r in rows)
  np.testing.assert_allclose(smooth['y'], [a, (0.25 * a + 0.5 * b) / 0.75,   # debiased EMA
                                           (0.125 * a + 0.25 * b + 0.5 * c) / 0.875])


def test_cut_lines_and_resumes(tmp_path):
  lines = [{'step': 4, 'd_loss': 1.0}, {'step': 8, 'd_loss': 2.0, 'steps_per_sec': 4.0},
           {'step': 12, 'd_loss': 3.0, 'steps_per_sec': 4.0},
           # killed after the checkpoint at step 8; the restart re-logs 12 from step 8
           {'step': 12, 'd_loss': 3.5}, {'step': 16, 'd_loss': 4.0, 'steps_per_sec': 2.0},
           {'step': 16, 'eval/domain_fid': 50.0},
           # killed after the checkpoint at 16: the next process logs 20 without a rate
           {'step': 20, 'd_loss': 5.0}]
  text = '\n'.join(json.dumps(l) for l in lines)
  # a line cut mid-write and continued by the next process, then a cut last line
  text += '\n{"step": 24, "d_lo' + json.dumps({'step': 24, 'd_loss': 6.0, 'steps_per_sec': 3.0})
  text += '\n{"step": 28, "d_loss": 7'
  (tmp_path / 'metrics.jsonl').write_text(text)
  metrics = report_data.read_metrics(str(tmp_path / 'metrics.jsonl'))
  assert metrics['cut_last'] and metrics['skipped'] == 1 and len(metrics['rows']) == 8
  prepared = report_data.prepare_series(metrics['rows'])
  assert prepared['restarts'] == [12, 20]
  steps, values = prepared['series']['d_loss']
  np.testing.assert_array_equal(steps, [4, 8, 12, 16, 20, 24])
  np.testing.assert_array_equal(values, [1.0, 2.0, 3.5, 4.0, 5.0, 6.0])   # last per step
  assert [list(a) for a in prepared['series']['eval/domain_fid']] == [[16], [50.0]]
  # each interval over its rate; those without one (steps 4, 20) at the median, 3.5
  np.testing.assert_allclose(report_data.training_time(prepared),
                             4 / 3.5 + 4 / 4 + 4 / 4 + 4 / 2 + 4 / 3.5 + 4 / 3)
  text = _check_page(report.write(str(tmp_path)))   # no config, no samples: notes only
  assert 'curves.png' in text and 'first step logged after a restart: 12, 20' in text
  for needle in ('last line of metrics.jsonl is cut', 'no samples/step_*.png yet',
                 'no config.json'):
    assert needle in text, needle


def test_pages_without_metrics_without_samples_and_with_evals(run, tmp_path):
  empty = _copy(run, tmp_path / 'new', 'config.json')
  text = _check_page(report.write(empty))
  assert 'no metrics yet' in text and 'no samples/step_*.png yet' in text
  assert not os.path.exists(os.path.join(empty, 'report', 'curves.png'))
  unsampled = _copy(run, tmp_path / 'unsampled', 'config.json', 'metrics.jsonl')
  text = _check_page(report.write(unsampled))
  assert 'curves.png' in text and 'no samples/step_*.png yet' in text
  assert 'progress.png' not in text
  scored = _copy(run, tmp_path / 'scored', 'config.json', 'metrics.jsonl', 'samples')
  floor, metrics = {'domain_fid': 2.5, 'class_kl': 0.01}, {'domain_fid': 90.0, 'class_kl': 0.2}
  with open(os.path.join(scored, 'metrics.jsonl'), 'a') as f:
    f.write(json.dumps({'step': 8, **{f'eval/{k}': v for k, v in metrics.items()}}) + '\n')
  with open(os.path.join(scored, 'best.json'), 'w') as f:
    json.dump({'metric': 'domain_fid', 'value': 90.0, 'step': 8, 'n': 64,
               'feature_space': 'domain:x', 'metrics': metrics, 'floor': floor}, f)
  os.makedirs(os.path.join(scored, 'eval'))
  with open(os.path.join(scored, 'eval', 'step8_raw.json'), 'w') as f:
    json.dump({'n': 64, 'step': 8, 'weights': 'raw', 'metrics': metrics, 'floor': floor}, f)
  text = _check_page(report.write(scored))
  assert 'Best checkpoint' in text and 'eval/step8_raw.json' in text and '2.5' in text
  assert 'domain_fid 90 at step 8: 36.0x the real-vs-real floor 2.5 (n = 64)' in text
  assert 'Missing or incomplete' not in text
  prepared = report_data.prepare_series(_rows(scored))
  panels = report_data.curve_panels(prepared, report_data.floors(
      json.load(open(os.path.join(scored, 'best.json'))), []))
  fid = next(p for p in panels if p['title'] == 'eval: domain_fid')
  assert fid['hlines'][0]['y'] == 2.5 and list(fid['lines'][0]['y']) == [90.0]


def test_after_training_unless_config_says_not(run, tmp_path):
  workdir = _copy(run, tmp_path / 'w', 'config.json', 'metrics.jsonl')
  config = make_small_config()
  config.report = False
  report.after_training(config, workdir)
  assert not os.path.exists(os.path.join(workdir, 'report'))
  config.report = True
  report.after_training(config, workdir)
  text = _check_page(os.path.join(workdir, 'report', 'index.html'))
  assert json.load(open(os.path.join(workdir, 'report', 'run_info.json')))['devices'] in text


def _real_cells(workdir, side=10):
  """real.png's cells [side, side, h, w, C], checked to be latest.png's layout."""
  out = os.path.join(workdir, 'report')
  real = report_plots.load_image(os.path.join(out, 'real.png'))
  assert real.shape == report_plots.load_image(os.path.join(out, 'latest.png')).shape
  return report_data.grid_cells(real, side)


def test_real_grid_is_the_generated_grid_s_layout_of_training_images(run, labels_of):
  report.write(run)
  cells = _real_cells(run)
  assert cells.shape == (10, 10, 28, 28, 1)   # grayscale kept as one channel
  keys = [c.tobytes() for c in cells.reshape(100, 28, 28, 1)]
  assert all(k in labels_of for k in keys) and len(set(keys)) > 90   # a draw, not repeats
  found = {l for k in keys for l in labels_of[k]}
  assert len(found) == 10   # an unconditional run's reals are any digits


def test_conditional_real_grid_holds_class_r_in_row_r(cond_run, labels_of):
  text = _check_page(report.write(cond_run))
  cells = _real_cells(cond_run)
  for r in range(10):
    assert all(labels_of[c.tobytes()] == {r} for c in cells[r]), r
  assert 'one row per class: 0, 1, 2, 3' in text
  info = json.load(open(os.path.join(cond_run, 'report', 'real.json')))
  assert info['labels'] == np.repeat(np.arange(10), 10).tolist()


def test_real_grid_is_kept_and_a_moved_data_dir_is_one_line(run, tmp_path, monkeypatch):
  config = run_config.load(run)
  out = str(tmp_path / 'out')
  os.makedirs(out)
  first = reals.write(config, out, 0)
  monkeypatch.setattr(reals, 'draw', lambda *a: pytest.fail('drawn again'))
  assert reals.write(config, out, 0) == first   # same config: kept
  monkeypatch.undo()
  moved = _copy(run, tmp_path / 'moved', 'config.json', 'metrics.jsonl', 'samples')
  with open(os.path.join(moved, 'config.json')) as f:
    saved = json.load(f)
  saved['data']['dir'] = str(tmp_path / 'gone')
  with open(os.path.join(moved, 'config.json'), 'w') as f:
    json.dump(saved, f)
  text = _check_page(report.write(moved))
  assert 'src="latest.png"' in text and 'src="real.png"' not in text
  assert 'could not draw the real training images (report/real.png): data.dir=' in text
  assert 'No real images beside the samples' in text


def test_eval_panels_draw_the_unseen_floor_of_each_metric():
  steps = np.array([4, 8])
  prepared = {'series': {f'eval/{m}': (steps, np.array(v)) for m, v in (
      ('domain_fid', [90.0, 50.0]), ('class_kl', [0.3, 0.1]), ('copying_median', [1.1, 1.0]),
      ('domain_recall', [0.1, 0.2]))}, 'restarts': []}
  floors = {'domain_fid': 22.0, 'class_kl': 0.003, 'copying_median': 1.016}
  panels = {p['title']: p for p in report_data.curve_panels(prepared, floors,
                                                             floor_kind='unseen')}
  fid = panels['eval: domain_fid']['hlines']
  assert [(h['y'], h['label'], h['style']) for h in fid] == [
      (22.0, 'unseen-real floor 22', 'floor'), (44.0, '2x floor', 'multiple'),
      (66.0, '3x floor', 'multiple')]
  for metric in ('class_kl', 'copying_median'):
    (line,) = panels[f'eval: {metric}']['hlines']
    assert line['y'] == floors[metric] and line['label'].startswith('unseen-real floor')
  assert panels['eval: domain_recall']['hlines'] == []   # no floor known: none drawn
  assert panels['eval: domain_fid']['log'] and not panels['eval: class_kl']['log']
  held = report_data.curve_panels(prepared, floors, floor_kind='held-out half')
  assert held[2]['title'] == 'eval: domain_fid'
  assert held[2]['hlines'][0]['label'] == 'held-out-half floor 22'
  best = {'floor': floors, 'floor_kind': 'unseen'}
  assert report_data.floor_kind(best, []) == 'unseen' and report_data.floor_kind({}, []) == ''


@pytest.mark.parametrize('side,shape', [(10, (28, 28, 1)), (4, (28, 28, 1)), (3, (32, 32, 3))])
def test_grid_cells_recover_the_images(tmp_path, side, shape):
  images = np.random.default_rng(0).integers(0, 256, (side * side, *shape), dtype=np.uint8)
  path = str(tmp_path / 'g.png')
  sampling.save_png(sampling.grid(images, rows=side), path,   # as hooks.grid_writer draws
                    scale=max(1, -(-256 // (side * shape[0]))))
  cells = report_data.grid_cells(report_plots.load_image(path), side)
  np.testing.assert_array_equal(cells.reshape(-1, *shape), images)
  rows, labels = report_data.strip_rows([cells, cells[::-1]], num_classes=2,
                                         class_names=['cat', 'dog'])
  assert labels == ['class cat', 'class dog']
  np.testing.assert_array_equal(rows[1][0], images[side])   # class 1: grid row 1's first
  np.testing.assert_array_equal(rows[1][1], images[(side - 2) * side])
  rows, labels = report_data.strip_rows([cells], latents=5)
  assert labels[-1] == 'z5' and len(rows) == 5
  np.testing.assert_array_equal(rows[4][0], images[4])


def test_sweep_report(swept):
  index = report.write(swept)
  out = os.path.join(swept, 'report')
  assert sorted(os.listdir(out)) == ['curves.png', 'final.png', 'grids.png', 'index.html']
  text = _check_page(index)
  links = [l for l in re.findall(r'href="([^"#][^"]*)"', text)]
  assert len(links) == 4 and all(l.endswith('report/index.html') for l in links)
  for overrides, seed in POINTS:
    _check_page(os.path.join(sweep.point_workdir(swept, overrides, seed), 'report',
                             'index.html'))
  runs = report.sweep_runs(swept)
  names = list(dict.fromkeys(r['point'] for r in runs))
  assert names == ['data.sampling=epochs', 'data.sampling=replacement']
  assert report_data.point_labels(names) == ['sampling=epochs', 'sampling=replacement']
  seeds = [[report_data.prepare_series(_rows(r['workdir'])) for r in runs if r['point'] == n]
           for n in names]
  panels = report_data.sweep_panels(list(zip(names, seeds)))
  d_loss = panels[0]['lines'][1]   # 'replacement': mean and std over its 2 seeds
  per_seed = np.array([[r['d_loss'] for r in _rows(r['workdir'])] for r in runs[2:]])
  np.testing.assert_allclose(d_loss['y'], per_seed.mean(0))
  np.testing.assert_allclose(d_loss['std'], per_seed.std(0, ddof=1))
  assert _size(os.path.join(out, 'curves.png'))[0] == report_plots.figure_size(len(panels))[0]
  grid_w, _ = _size(os.path.join(runs[0]['workdir'], 'samples', 'step_4.png'))
  assert _size(os.path.join(out, 'grids.png'))[0] > 2 * grid_w


def test_point_labels_tell_points_apart():
  names = ['augment.policy=,loss.name=bce,optimizer.g.b1=0.5',
           'augment.policy=color,translation,loss.name=bce,optimizer.g.b1=0.5',
           'augment.policy=,loss.name=hinge,optimizer.g.b1=0.0']
  assert report_data.parse_point_name(names[1]) == [
      ('augment.policy', 'color,translation'), ('loss.name', 'bce'), ('optimizer.g.b1', '0.5')]
  assert report_data.point_labels(names) == ["policy='' name=bce", 'policy=color,translation '
                                             'name=bce', "policy='' name=hinge"]


def test_cli(run, tmp_path):
  args = [sys.executable, '-m', 'experiments.report', '--gif_frames=1']
  ok = subprocess.run(args + [f'--workdir={run}'], cwd=REPO, capture_output=True, text=True,
                      timeout=300)
  assert ok.returncode == 0 and 'index.html' in ok.stdout, ok.stderr[-2000:]
  with Image.open(os.path.join(run, 'report', 'training.gif')) as gif:
    assert gif.n_frames == 1
  # the CLI prints a GanjaxError as one line (cli.user_errors, tested in cli_test)
  with pytest.raises(GanjaxError, match='smoothing'):
    report.check_options(report.Options(smoothing=1.0))
  with pytest.raises(GanjaxError, match='does not exist'):
    report.write(str(tmp_path / 'nowhere'))


@pytest.mark.skipif(not os.path.exists('/usr/bin/chromium'), reason='no /usr/bin/chromium')
def test_page_renders_in_headless_chromium(run, tmp_path):
  index = report.write(run)
  shot = tmp_path / 'shot.png'
  subprocess.run(['/usr/bin/chromium', '--headless', '--no-sandbox', '--disable-gpu',
                  '--disable-background-networking', '--disable-component-update',
                  '--disable-sync', '--no-first-run', f'--user-data-dir={tmp_path / "p"}',
                  f'--screenshot={shot}', '--window-size=1200,1600', f'file://{index}'],
                 capture_output=True, timeout=120, check=True)
  pixels = np.asarray(Image.open(shot).convert('L'))
  assert pixels.shape == (1600, 1200) and pixels.std() > 10   # not a blank page
