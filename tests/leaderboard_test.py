"""The time-to-quality leaderboard on hand-written metrics histories."""

import json
import math

import pytest
from PIL import Image

from ganjax import evaluation
from ganjax.report import leaderboard as lb
from ganjax.errors import GanjaxError

FLOOR = {'domain_fid': 2.0, 'class_kl': 0.001}


def _eval(step, ts, es, fid, cov, kl, worse=0.0):
  return {'step': step, 'eval/domain_fid': fid + worse, 'eval/class_coverage': cov,
          'eval/class_kl': kl, 'train_seconds': ts, 'eval_seconds': es}


def _write_run(path, scale=1.0, worse=0.0, dataset=None, floor=FLOOR):
  """A run: evals every 100 steps, 10 s of training and 5 s of evaluation between them
  (times x scale; fids + worse). A killed process logged a bad eval at 300 and a cut
  line; the resumed one redid step 300. Step 200 crosses the fid threshold, not coverage.
  With a dataset: a config.json of it and an unseen floor."""
  s, w = scale, worse
  lines = [json.dumps(r) for r in (
      {'step': 100, 'd_loss': 1.0, 'train_seconds': 10 * s, 'eval_seconds': 0.0},
      _eval(100, 10 * s, 5 * s, 30.0, 0.8, 0.1, w),
      _eval(200, 20 * s, 10 * s, 5.0, 0.9, 0.01, w),
      _eval(300, 33 * s, 15 * s, 100.0, 0.1, 2.0, w))]
  lines.append('{"step": 400, "d_lo')   # cut by the kill
  lines += [json.dumps(r) for r in (
      _eval(300, 30 * s, 15 * s, 5.5, 1.0, 0.015, w),
      _eval(400, 40 * s, 20 * s, 3.5, 1.0, 0.01, w),
      _eval(500, 50 * s, 25 * s, 3.0, 1.0, 0.005, w))]
  lines.append('{"step": 600, "eval/domain_f')   # a write in progress
  path.mkdir()
  (path / 'metrics.jsonl').write_text('\n'.join(lines))
  best = {'metric': 'domain_fid', 'floor': floor}
  if dataset:
    best['floor_kind'] = 'unseen'
    (path / 'config.json').write_text(json.dumps({'data': {'name': dataset}}))
  (path / 'best.json').write_text(json.dumps(best))
  return str(path)


@pytest.fixture
def history(tmp_path):
  run = lb.read_run(_write_run(tmp_path / 'run'))
  assert run['floor'] == FLOOR
  return lb.eval_history(run['rows'])


def test_eval_history_keeps_the_resumed_evals(history):
  assert [e['step'] for e in history] == [100, 200, 300, 400, 500]
  assert history[2] == {'step': 300, 'train_seconds': 30.0, 'eval_seconds': 15.0,
                        'domain_fid': 5.5, 'class_coverage': 1.0, 'class_kl': 0.015}


def test_eval_history_takes_missing_times_from_the_step_s_training_row():
  rows = [{'step': 4, 'd_loss': 1.0, 'train_seconds': 7.0, 'eval_seconds': 1.0},
          {'step': 4, 'eval/domain_fid': 9.0}, {'step': 8, 'eval/domain_fid': 8.0}]
  assert lb.eval_history(rows) == [
      {'step': 4, 'train_seconds': 7.0, 'eval_seconds': 1.0, 'domain_fid': 9.0},
      {'step': 8, 'train_seconds': None, 'eval_seconds': None, 'domain_fid': 8.0}]


