import dataclasses
import math
import os
import subprocess
import sys

import pytest

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.ml import greater_is_better, score, split_features
from {{ cookiecutter.app_name }}.pipeline import canonical_order, decide, retrain, rows_hash, split_holdout

from .conftest import APP_ROOT, create_database_script, demo_rows, typed_demo_rows

pytestmark = pytest.mark.unit


def test_first_model_is_registered_and_promoted(settings, store, registry):
    store.append(demo_rows("dataset_1.csv", 400))
    stages = []

    report = retrain(settings=settings, progress=lambda stage, fraction: stages.append((stage, fraction)))

    assert report.promoted and report.passed
    assert report.challenger_version == report.serving_version == 1
    assert registry.champion_version("integration") == 1
    [version] = registry.versions()
    assert version.passed and version.serving == ("integration",)
    assert version.training_rows == report.training_rows and version.data_hash == report.data_hash
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


def test_a_better_challenger_replaces_the_champion(settings, store, registry):
    # The champion only ever saw the earlier period; the challenger also sees the later one.
    store.append(demo_rows("dataset_1.csv", 600))
    retrain(settings=settings)
    store.append(demo_rows("dataset_2.csv", 900))

    report = retrain(settings=settings)

    assert report.champion_version == 1 and report.challenger_version == 2
    assert report.promoted, report.reason
    if greater_is_better(settings.app.score_type):
        assert report.challenger_score > report.champion_score
    else:
        assert report.challenger_score < report.champion_score
    assert registry.champion_version("integration") == 2


def test_a_worse_challenger_is_registered_as_failed_and_not_promoted(settings, store, registry):
    store.append(demo_rows("dataset_1.csv", 600))
    retrain(settings=settings)
    # A config change that hides the informative columns gives a clearly worse model.
    informative = [column for column in store.schema() if column not in (settings.app.target, "Payment_Method")]
    blinkered = dataclasses.replace(
        settings.app,
        features=dataclasses.replace(settings.app.features, ignore=tuple(informative)),
        min_score=None,  # let the comparison with the champion decide, not the floor
    )

    report = retrain(settings=dataclasses.replace(settings, app=blinkered))

    assert not report.passed and not report.promoted
    assert "not better" in report.reason
    assert registry.champion_version("integration") == 1
    failed = {version.version: version for version in registry.versions()}[2]
    assert not failed.passed and failed.serving == ()
    assert failed.score == pytest.approx(report.challenger_score)


def test_champion_and_challenger_are_scored_on_the_same_held_out_rows(settings, store, registry):
    store.append(demo_rows("dataset_1.csv", 500))
    retrain(settings=settings)
    store.append(demo_rows("dataset_2.csv", 300))

    report = retrain(settings=settings)

    # Reproduce the split independently and score both registered models on it.
    _, test = split_holdout(canonical_order(store.read())[0], settings)
    assert rows_hash(test) == report.test_rows_hash and len(test) == report.test_rows
    features, truth = split_features(test, settings.app.target)
    assert score(registry.load(1), features, truth, settings.app.score_type) == pytest.approx(report.champion_score)
    assert score(registry.load(2), features, truth, settings.app.score_type) == pytest.approx(report.challenger_score)


def test_the_holdout_is_the_newest_rows_when_a_time_column_is_set(settings):
    frame = typed_demo_rows(1000)

    train, test = split_holdout(frame, settings)

    assert len(test) == math.ceil(len(frame) * settings.app.test_fraction)
    assert test[settings.app.time_column].min() >= train[settings.app.time_column].max()


def test_without_a_time_column_the_holdout_is_a_seeded_sample(settings):
    frame = typed_demo_rows(1000)
    by_seed = {
        seed: dataclasses.replace(settings, app=dataclasses.replace(settings.app, time_column=None, random_seed=seed))
        for seed in (1, 2)
    }

    first, again, other = (split_holdout(frame, by_seed[seed])[1] for seed in (1, 1, 2))

    assert first.index.equals(again.index)
    assert not first.index.equals(other.index)
    if settings.app.problem_type == "classification":  # stratified: every class keeps its share, give or take a row
        expected = frame[settings.app.target].value_counts(normalize=True) * len(first)
        counts = first[settings.app.target].value_counts().reindex(expected.index, fill_value=0)
        assert ((counts - expected).abs() <= 1).all()


def test_retraining_an_environment_leaves_the_others_alone(settings, store, registry):
    store.append(demo_rows("dataset_1.csv", 300))
    store.clone("uat")
    retrain(settings=settings)

    report = retrain(environment="uat", settings=settings)

    assert registry.aliases() == {"integration": 1, "uat": 2}
    assert report.environment == "uat"
    # The caller's settings carry over to the other environment: here, the tests' small training budget.
    assert report.models_tried < load_settings("uat", root=APP_ROOT).app.max_models_with_no_score_change


def test_settings_for_another_environment_keep_the_app_config_and_take_that_environments_config(settings):
    uat = settings.for_environment("uat")

    assert uat.environment == "uat" and uat.app is settings.app
    assert uat.environment_config["app_title_extension"] == " - (uat)"


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
