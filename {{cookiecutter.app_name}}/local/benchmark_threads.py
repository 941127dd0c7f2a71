"""Time one LightGBM fit on one thread and on every core this process may use, at several table sizes, on an idle
machine and then with one busy process beside it (as a web process or another job would be): what ROWS_PER_THREAD in
ml/training.py is chosen from.

    python local/benchmark_threads.py [--rows 500 5000 50000 200000]
"""

import argparse
import subprocess
import sys
import time

import joblib
import lightgbm as lgb
import numpy as np

from {{ cookiecutter.app_name }}.ml.training import ROWS_PER_THREAD, training_threads

TREES = 200
FEATURES = 12


def fit_seconds(rows: int, threads: int) -> float:
    generator = np.random.default_rng(0)
    features = generator.normal(size=(rows, FEATURES))
    labels = features[:, 0] + features[:, 1] * features[:, 2] + generator.normal(size=rows) > 0
    model = lgb.LGBMClassifier(n_estimators=TREES, n_jobs=threads, verbose=-1)
    started = time.perf_counter()
    model.fit(features, labels)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[500, 5000, 50_000, 200_000])
    args = parser.parse_args()
    cores = joblib.cpu_count()
    if cores < 2:
        raise SystemExit("this process may use one core: there is nothing to compare")
    print(
        f"{TREES} trees, {FEATURES} features; 1 thread against {cores}; training uses one per {ROWS_PER_THREAD:,} rows"
    )
    for beside in ("idle", "with one busy process"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if beside != "idle" else None
        try:
            for rows in args.rows:
                one, every = fit_seconds(rows, 1), fit_seconds(rows, cores)
                print(f"{beside:>21}, {rows:>9,} rows: {one:6.2f} s on 1 thread, {every:6.2f} s on {cores}; "
                      f"training takes {training_threads(rows)}", flush=True)  # fmt: skip
        finally:
            if busy:
                busy.kill()
                busy.wait()


if __name__ == "__main__":
    main()
