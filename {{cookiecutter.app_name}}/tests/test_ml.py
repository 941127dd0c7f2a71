import dataclasses
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from {{ cookiecutter.app_name }}.ml import SearchBudget, build_preprocessor, infer_roles, predict_table, train_model
from {{ cookiecutter.app_name }}.ml.cost import ms_per_1000_rows, trees
from {{ cookiecutter.app_name }}.ml.holdout import HoldoutError, hash_holdout, time_holdout
from {{ cookiecutter.app_name }}.ml.training import MOST_ROWS_TO_CROSS_VALIDATE, Fold, run_in_order, validation_splits

from .support.data import typed_rows

pytestmark = pytest.mark.unit


def shop_rows(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Made-up rows with one column of each kind a table can hold, and a label that depends on two of them."""
    rng = np.random.default_rng(seed)
    shops = rng.choice(["north", "south", "east", "west"], rows)
    amounts = rng.gamma(2.0, 50.0, rows).round(2)
    words = rng.choice(["blue widget", "red gadget", "spare part", "gift card", "repair service"], rows)
    return pd.DataFrame(
        {
            "line": np.arange(1, rows + 1),  # numbers the rows
            "order_ref": [f"R-{number:06d}" for number in rng.permutation(rows)],  # unique text: an identifier
            "note": [
                f"{n} x {w} for the {s} office" for n, w, s in zip(rng.integers(1, 20, rows), words, shops, strict=True)
            ],
            "shop": pd.array(shops, dtype="string"),
            "grade": pd.array(rng.choice(["1. Under 18", "2. 18 to 65", "3. Over 65"], rows), dtype="string"),
            "ordered": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
            "amount": amounts,
            "express": rng.random(rows) < 0.3,
            "size": np.where((amounts > 100) | (shops == "north"), "big", "small"),
        }
    )


def test_column_roles_are_inferred_from_the_values():
    roles = infer_roles(shop_rows(), "size")

    assert set(roles.ignore) == {"line", "order_ref"}  # a row number and a unique reference say nothing
    assert roles.text == ("note",)
    assert roles.categorical == ("shop", "grade")  # few different values, however many words: categories
    assert roles.datetime == ("ordered",)
    assert set(roles.numeric) == {"amount", "express"}


def test_config_overrides_win_over_inference():
    roles = infer_roles(shop_rows(), "size", {"categorical": ["note"], "ignore": ["amount"]})

    assert "note" in roles.categorical and "note" not in roles.text
    assert "amount" in roles.ignore


def test_overriding_a_column_the_data_lacks_is_an_error():
    with pytest.raises(ValueError, match="Colour"):
        infer_roles(shop_rows(50), "size", {"text": ["Colour"]})


def test_training_is_deterministic_for_a_seed_and_data(settings):
    app = settings.app
    frame = typed_rows(400)
    budget = SearchBudget(max_seconds=120, patience=2, workers=2, folds=2)

    first, second = (train_model(frame, app.target, app.problem_type, app.score_type, budget, seed=7) for _ in range(2))

    assert first.params == second.params
    assert first.history == second.history
    features = frame.drop(columns=[app.target])
    assert (first.model.predict(features) == second.model.predict(features)).all()


def test_each_trial_is_asked_for_knowing_the_same_earlier_ones_however_long_trials_take():
    def search(seconds_of_trial):
        recorded, known_when_asked = [], []

        def upcoming():
            for index in itertools.count():
                known_when_asked.append(len(recorded))
                yield None, {"index": index}

        def evaluate(params):
            time.sleep(seconds_of_trial(params["index"]))  # stands in for training
            return params["index"]

        def record(_asked, index) -> bool:
            recorded.append(index)
            return len(recorded) == 12

        with ThreadPoolExecutor(3) as pool:
            run_in_order(upcoming(), evaluate, record, pool, workers=3, max_trials=100)
        return known_when_asked, recorded

    slow_then_quick = search(lambda index: 0.02 if index % 3 == 0 else 0.001)
    quick_then_slow = search(lambda index: 0.001 if index % 3 == 0 else 0.02)

    assert slow_then_quick == quick_then_slow
    assert slow_then_quick[1] == list(range(12))  # recorded in the order asked


def test_early_stopping_reads_the_log_loss_of_the_rows_it_watches_when_a_fold_lacks_a_class():
    # "b" is only in the newest rows, which settings are validated on: the older rows a fold learns from lack it, and
    # LightGBM 4.7 compares eval_y's labels with its own numbering of the classes it learnt, unconverted.
    rows = shop_rows(900, seed=4).sort_values("ordered", ignore_index=True)
    labels = np.where(rows["amount"] > 120, 3, np.where(rows["shop"] == "north", 0, 2))
    labels[(rows.index >= 0.9 * len(rows)) & (rows["amount"] < 40)] = 1
    features = build_preprocessor(infer_roles(rows, "size")).fit_transform(rows.drop(columns=["size"]))
    [(fit, valid)] = validation_splits(
        rows, pd.Series(labels), "classification", seed=1, folds=5, time_column="ordered"
    )

    fold = Fold.of(fit, valid, labels, classify=True)
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1)
    model.fit(features[fold.fit], fold.fit_labels, eval_X=(features[fold.watched],), eval_y=(fold.watched_labels,))

    assert list(fold.classes) == [0, 2, 3] and set(labels[fold.watched]) <= {0, 2, 3}
    watched_log_loss = log_loss(labels[fold.watched], model.predict_proba(features[fold.watched]), labels=fold.classes)
    assert model.evals_result_["valid_0"]["multi_logloss"][-1] == pytest.approx(watched_log_loss, rel=1e-6)


def test_a_low_predict_cost_budget_gives_a_smaller_model_that_predicts_within_it(settings):
    app = settings.app
    frame = typed_rows(600)
    budget = SearchBudget(max_seconds=120, patience=3, workers=2, folds=2)
    free = train_model(frame, app.target, app.problem_type, app.score_type, budget, seed=5)
    rows = frame.drop(columns=[app.target])
    preprocessing = ms_per_1000_rows(lambda: free.model.named_steps["features"].transform(rows), len(rows))
    # Room for a model a third as dear as the one chosen freely, besides the preprocessing every model needs.
    limit = preprocessing + (free.predict_ms_per_1000_rows - preprocessing) / 3

    thrifty = train_model(frame, app.target, app.problem_type, app.score_type,
                          dataclasses.replace(budget, max_predict_ms_per_1000_rows=limit), seed=5)  # fmt: skip

    assert free.trees == trees(free.model) and thrifty.trees == trees(thrifty.model)
    assert thrifty.trees < free.trees
    assert thrifty.predict_ms_per_1000_rows <= limit < free.predict_ms_per_1000_rows


def test_binary_classification_learns_two_labels_and_scores_roc_auc():
    trained = train_model(shop_rows(600), "size", "classification", "roc_auc", SearchBudget(60, 2, 1, folds=2), seed=1)

    assert sorted(trained.model.classes_) == ["big", "small"]
    assert trained.validation_score > 0.9


def test_settings_are_validated_on_the_newest_rows_else_across_folds_else_on_one_share_of_a_large_table():
    rows = shop_rows(500)
    features, truth = rows.drop(columns=["size"]), rows["size"]

    [(fit, newest)] = validation_splits(features, truth, "classification", seed=1, folds=5, time_column="ordered")
    folds = validation_splits(features, truth, "classification", seed=1, folds=5)
    large = shop_rows(MOST_ROWS_TO_CROSS_VALIDATE + 1)
    [(_, share)] = validation_splits(large.drop(columns=["size"]), large["size"], "classification", seed=1, folds=5)

    assert rows["ordered"].iloc[newest].min() >= rows["ordered"].iloc[fit].max()
    assert len(folds) == 5 and sorted(np.concatenate([valid for _, valid in folds])) == list(range(500))
    assert all(set(fit).isdisjoint(valid) for fit, valid in folds)
    assert len(share) == pytest.approx(0.15 * len(large), abs=1)


def test_the_search_stops_at_its_time_budget_and_still_gives_a_model(settings):
    app = settings.app
    frame = typed_rows(400)

    trained = train_model(
        frame, app.target, app.problem_type, app.score_type, SearchBudget(max_seconds=0.001, patience=50), seed=3
    )

    assert trained.stopped_because.startswith("time budget")
    assert trained.trials == 1
    assert len(trained.model.predict(frame.drop(columns=[app.target]))) == len(frame)


def test_the_prediction_table_agrees_with_the_model(settings):
    app = settings.app
    frame = typed_rows(400)
    budget = SearchBudget(60, patience=2, folds=2)
    trained = train_model(frame, app.target, app.problem_type, app.score_type, budget, seed=5)
    features = frame.drop(columns=[app.target])

    table = predict_table(trained.model, features, app.target)

    assert (table[f"predicted_{app.target}"].to_numpy() == trained.model.predict(features)).all()
    if app.problem_type == "classification":
        assert len(table.columns) == 1 + len(trained.model.classes_)


def test_a_row_is_held_out_or_not_by_its_content_whatever_rows_surround_it():
    rows = shop_rows(2000)
    rule = hash_holdout(rows, "size", 0.2)

    everything, first_half, shuffled = (
        pd.Series(rule.mask(frame), index=frame.index)
        for frame in (rows, rows.head(1000), rows.sample(frac=1, random_state=3))
    )

    assert everything.mean() == pytest.approx(0.2, abs=0.03)
    assert first_half.equals(everything.head(1000))
    assert shuffled.sort_index().equals(everything)
    # The label is not part of a row's identity: a corrected row stays on its side.
    assert (rule.mask(rows.assign(size="corrected")) == everything.to_numpy()).all()


def test_with_an_id_column_a_row_is_held_out_by_its_id_alone():
    rows = shop_rows(1000)
    rule = hash_holdout(rows, "size", 0.3, id_column="order_ref")

    changed = rows.assign(amount=rows["amount"] * 2, note="edited")

    assert (rule.mask(changed) == rule.mask(rows)).all()
    assert rule.describe().endswith("a hash of its order_ref")


def test_a_time_holdout_is_the_newest_rows_and_keeps_its_cutoff_as_rows_arrive():
    rows = shop_rows(1000)

    rule = time_holdout(rows, "ordered", 0.2)
    held_out = rows[rule.mask(rows)]

    assert len(held_out) == pytest.approx(200, abs=10)  # rows of the same day share a side
    assert held_out["ordered"].min() > rows["ordered"][~rule.mask(rows)].max()
    later = pd.DataFrame({**rows.iloc[0].to_dict(), "ordered": pd.Timestamp("2025-06-01")}, index=[0])
    assert rule.mask(later).all() and not rule.mask(rows.assign(ordered=pd.NaT)).any()


def test_a_time_holdout_reads_a_cutoff_across_time_zones():
    naive = shop_rows(500)
    rule = time_holdout(naive, "ordered", 0.2)

    in_utc = naive.assign(ordered=naive["ordered"].dt.tz_localize("UTC"))

    assert (rule.mask(in_utc) == rule.mask(naive)).all()


def test_a_time_column_with_one_value_cannot_hold_out_newer_rows():
    with pytest.raises(HoldoutError, match="the same value in every row"):
        time_holdout(shop_rows(100).assign(ordered=pd.Timestamp("2024-01-01")), "ordered", 0.2)
