import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.engines import canonical_order
from {{ cookiecutter.app_name }}.environments import DeploymentError
from {{ cookiecutter.app_name }}.ml import greater_is_better, score, split_features
from {{ cookiecutter.app_name }}.ml.holdout import Holdout
from {{ cookiecutter.app_name }}.ml.row_hash import rows_key
from {{ cookiecutter.app_name }}.pipeline import decide, retrain
from {{ cookiecutter.app_name }}.registry import Deployment, open_registry

from .conftest import create_database_script
from .support.data import APP_ROOT, data_rows, table_schema

pytestmark = pytest.mark.unit


def random_holdout(settings):
    """The settings without a time column: rows are held out by a hash of their content."""
    return dataclasses.replace(settings, app=dataclasses.replace(settings.app, time_column=None, min_score=None))


def every_row() -> pd.DataFrame:
    """All the rows of the app's data files, as text, in file order."""
    return pd.concat([data_rows("dataset_1.csv"), data_rows("dataset_2.csv")], ignore_index=True)


def row_keys(frame: pd.DataFrame) -> set[tuple]:
    """Each row as a tuple of its values written out: rows with the same content have the same key."""
    return set(frame.astype(str).itertuples(index=False, name=None))


def better(score_type: str, one: float, other: float) -> bool:
    return one > other if greater_is_better(score_type) else one < other


def test_first_model_is_registered_and_promoted(settings, store, registry):
    store.append(data_rows("dataset_1.csv", 400))
    stages = []

    report = retrain(settings=settings, progress=lambda stage, fraction: stages.append((stage, fraction)))

    assert report.promoted and report.passed
    assert report.challenger_version == report.serving_version == 1
    assert registry.champion_version("integration") == 1
    [version] = registry.versions()
    assert version.passed and version.serving == ("integration",)
    assert version.training_rows == report.training_rows and version.data_hash == report.data_hash
    assert version.test_rows == report.test_rows == report.held_out_rows > 0
    assert report.training_rows + report.held_out_rows == store.count()
    assert list(dict.fromkeys(stage for stage, _ in stages)) == [
        "read",
        "split",
        "train",
        "score",
        "register",
        "promote",
        "done",
    ]
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_promotion_the_registry_cannot_record_is_undone_and_says_so(settings, store, monkeypatch):
    store.append(data_rows("dataset_1.csv", 400))
    registry = open_registry(settings)

    def unreachable(*args, **kwargs):
        raise MlflowException("API request to the registry failed: Connection refused")

    monkeypatch.setattr(registry, "record_event", unreachable)  # the registry goes away after the alias moved

    with pytest.raises(DeploymentError, match="Connection refused.*nothing moved: it still runs no model"):
        retrain(settings=settings, registry=registry)

    assert open_registry(settings).deployment("integration") == Deployment()  # the alias was moved back
    assert open_registry(settings).events("integration") == []


def test_three_retrains_with_a_random_holdout_never_score_a_model_on_a_row_it_trained_on(settings, store, registry):
    settings = random_holdout(settings)
    trained_on: dict[int, set[tuple]] = {}  # version -> the rows it learnt from

    rows = every_row()
    for start in (0, 300, 600):
        store.append(rows.iloc[start : start + 300])
        frame = canonical_order(store.read())[0]  # what the retrain reads

        report = retrain(settings=settings)

        version = registry.version(report.challenger_version)
        held_out = Holdout.from_json(version.holdout).mask(frame)
        trained_on[version.version] = row_keys(frame[~held_out])
        assert (~held_out).sum() == report.training_rows
        compared = held_out.copy()
        if report.champion_version is not None:
            compared &= Holdout.from_json(registry.version(report.champion_version).holdout).mask(frame)
        scored = frame[compared]
        assert rows_key(scored) == report.test_rows_hash, "these must be the rows both models were scored on"
        assert len(scored) == report.test_rows > 0
        for model in (report.challenger_version, report.champion_version):
            assert not row_keys(scored) & trained_on.get(model, set()), f"v{model} was scored on rows it learnt"
        assert "neither model trained on" in report.compared_on or report.champion_version is None
    assert len(trained_on) == 3


def test_a_truly_better_challenger_more_rows_of_the_same_data_replaces_the_champion(settings, store, registry):
    settings = random_holdout(settings)
    rows = every_row().sample(frac=1, random_state=0).head(1200)  # the same data throughout: no drift
    store.append(rows.head(100))
    retrain(settings=settings)
    store.append(rows.tail(len(rows) - 100))

    report = retrain(settings=settings)

    assert report.champion_version == 1 and report.challenger_version == 2
    assert report.promoted, report.reason
    assert better(settings.app.score_type, report.challenger_score, report.champion_score)
    assert registry.champion_version("integration") == 2