def test_first_crossing(history):
  three, two = lb.fid_conditions(3.0, False), lb.fid_conditions(2.0, False)
  # Step 200 has fid 5 <= 6 but coverage 0.9; the killed process's step 300 is gone.
  assert lb.first_crossing(history, three, FLOOR) == (30.0, 300)
  assert lb.first_crossing(history, two, FLOOR) == (40.0, 400)
  assert lb.first_crossing(history, [('domain_fid', '<=', 5.0)]) == (20.0, 200)
  assert lb.first_crossing(history, [('class_kl', '<', ('floor', 6.0))], FLOOR) == (50.0, 500)
  # A conditional set needs label_accuracy, which these evals lack, and the reals' own.
  labelled = {**FLOOR, 'label_accuracy': 0.9}
  assert lb.first_crossing(history, lb.fid_conditions(3.0, True), labelled) is None
  with pytest.raises(GanjaxError, match='floor of label_accuracy.*classifier with labels'):
    lb.first_crossing(history, lb.fid_conditions(3.0, True), FLOOR)
  with pytest.raises(GanjaxError, match="a floor limit is"):
    lb.first_crossing(history, [('domain_fid', '<=', ('floor*', 2.0))], FLOOR)
  assert lb.first_crossing(history, [('domain_fid', '<=', 1.0)]) is None
  with pytest.raises(GanjaxError, match='floor of domain_fid'):
    lb.first_crossing(history, three, {})


def test_label_accuracy_limit_is_the_reals_own_minus_the_slack(history):
  floor = {**FLOOR, 'label_accuracy': 0.9}
  conditions = lb.fid_conditions(3.0, True)
  assert 'label_accuracy >= floor - 0.02' in lb.describe(conditions)
  with_labels = lambda acc: [{**e, 'label_accuracy': acc} for e in history]
  assert lb.first_crossing(with_labels(0.885), conditions, floor) == (30.0, 300)
  assert lb.first_crossing(with_labels(0.875), conditions, floor) is None


def test_best_within_counts_training_time_only(history):
  # With 40 s of training the best fid is step 400's 3.5 (at 40 s + 20 s of evals); were
  # eval time counted, only steps 100-200 (30 s in all) would fit and the best be 5.0.
  assert lb.best_within(history, 'domain_fid', 40.0) == {
      'value': 3.5, 'step': 400, 'train_seconds': 40.0}
  assert lb.best_within(history, 'domain_fid', 39.9)['value'] == 5.0
  assert lb.best_within(history, 'class_coverage', 40.0)['step'] == 300   # higher, 1st tie
  assert lb.best_within(history, 'class_kl', 1e9)['value'] == 0.005
  assert lb.best_within(history, 'domain_fid', 5.0) is None
  assert lb.best_within(history, 'label_accuracy', 1e9) is None
  # A run its time budget stopped: its last eval, a chunk past the budget, counts.
  assert lb.best_within(history, 'domain_fid', 39.9, stop_step=400)['value'] == 3.5
  assert lb.best_within(history, 'domain_fid', 39.9, stop_step=None)['value'] == 5.0


def test_directions_match_evaluation():
  assert lb.LOWER_IS_BETTER == evaluation.LOWER_IS_BETTER
  for metric in ('domain_fid', 'fid', 'domain_kid', 'class_kl', 'class_coverage',
                 'label_accuracy', 'domain_precision'):
    assert lb.lower_is_better(metric) == evaluation.is_better(metric, 0.0, 1.0)


def test_aggregate():
  agg = lb.aggregate([30.0, None, 50.0])
  assert agg['reached'] == 2 and agg['n'] == 3 and agg['mean'] == 40.0
  assert math.isclose(agg['std'], math.sqrt(200.0))   # sample std, ddof=1
  assert lb.aggregate([7.0]) == {'mean': 7.0, 'std': 0.0, 'reached': 1, 'n': 1}
  assert lb.aggregate([None, None]) == {'mean': None, 'std': None, 'reached': 0, 'n': 2}


