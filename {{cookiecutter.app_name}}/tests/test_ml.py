import pytest

from {{ cookiecutter.app_name }}.ml import SearchBudget, infer_roles, predict_table, train_model

from .conftest import typed_demo_rows

pytestmark = pytest.mark.unit


def test_column_roles_are_inferred_from_the_values(settings):
    roles = infer_roles(typed_demo_rows(300), settings.app.target)

    assert "Transaction_Id" in roles.ignore  # unique per row: an identifier
    assert "Description" in roles.text
    assert "Supplier" in roles.categorical
    assert "Date" in roles.datetime
    assert "Amount" in roles.numeric or settings.app.target == "Amount"


def test_config_overrides_win_over_inference(settings):
    roles = infer_roles(typed_demo_rows(300), settings.app.target, {"categorical": ["Description"], "ignore": ["VAT"]})

    assert "Description" in roles.categorical and "Description" not in roles.text
    assert "VAT" in roles.ignore


def test_overriding_a_column_the_data_lacks_is_an_error(settings):
    with pytest.raises(ValueError, match="Colour"):
        infer_roles(typed_demo_rows(50), settings.app.target, {"text": ["Colour"]})


def test_training_is_deterministic_for_a_seed_and_data(settings):
    app = settings.app
    frame = typed_demo_rows(400)
    budget = SearchBudget(max_seconds=120, patience=2, workers=2)

    first, second = (train_model(frame, app.target, app.problem_type, app.score_type, budget, seed=7) for _ in range(2))

    assert first.params == second.params
    assert first.history == second.history
    features = frame.drop(columns=[app.target])
    assert (first.model.predict(features) == second.model.predict(features)).all()


def test_binary_classification_learns_two_labels_and_scores_roc_auc():
    frame = typed_demo_rows(600)
    large = frame["Amount"] > frame["Amount"].median()
    # Whether a payment is large, from what was bought and from whom (the amounts themselves are hidden).
    binary = frame.assign(Size=large.map({True: "large", False: "small"})).drop(columns=["Amount", "VAT"])

    trained = train_model(binary, "Size", "classification", "roc_auc", SearchBudget(60, patience=2, workers=1), seed=1)

    assert sorted(trained.model.classes_) == ["large", "small"]
    assert trained.validation_score > 0.7


def test_the_search_stops_at_its_time_budget_and_still_gives_a_model(settings):
    app = settings.app
    frame = typed_demo_rows(400)

    trained = train_model(
        frame, app.target, app.problem_type, app.score_type, SearchBudget(max_seconds=0.001, patience=50), seed=3
    )

    assert trained.stopped_because.startswith("time budget")
    assert trained.trials == 1
    assert len(trained.model.predict(frame.drop(columns=[app.target]))) == len(frame)


def test_the_prediction_table_agrees_with_the_model(settings):
    app = settings.app
    frame = typed_demo_rows(400)
    trained = train_model(frame, app.target, app.problem_type, app.score_type, SearchBudget(60, patience=2), seed=5)
    features = frame.drop(columns=[app.target])

    table = predict_table(trained.model, features, app.target)

    assert (table[f"predicted_{app.target}"].to_numpy() == trained.model.predict(features)).all()
    if app.problem_type == "classification":
        assert len(table.columns) == 1 + len(trained.model.classes_)