def test_a_worse_challenger_is_registered_as_failed_and_not_promoted(settings, store, registry):
    # A column of noise beside the real ones: a challenger told to learn from it alone learns nothing.
    store.drop()
    store.create({**table_schema(), "noise": "float"})
    rows = data_rows("dataset_1.csv", 600)
    store.append(rows.assign(noise=np.random.default_rng(0).random(len(rows)).astype(str)))
    champion = dataclasses.replace(settings.app, min_score=None)  # let the comparison decide, not the floor
    retrain(settings=dataclasses.replace(settings, app=champion))
    real_features = [column for column in table_schema() if column != settings.app.target]
    blinkered = dataclasses.replace(
        champion, features=dataclasses.replace(settings.app.features, ignore=tuple(real_features))
    )

    report = retrain(settings=dataclasses.replace(settings, app=blinkered))

    assert not report.passed and not report.promoted
    assert "not better" in report.reason
    assert registry.champion_version("integration") == 1
    failed = {version.version: version for version in registry.versions()}[2]
    assert not failed.passed and failed.serving == ()
    assert failed.score == pytest.approx(report.challenger_score)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_champion_and_challenger_are_scored_on_the_same_held_out_rows(settings, store, registry, engine):
    store.append(data_rows("dataset_1.csv", 500))
    retrain(settings=settings)
    store.append(data_rows("dataset_2.csv", 300))
    settings = dataclasses.replace(settings, app=dataclasses.replace(settings.app, training_engine=engine))

    report = retrain(settings=settings)  # on dask: both models scored by the cluster's workers

    assert report.engine == engine

    # Apply both versions' recorded holdouts to the data again, and score both registered models on what they share.
    frame = canonical_order(store.read())[0]
    rules = [Holdout.from_json(registry.version(version).holdout) for version in (1, 2)]
    test = frame[rules[0].mask(frame) & rules[1].mask(frame)]
    assert rows_key(test) == report.test_rows_hash and len(test) == report.test_rows
    features, truth = split_features(test, settings.app.target)
    assert score(registry.load(1), features, truth, settings.app.score_type) == pytest.approx(report.champion_score)
    assert score(registry.load(2), features, truth, settings.app.score_type) == pytest.approx(report.challenger_score)


def test_after_test_fraction_grows_the_models_are_compared_only_on_rows_both_held_out(settings, store, registry):
    settings = random_holdout(settings)
    store.append(every_row().head(800))
    retrain(settings=settings)  # holds out test_fraction (0.2) of the rows
    wider = dataclasses.replace(settings, app=dataclasses.replace(settings.app, test_fraction=0.5))

    report = retrain(settings=wider)

    # The challenger did not train on half the rows; the champion may have trained on all but a fifth of them.
    assert report.test_rows < report.held_out_rows
    assert report.test_rows == pytest.approx(0.2 * store.count(), rel=0.3)
    assert "which neither model trained on" in report.compared_on


def test_a_champion_that_recorded_no_holdout_is_compared_on_the_new_one_and_the_report_says_it_is_favoured(
    settings, store, registry
):
    store.append(data_rows("dataset_1.csv", 300))
    retrain(settings=settings)
    # As a version registered before holdouts were recorded.
    registry.client.delete_model_version_tag(settings.app.model_name, "1", "holdout")

    report = retrain(settings=settings)

    assert report.champion_score is not None and report.test_rows == report.held_out_rows
    assert "champion v1 recorded no holdout" in report.compared_on and "favours it" in report.compared_on


def test_retraining_an_environment_leaves_the_others_alone(settings, store, registry):
    store.append(data_rows("dataset_1.csv", 300))
    store.clone("uat")
    retrain(settings=settings)
    # A score other than the config's: the caller's settings must carry over to the other environment.
    other_score = "accuracy" if settings.app.problem_type == "classification" else "mae"
    settings = dataclasses.replace(settings, app=dataclasses.replace(settings.app, score_type=other_score))

    report = retrain(settings.for_environment("uat"))

    assert registry.aliases() == {"integration": 1, "uat": 2}
    assert report.environment == "uat"
    assert report.score_type == other_score != load_settings("uat", root=APP_ROOT).app.score_type


def test_settings_for_another_environment_keep_the_app_config_and_take_that_environments_config(settings):
    uat = settings.for_environment("uat")

    assert uat.environment == "uat" and uat.app is settings.app
    assert uat.environment_config.app_title_extension == " - (uat)"


@pytest.mark.parametrize(
    ("challenger", "champion", "score_type", "min_score", "min_improvement", "passed"),
    [
        (0.80, None, "f1_weighted", 0.5, 0.0, True),  # first model: only the floor counts
        (0.40, None, "f1_weighted", 0.5, 0.0, False),  # below the floor
        (0.81, 0.80, "f1_weighted", 0.5, 0.0, True),
        (0.80, 0.80, "f1_weighted", 0.5, 0.0, False),  # a tie keeps the champion
        (0.81, 0.80, "f1_weighted", 0.5, 0.02, False),  # better, but not by enough
        (9.0, 10.0, "rmse", None, 0.0, True),  # lower error is better
        (11.0, 10.0, "rmse", None, 0.0, False),
        (9.0, 10.0, "rmse", 8.0, 0.0, False),  # for an error, min_score is the largest acceptable
    ],
)
def test_quality_gate(challenger, champion, score_type, min_score, min_improvement, passed):
    assert decide(challenger, champion, score_type, min_score, min_improvement).passed is passed


def test_local_retrain_on_a_missing_table_says_what_to_run(settings):
    finished = subprocess.run(
        [sys.executable, "local_retrain.py", "--environment", "uat"],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "APP_STATE_DIR": str(settings.state_dir)},
    )

    assert finished.returncode == 2, finished.stderr
    assert f"python {create_database_script(settings)} --environment uat" in finished.stderr