def test_recipe_row_and_markdown(tmp_path):
  runs = [lb.read_run(_write_run(tmp_path / f'seed_{i}', scale)) for i, scale in
          enumerate((1.0, 2.0))]
  row = lb.recipe_row('mlp', runs, budget_seconds=40.0)
  three = row['thresholds']['fid<=3x floor']
  assert three['seconds'] == {'mean': 45.0, 'std': math.sqrt(450.0), 'reached': 2, 'n': 2}
  assert three['steps'] == {'mean': 300.0, 'std': 0.0, 'reached': 2, 'n': 2}
  # The slower seed's best fid within 40 s is step 200's 5.0.
  assert row['best']['domain_fid']['mean'] == (3.5 + 5.0) / 2
  assert 'label_accuracy' not in row['best'] and not row['conditional']
  assert row['train_seconds']['mean'] == 75.0 and row['eval_seconds']['mean'] == 37.5
  # Had a 0.8-minute time budget stopped the faster seed at 50 s, its last eval counts.
  runs[0]['time_budget'] = 48.0
  row = lb.recipe_row('mlp', runs, budget_seconds=40.0)
  assert row['best']['domain_fid']['mean'] == (3.0 + 5.0) / 2
  runs[0]['time_budget'] = 0.0
  bad = lb.read_run(_write_run(tmp_path / 'bad', worse=10.0))
  rows = [lb.recipe_row('mlp', runs, 40.0, factors=(2.0,)),
          lb.recipe_row('bad', [bad], 40.0, factors=(2.0,))]
  text = lb.markdown(rows, 40.0)
  table = [l for l in text.splitlines() if l.startswith('|')]
  assert table == [
      '| recipe | seeds | domain_fid floor | s to fid<=2x floor | steps to fid<=2x floor | '
      'best domain_fid in 40 s | best domain_fid / floor | best class_coverage in 40 s | '
      'best class_kl in 40 s | train s | eval s |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      '| mlp | 2 | 2 ± 0 | 60 ± 28 (2/2) | 400 ± 0 (2/2) | 4.25 ± 1.061 | 2.12 ± 0.53 | '
      '0.95 ± 0.07071 | 0.01 ± 0 | 75 ± 35 | 38 ± 18 |',
      '| bad | 1 | 2 | not reached (0/1) | not reached (0/1) | 13.5 | 6.75 | 1 | 0.01 | 50 '
      '| 25 |']
  assert ('- fid<=2x floor: domain_fid <= 2x floor, class_coverage >= 1, class_kl <= 0.02 '
          '(mlp, bad)') in text


def test_leaderboard_across_datasets(tmp_path):
  """MNIST and Fashion-MNIST recipes in one table, grouped by dataset, each row with its
  own floor and best FID / floor per seed."""
  fashion = {'domain_fid': 1.5, 'class_kl': 0.001}
  runs = {'mnist_a': [lb.read_run(_write_run(tmp_path / f'a{i}', s, dataset='mnist'))
                      for i, s in enumerate((1.0, 2.0))],
          'fashion_b': [lb.read_run(_write_run(tmp_path / 'b0', 1.0, 1.5, 'fashion_mnist',
                                               fashion))],
          'mnist_c': [lb.read_run(_write_run(tmp_path / 'c0', 1.0, 3.0, 'mnist'))]}
  rows = [lb.recipe_row(name, r, 40.0, factors=(2.0,)) for name, r in runs.items()]
  assert [r['dataset'] for r in rows] == ['mnist', 'fashion_mnist', 'mnist']
  a, b, c = rows
  # per seed: step 400's 3.5 / 2 and (slower seed) step 200's 5.0 / 2
  assert a['ratio']['mean'] == pytest.approx((3.5 / 2 + 5.0 / 2) / 2)
  assert a['ratio']['std'] == pytest.approx(0.75 / math.sqrt(2))   # sample std of two
  assert b['ratio'] == {'mean': 5.0 / 1.5, 'std': 0.0, 'reached': 1, 'n': 1}
  assert b['floor']['mean'] == 1.5 and b['floor_kind'] == 'unseen'
  assert c['ratio']['mean'] == pytest.approx(6.5 / 2)
  assert [r['recipe'] for r in lb.by_dataset(rows)] == ['mnist_a', 'mnist_c', 'fashion_b']
  table = [l for l in lb.markdown(rows, 40.0).splitlines() if l.startswith('|')]
  head = table[0].split(' | ')
  assert head[:4] == ['| dataset', 'recipe', 'seeds', 'domain_fid floor']
  cells = [dict(zip(head, l.split(' | '))) for l in table[2:]]
  assert [(c['| dataset'], c['recipe']) for c in cells] == [
      ('| mnist', 'mnist_a'), ('| mnist', 'mnist_c'), ('| fashion_mnist', 'fashion_b')]
  assert [c['domain_fid floor'] for c in cells] == ['2 ± 0 (unseen)', '2 (unseen)',
                                                    '1.5 (unseen)']
  assert [c['best domain_fid / floor'] for c in cells] == ['2.12 ± 0.53', '3.25', '3.33']


