"""What every data store promises, tested once on each backend: DuckDB in the unit tests, BigQuery on its emulator."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.datastore import (
    AlreadyAppendedError,
    DataStore,
    DataStoreError,
    SchemaMismatchError,
    open_datastore,
)
from {{ cookiecutter.app_name }}.datastore.duckdb_store import DuckDBStore
from {{ cookiecutter.app_name }}.ml.row_hash import row_hashes

from .support.data import a_feature_of_type, data_rows, features_of_type, table_schema

IS_TYPE = {
    "string": pd.api.types.is_string_dtype,
    "integer": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "boolean": pd.api.types.is_bool_dtype,
    "date": pd.api.types.is_datetime64_any_dtype,
    "timestamp": pd.api.types.is_datetime64_any_dtype,
}


@pytest.fixture(params=[pytest.param("duckdb", marks=pytest.mark.unit),
                        pytest.param("bigquery", marks=pytest.mark.bigquery)])  # fmt: skip
def store(request, settings) -> DataStore:
    """The integration table on each backend, created with the app's schema and empty."""
    on = request.getfixturevalue("bigquery_settings") if request.param == "bigquery" else settings
    datastore = open_datastore(on, backend=request.param)
    datastore.create(table_schema())
    return datastore


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column: a table has no order of its own."""
    return frame.sort_values(list(frame.columns), ignore_index=True)


def test_append_adds_every_row_and_read_returns_them_typed(store):
    rows = data_rows("dataset_1.csv", 50)

    assert store.append(rows) == len(rows)

    stored = store.read()
    assert store.count() == len(rows)
    assert list(stored.columns) == list(rows.columns)
    wrongly_typed = {column: str(stored[column].dtype) for column, kind in table_schema().items()
                     if not IS_TYPE[kind](stored[column])}  # fmt: skip
    assert not wrongly_typed, f"columns read back with other types than the schema's: {wrongly_typed}"


def test_partitions_read_in_other_processes_hold_every_row_once_typed_as_read_types_them(store, tmp_path):
    store.append(data_rows("dataset_1.csv", 50))
    whole = store.read()

    readers = store.partitions(tmp_path, rows_per_partition=20)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as others:  # as Dask's workers
        parts = list(others.map(call, readers))

    if isinstance(store, DuckDBStore):  # on BigQuery, one partition per Storage Read API stream, as many as it gives
        assert [len(part) for part in parts] == [20, 20, 10]
    together = pd.concat(parts, ignore_index=True)
    # DuckDB types a column of integers as nullable only where it has gaps, so a part without one may differ from the
    # whole table in dtype; never in values, nor in each row's hash, which decides whether it is held out.
    pd.testing.assert_frame_equal(in_order(together), in_order(whole), check_dtype=False)
    assert sorted(row_hashes(together)) == sorted(row_hashes(whole))
    assert len(store.head(5)) == 5 and list(store.head(5).columns) == list(whole.columns)


def call(reader):
    return reader()


@pytest.mark.parametrize("problem", ["missing-column", "text-in-a-typed-column", "empty-target"])
def test_append_refuses_rows_that_do_not_fit_names_the_problem_and_adds_nothing(store, settings, problem):
    store.append(data_rows("dataset_1.csv", 10))
    rows, target = data_rows("dataset_2.csv", 20), settings.app.target
    if problem == "missing-column":
        column = next(column for column in table_schema() if column != target)
        rows, expected = rows.drop(columns=[column]), [f"missing column(s) [{column!r}]", "Expected columns"]
    elif problem == "text-in-a-typed-column":
        column = a_feature_of_type("integer", "float", "boolean", "date", "timestamp")
        rows.loc[7, column] = "twelve pounds"
        expected = [f"{column!r} expects {table_schema()[column]}", "twelve pounds", "rows [8]"]
    else:
        rows.loc[3, target] = None
        expected = [f"{target!r} must have a value in every row", "rows [4]"]

    with pytest.raises(SchemaMismatchError) as raised:
        store.append(rows)

    assert [part for part in [*expected, "Nothing was added"] if part not in str(raised.value)] == []
    assert store.count() == 10


def test_the_same_rows_are_added_once_however_their_file_writes_them(store):
    rows = data_rows("dataset_2.csv", 30)
    store.append(rows)
    rewritten = rows.copy()  # the same values, written differently
    for column in features_of_type("float"):
        rewritten[column] = pd.to_numeric(rows[column]).map("{:.6f}".format)

    with pytest.raises(AlreadyAppendedError, match="these 30 rows were already added"):
        store.append(rewritten)

    assert store.count() == 30
    assert store.append(rows.head(29)) == 29  # other rows (a subset) are new rows


def test_clone_gives_an_equal_and_independent_table(store):
    store.append(data_rows("dataset_1.csv", 30))

    copy = store.clone("challenger-pr-7")
    pd.testing.assert_frame_equal(in_order(copy.read()), in_order(store.read()))
    copy.append(data_rows("dataset_2.csv", 5))

    assert copy.environment == "challenger-pr-7"
    assert store.count() == 30 and copy.count() == 35
    with pytest.raises(DataStoreError, match="already exists"):
        store.clone("challenger-pr-7")
