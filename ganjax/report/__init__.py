"""What a run or a sweep shows: pages (pages.py: WORKDIR/report/), the data they read
(data.py), their HTML (html.py) and plots (plots.py), the real training images beside a
run's samples (reals.py), and the time-to-quality leaderboard across runs
(leaderboard.py)."""

from ganjax.report.pages import (Options, after_sweep, after_training, check_options,
                                 describe_devices, sweep_runs, write)
