import pytest

from {{ cookiecutter.app_name }}.datastore import conform, infer_schema
from {{ cookiecutter.app_name }}.ml import SearchBudget, infer_roles, train_model

from .conftest import demo_rows

pytestmark = pytest.mark.unit


def typed_demo_rows(rows: int):
    raw = demo_rows("dataset_1.csv", rows)
    return conform(raw, infer_schema(raw))


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