def test_an_older_leaderboard_json_renders_as_it_did():
  """A row written before the dataset, floor and ratio columns (runs/quality_sg2's)."""
  none = {'mean': None, 'std': None, 'reached': 0, 'n': 1}
  one = lambda v: {'mean': v, 'std': 0.0, 'reached': 1, 'n': 1}
  row = {'recipe': 'mnist_r3gan', 'n': 1, 'conditional': False,
         'thresholds': {'fid<=2x floor': {'conditions': 'domain_fid <= 2x floor',
                                          'seconds': none, 'steps': none}},
         'best': {'domain_fid': one(2538.0)}, 'train_seconds': one(738.0),
         'eval_seconds': one(45.0), 'copying': {}}
  table = [l for l in lb.markdown([json.loads(json.dumps(row))], 729.0).splitlines()
           if l.startswith('|')]
  assert table == ['| recipe | seeds | s to fid<=2x floor | steps to fid<=2x floor | '
                   'best domain_fid in 729 s | train s | eval s |', '|---|---|---|---|---|---|---|',
                   '| mnist_r3gan | 1 | not reached (0/1) | not reached (0/1) | 2538 | 738 | 45 |']


def test_mean_curve_averages_common_steps_then_the_last_evaluations():
  point = lambda step, t, fid: {'step': step, 'train_seconds': t, 'domain_fid': fid}
  a = [point(1000, 10.0, 100.0), point(2000, 20.0, 50.0), point(2500, 25.0, 40.0)]
  b = [point(1000, 12.0, 80.0), point(2000, 22.0, 30.0), point(2300, 24.0, 20.0)]
  xs, ys = lb.mean_curve([a, b], 'domain_fid')
  assert xs.tolist() == [11.0, 21.0, 24.5]   # not 2300 and 2500 as one-seed points
  assert ys.tolist() == [90.0, 40.0, 30.0]
  xs, ys = lb.mean_curve([a[:2], b[:2]], 'domain_fid')   # ending on a common step
  assert xs.tolist() == [11.0, 21.0] and ys.tolist() == [90.0, 40.0]
  assert lb.mean_curve([[], [{'step': 5, 'train_seconds': None}]], 'domain_fid')[0].size == 0


def test_quality_takes_a_data_dir_and_a_classifier_per_dataset(tmp_path):
  from benchmarks import quality   # pylint: disable=g-import-not-at-top (absl flags)
  assert quality.recipe_dataset('configs/fashion_mnist.py') == 'fashion_mnist'
  assert quality.recipe_dataset('configs/mnist_cond.py') == 'mnist'
  both = 'mnist=data/mnist,fashion_mnist=data/fashion_mnist'
  assert quality.per_dataset(both, 'fashion_mnist') == 'data/fashion_mnist'
  assert quality.per_dataset(both, 'cifar10') == ''   # the config's own
  assert quality.per_dataset('../shared/data/mnist', 'fashion_mnist') == '../shared/data/mnist'
  runs = {'mnist_a': [lb.read_run(_write_run(tmp_path / 'a', dataset='mnist'))],
          'fashion_b': [lb.read_run(_write_run(tmp_path / 'b', dataset='fashion_mnist'))]}
  quality.plot(str(tmp_path / 'board.png'), runs, 40.0)
  with Image.open(tmp_path / 'board.png') as im:
    assert im.size == (1600, 500)   # one panel per dataset
