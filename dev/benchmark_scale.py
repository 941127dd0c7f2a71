"""`make benchmark-scale`: the same retrain on one node and on a 2-worker Dask cluster, at 1M, 5M and 10M generated
rows: wall time, peak memory of the largest process, and the score on the same held-out rows; then predict-table on
each table; and a projection to 100M rows from the measured rates.

Bakes the default app into build/benchmark-scale and runs every step in a process of its own in the app's venv (a
process's peak memory is its own, and its workers' once they ended: getrusage). The rows come from the demo data
generator, in chunks, on the app's default training budget:
    python dev/benchmark_scale.py [--rows 1000000 5000000 10000000] [--dask-worker-memory-gb 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))
from dev.app_venv import app_python  # noqa: E402

SCRATCH = TEMPLATE / "build" / "benchmark-scale"
PROJECTED_ROWS = 100_000_000

# Appends `rows` generated rows to a fresh table, a chunk at a time (the generator holds a chunk in memory).
GENERATE = """
import json, random, sys, time
from datetime import date
import pandas as pd
sys.path.insert(0, {template!r})
from dev.generate_demo_data import period
from {app}.config import load_settings
from {app}.datastore import infer_schema, open_datastore

rows, chunk, started = {rows}, 500_000, time.monotonic()
store = open_datastore(load_settings("integration"))
for number, first in enumerate(range(0, rows, chunk)):
    size = min(chunk, rows - first)
    rng, earlier = random.Random(number), size * 2 // 3
    frame = pd.DataFrame(
        period(rng, date(2023, 1, 1), 365, earlier, later_period=False, first_id=first + 1)
        + period(rng, date(2024, 1, 1), 182, size - earlier, later_period=True, first_id=first + earlier + 1)
    ).astype(str)
    if number == 0:
        store.create(infer_schema(frame))
    store.append(frame)
print(json.dumps({{"rows": store.count(), "seconds": round(time.monotonic() - started, 1)}}))
"""

# One retrain on `engine`; the peak of this process (client and, on a local cluster, the scheduler) and of the
# largest of its ended children (the Dask workers).
RETRAIN = """
import dataclasses, json, resource, time
from {app}.config import load_settings
from {app}.pipeline import retrain

settings = load_settings("integration")
environment = dataclasses.replace(settings.environment_config, dask_workers=2, dask_worker_memory_gb={worker_gb})
settings = dataclasses.replace(
    settings, app=dataclasses.replace(settings.app, training_engine={engine!r}), environment_config=environment
)
started = time.monotonic()
report = retrain(settings=settings)
print(json.dumps({{
    "seconds": round(time.monotonic() - started, 1),
    "stages": report.seconds,
    "score": report.challenger_score,
    "score_type": report.score_type,
    "test_rows": report.test_rows,
    "test_rows_hash": report.test_rows_hash,
    "training_rows": report.training_rows,
    "search_rows": report.search_rows,
    "trees": report.trees,
    "process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "largest_child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
}}))
"""

PREDICT_TABLE = """
import json, resource
from {app}.batch_scoring import score_table
from {app}.config import load_settings
from {app}.registry import open_registry

settings = load_settings("integration")
scored = score_table(settings, open_registry(settings))
print(json.dumps({{"rows": scored.rows, "seconds": round(scored.seconds, 1),
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}}))
"""


def run(python: Path, app: Path, state: Path, code: str) -> dict:
    environment = {**os.environ, "APP_STATE_DIR": str(state), "MLFLOW_TRACKING_URI": "", "APP_ENVIRONMENT": ""}
    finished = subprocess.run(
        [str(python), "-c", code], cwd=app, capture_output=True, text=True, check=False, env=environment
    )
    if finished.returncode != 0:
        # The largest process this script has waited for: the failed one, if it was killed for want of memory.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        return {"failed": f"exit {finished.returncode}: {finished.stderr.strip().splitlines()[-1:]}", "peak_mb": peak}
    return json.loads(finished.stdout.strip().splitlines()[-1])


def projected(sizes: list[int], values: list[float], rows: int) -> float:
    """The value at `rows` on the line through the two largest sizes measured."""
    (small, at_small), (large, at_large) = sorted(zip(sizes, values, strict=True))[-2:]
    return at_large + (at_large - at_small) / (large - small) * (rows - large)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", type=int, default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--dask-worker-memory-gb", type=float, default=8)
    args = parser.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH)))
    python = app_python(app)
    print(f"{'rows':>10}  {'engine':6}  {'wall s':>7}  {'largest process MB':>18}  {'score':>7}  {'vs local':>8}  "
          f"trees  test rows (hash)  predict-table", flush=True)  # fmt: skip
    measured: dict[str, list[tuple[int, float, float]]] = {"local": [], "dask": []}
    for rows in args.rows:
        data = SCRATCH / f"data-{rows}"
        generated = run(python, app, data, GENERATE.format(template=str(TEMPLATE), app=app.name, rows=rows))
        if "failed" in generated:
            print(f"{rows:>10}  generating the rows failed: {generated['failed']}", flush=True)
            return 1
        results = {}
        for engine in ("local", "dask"):
            state = SCRATCH / f"{engine}-{rows}"
            shutil.copytree(data, state)
            code = RETRAIN.format(app=app.name, engine=engine, worker_gb=args.dask_worker_memory_gb)
            result = results[engine] = run(python, app, state, code)
            if "failed" in result:
                print(f"{rows:>10}  {engine:6}  {result['failed']}; its peak: at least {result['peak_mb']} MB"
                      " (the largest process ended so far)", flush=True)  # fmt: skip
                shutil.rmtree(state)
                continue
            largest = max(result["process_mb"], result["largest_child_mb"])
            measured[engine].append((rows, result["seconds"], largest))
            local = results["local"].get("score")
            relative = "" if engine == "local" or local is None else f"{(result['score'] - local) / local:+.2%}"
            if engine == "dask" and "failed" in results["local"]:
                print(f"{rows:>10}  dask's largest process: at most {largest / results['local']['peak_mb']:.0%} of "
                      "the local retrain's peak, which it had at least when it failed", flush=True)  # fmt: skip
            scored = run(python, app, state, PREDICT_TABLE.format(app=app.name)) if engine == "local" else {}
            scoring = f"{scored['seconds']} s, peak {scored['peak_mb']} MB" if "peak_mb" in scored else ""
            print(
                f"{rows:>10}  {engine:6}  {result['seconds']:>7}  {largest:>18}  {result['score']:>7.4f}  "
                f"{relative:>8}  {result['trees']:>5}  {result['test_rows']} ({result['test_rows_hash']})  {scoring}",
                flush=True,
            )
            shutil.rmtree(state)
        shutil.rmtree(data)
    for engine, points in measured.items():
        if len(points) >= 2:
            sizes, seconds, peaks = zip(*points, strict=True)
            wall, peak = projected(sizes, seconds, PROJECTED_ROWS), projected(sizes, peaks, PROJECTED_ROWS)
            print(
                f"projected to {PROJECTED_ROWS:,} rows on {engine}: {wall:,.0f} s, largest process {peak:,.0f} MB "
                "(a line through the two largest sizes measured)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
