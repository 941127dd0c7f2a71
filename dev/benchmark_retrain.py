"""Time the retrain pipeline: seconds per stage and peak memory, on the demo data and at scale.

Bakes the default app into build/benchmark, and in its venv runs one process per size, each on a fresh DuckDB
file and MLflow registry with the app's default training budget:
    python dev/benchmark_retrain.py [--rows demo 100000 1000000]
"demo" is dataset_1 + dataset_2 as shipped (5,000 rows); a number generates that many rows with the demo data
generator (two thirds from the earlier period, one third from the later).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))
from dev.app_venv import app_python  # noqa: E402

SCRATCH = TEMPLATE / "build" / "benchmark"

# Runs inside the app's venv: load the rows, then retrain once, reporting stage seconds and peak RSS.
ONE_RUN = """
import json, random, resource, sys, time
from datetime import date
import pandas as pd
sys.path.insert(0, {template!r})
from dev.generate_demo_data import period
from {app}.config import load_settings
from {app}.datastore import infer_schema, open_datastore, read_csv
from {app}.pipeline import retrain

rows = {rows!r}
if rows == "demo":
    frame = pd.concat([read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")], ignore_index=True)
else:
    rng, earlier = random.Random(7), rows * 2 // 3
    frame = pd.DataFrame(
        period(rng, date(2023, 1, 1), 365, earlier, later_period=False, first_id=1)
        + period(rng, date(2024, 1, 1), 182, rows - earlier, later_period=True, first_id=earlier + 1)
    ).astype(str)
settings = load_settings("integration")
store = open_datastore(settings)
store.create(infer_schema(frame))
started = time.monotonic()
store.append(frame)
load_seconds = time.monotonic() - started
started = time.monotonic()
report = retrain(settings=settings)
print(json.dumps({{
    "rows": len(frame),
    "append_seconds": round(load_seconds, 2),
    "retrain_seconds": round(time.monotonic() - started, 2),
    "stages": report.seconds,
    "models_tried": report.models_tried,
    "stopped_because": report.search_stopped_because,
    "score": round(report.challenger_score, 4),
    "trees": report.trees,
    "predict_ms_per_1000_rows": report.predict_ms_per_1000_rows,
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=["demo", "100000", "1000000"])
    args = parser.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH)))
    python = app_python(app)
    print(f"{'rows':>9} {'append s':>9} {'retrain s':>10}  stages (s)  models  peak RSS MB  score  trees  ms/1000 rows",
          flush=True)  # fmt: skip
    for rows in args.rows:
        state = SCRATCH / f"state-{rows}"
        code = ONE_RUN.format(template=str(TEMPLATE), app=app.name, rows=rows if rows == "demo" else int(rows))
        started = time.monotonic()
        finished = subprocess.run(
            [str(python), "-c", code],
            cwd=app,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "APP_STATE_DIR": str(state), "MLFLOW_TRACKING_URI": "", "APP_ENVIRONMENT": ""},
        )
        if finished.returncode != 0:
            elapsed = time.monotonic() - started
            print(f"{rows}: failed after {elapsed:.0f} s\n{finished.stderr[-3000:]}", file=sys.stderr)
            return 1
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in result["stages"].items())
        print(
            f"{result['rows']:>9} {result['append_seconds']:>9} {result['retrain_seconds']:>10}  {stages}"
            f"  {result['models_tried']} ({result['stopped_because']})  {result['peak_rss_mb']}  {result['score']}"
            f"  {result['trees']}  {result['predict_ms_per_1000_rows']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
