import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.datastore import SchemaMismatchError, TableMissingError, open_datastore

from .conftest import create_database_script, demo_rows

pytestmark = pytest.mark.unit


def test_append_adds_every_row_and_read_returns_them_typed(store):
    rows = demo_rows("dataset_1.csv", 50)

    assert store.append(rows) == 50

    stored = store.read()
    assert store.count() == 50
    assert list(stored.columns) == list(rows.columns)
    assert pd.api.types.is_numeric_dtype(stored["Amount"])
    assert pd.api.types.is_datetime64_any_dtype(stored["Date"])


def test_append_with_a_missing_column_names_it_and_appends_nothing(store):
    store.append(demo_rows("dataset_1.csv", 10))
    incomplete = demo_rows("dataset_1.csv", 20).drop(columns=["Supplier"])

    with pytest.raises(SchemaMismatchError) as raised:
        store.append(incomplete)

    assert "missing column(s) ['Supplier']" in str(raised.value)
    assert "Expected columns" in str(raised.value)
    assert store.count() == 10


def test_append_with_an_unreadable_value_names_column_and_value_and_appends_nothing(store):
    rows = demo_rows("dataset_1.csv", 20)
    rows.loc[7, "Amount"] = "twelve pounds"

    with pytest.raises(SchemaMismatchError) as raised:
        store.append(rows)

    message = str(raised.value)
    assert "'Amount' expects float" in message and "twelve pounds" in message and "rows [8]" in message
    assert store.count() == 0


def test_append_without_a_target_value_is_refused(store, settings):
    rows = demo_rows("dataset_1.csv", 20)
    rows.loc[3, settings.app.target] = None

    with pytest.raises(SchemaMismatchError, match=f"'{settings.app.target}' must have a value in every row"):
        store.append(rows)
    assert store.count() == 0


def test_clone_gives_an_equal_and_independent_table(store):
    store.append(demo_rows("dataset_1.csv", 30))

    copy = store.clone("challenger_test")
    copy.append(demo_rows("dataset_2.csv", 5))

    assert copy.environment == "challenger_test"
    assert copy.count() == 35
    assert store.count() == 30
    pd.testing.assert_frame_equal(copy.read().head(30), store.read())


def test_reading_a_missing_table_says_which_command_creates_it(settings):
    with pytest.raises(TableMissingError) as raised:
        open_datastore(settings, "uat").read()

    assert f"python {create_database_script(settings)} --environment uat" in str(raised.value)
