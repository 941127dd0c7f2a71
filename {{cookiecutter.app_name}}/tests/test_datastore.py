import dataclasses
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.datastore import (
    AlreadyAppendedError,
    SchemaMismatchError,
    TableMissingError,
    conform,
    infer_schema,
    open_datastore,
    parse_csv,
)
from {{ cookiecutter.app_name }}.datastore.duckdb_store import APPENDS, DuckDBStore
from {{ cookiecutter.app_name }}.datastore.legacy_keys import pandas_rows_key
from {{ cookiecutter.app_name }}.ml.row_hash import ROW_HASH_SCHEME, row_hashes, rows_key

from .conftest import create_database_script
from .support.data import APP_ROOT, a_feature_of_type, copy_app_config, data_rows, table_schema

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("marker", ["NA", "n/a", "NULL", "NaN", "  ", " null "])
def test_the_usual_markers_of_a_missing_value_are_read_as_missing(marker):
    frame = parse_csv(f"kind,size\nsmall,{marker}\n{marker},4\n".encode())

    assert frame.isna().to_numpy().tolist() == [[False, True], [True, False]]


def test_timestamps_with_different_offsets_are_kept_in_utc():
    frame = pd.DataFrame({"at": ["2024-03-30T12:00:00+01:00", "2024-03-31T12:00:00+02:00", "2024-04-01 12:00"]})

    moments = conform(frame, {"at": "timestamp"})["at"]

    assert moments.astype(str).tolist() == ["2024-03-30 11:00:00", "2024-03-31 10:00:00", "2024-04-01 12:00:00"]


def test_the_time_column_may_be_written_as_people_write_dates_and_is_read_as_dates():
    months = pd.DataFrame({"month": ["Jan-2018", "feb-2018", "2018-03-01", None], "units": ["1", "2", "3", "4"]})
    time_formats = {"month": ""}  # no time_format: the one way of writing dates that reads them all

    schema = infer_schema(months.dropna(), time_formats)
    read = conform(months, schema, time_formats=time_formats)

    assert schema == {"month": "date", "units": "integer"}
    assert read["month"].dt.strftime("%Y-%m-%d").tolist()[:3] == ["2018-01-01", "2018-02-01", "2018-03-01"]
    assert read["month"].isna().tolist() == [False, False, False, True]
    with pytest.raises(
        SchemaMismatchError, match=r"column 'month' expects date but 1 value\(s\) are not, e\.g\. \['Spring-2018'\]"
    ):
        conform(
            pd.DataFrame({"month": ["Jan-2018", "Spring-2018"], "units": ["1", "2"]}), schema, time_formats=time_formats
        )
    assert infer_schema(months) == {"month": "string", "units": "integer"}  # any other column: ISO dates only


def test_dates_that_read_two_ways_are_refused_until_time_format_settles_them():
    days = pd.DataFrame({"day": ["01/04/2023", "02/03/2023", "05/01/2023"]})

    with pytest.raises(
        SchemaMismatchError, match="holds dates such as '01/04/2023' that read two ways .*set time_format"
    ):
        conform(days, {"day": "date"}, time_formats={"day": ""})
    read = conform(days, {"day": "date"}, time_formats={"day": "%d/%m/%Y"})

    assert read["day"].dt.strftime("%Y-%m-%d").tolist() == ["2023-04-01", "2023-03-02", "2023-01-05"]


def test_a_midnight_timestamp_with_an_offset_in_a_date_column_keeps_its_own_day(store):
    column = a_feature_of_type("date")
    rows = data_rows("dataset_2.csv", 2)
    rows[column] = ["2024-01-02T00:00:00+05:00", "2024-01-03"]  # in UTC, the first is still on the 1st

    store.append(rows)

    assert sorted(store.read()[column].dt.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03"]


def test_the_key_of_stored_rows_is_fixed_by_their_values_alone():
    """The key that refuses a second upload of the same rows: computed once and written here, it must never change
    with a library's version (a change would let every file loaded before it be loaded again)."""
    schema = {"name": "string", "count": "integer", "amount": "float", "paid": "boolean", "day": "date",
              "at": "timestamp"}  # fmt: skip
    frame = pd.DataFrame(
        {
            "name": ["Ada", None, "Zoë"],
            "count": ["1", "-7", None],
            "amount": ["0.1", None, "1e300"],
            "paid": ["true", "no", None],
            "day": ["2024-02-29", None, "1999-12-31"],
            "at": ["2024-02-29T23:59:59+01:00", "2001-01-01 00:00:00", None],
        }
    )
    rows = conform(frame, schema)

    hashes = [f"{value:016x}" for value in row_hashes(rows)]
    assert hashes == ["408c8444b30b3380", "4a2cb78ff40b271b", "28a62b164783fe62"]
    assert rows_key(rows) == "b6b23850357d3b80"


def stored_by_an_earlier_release(store: DuckDBStore, *uploads: pd.DataFrame) -> None:
    """Rows appended as releases before the stable row key did: each upload's key was pandas' row hash, and the record
    of appends had no key_scheme."""
    with duckdb.connect(str(store.path)) as connection:
        connection.execute(f"CREATE TABLE {APPENDS} (table_name VARCHAR, digest VARCHAR, row_count BIGINT, "
                           "appended_at TIMESTAMP)")  # fmt: skip
        for upload in uploads:
            rows = conform(upload, store.schema())
            connection.register("incoming_rows", rows)
            connection.execute(f'INSERT INTO "{store.table}" BY NAME SELECT * FROM incoming_rows')
            connection.execute(f"INSERT INTO {APPENDS} VALUES (?, ?, ?, now()::TIMESTAMP)",
                               [store.table, pandas_rows_key(rows), len(rows)])  # fmt: skip
            connection.unregister("incoming_rows")


def test_a_table_stored_under_the_old_keys_refuses_the_same_files_once_its_keys_are_carried_over(tmp_path):
    store = DuckDBStore(tmp_path / "data.duckdb", "rows", "integration")
    store.create(table_schema())
    first, second = data_rows("dataset_1.csv", 40), data_rows("dataset_2.csv", 10)
    stored_by_an_earlier_release(store, first, second)

    for upload in (first, second):
        with pytest.raises(AlreadyAppendedError, match=f"these {len(upload)} rows were already added"):
            store.append(upload)

    assert store.count() == 50
    with duckdb.connect(str(store.path)) as connection:
        keys = connection.execute(f"SELECT digest, key_scheme FROM {APPENDS} ORDER BY appended_at").fetchall()
    expected = [rows_key(conform(upload, store.schema())) for upload in (first, second)]
    assert keys == [(key, ROW_HASH_SCHEME) for key in expected], "each append is kept under the stable key"
    assert store.append(data_rows("dataset_2.csv", 11).tail(1)) == 1  # other rows are still new rows


def test_reading_a_missing_table_says_which_command_creates_it(settings):
    with pytest.raises(TableMissingError) as raised:
        open_datastore(settings, "uat").read()

    assert "data/dataset_1.csv --environment uat" in str(raised.value)
    assert f"python {create_database_script(settings)} --environment uat" in str(raised.value)


@pytest.mark.parametrize("script", ["local/bigquery/create_database.py", "local/bigquery/upload_data_to_bigquery.py"])
def test_a_bigquery_script_on_an_app_configured_for_duckdb_says_so_and_creates_nothing(settings, tmp_path, script):
    root = copy_app_config(tmp_path / "app", data_source="duckdb")
    env = {**os.environ, "APP_STATE_DIR": str(settings.state_dir), "APP_ROOT": str(root)}

    finished = subprocess.run([sys.executable, script], cwd=APP_ROOT, env=env, capture_output=True, text=True)

    assert finished.returncode != 0
    assert "this script is for data_source bigquery, but config/app_config.yml has data_source duckdb" in (
        finished.stderr
    )
    duckdb_settings = dataclasses.replace(settings, app=dataclasses.replace(settings.app, data_source="duckdb"))
    with pytest.raises(TableMissingError):
        open_datastore(duckdb_settings).count()


def test_the_first_upload_creates_the_table_and_a_file_that_does_not_fit_creates_nothing(settings, tmp_path):
    # The script finds the test's own data store through a copy of the app's config (on BigQuery: its own datasets).
    root = copy_app_config(tmp_path / "app", data_source=settings.app.data_source, bigquery=settings.app.bigquery)
    script = (
        "local/bigquery/upload_data_to_bigquery.py"
        if settings.app.data_source == "bigquery"
        else "local/upload_data.py"
    )
    env = {**os.environ, "APP_STATE_DIR": str(settings.state_dir), "APP_ROOT": str(root)}

    def upload(csv: str) -> subprocess.CompletedProcess:
        command = [sys.executable, script, csv, "--environment", "uat"]
        return subprocess.run(command, cwd=APP_ROOT, capture_output=True, text=True, env=env)

    spoilt = data_rows("dataset_1.csv", 20)
    spoilt.loc[5, settings.app.target] = None
    spoilt.to_csv(tmp_path / "spoilt.csv", index=False)
    store = open_datastore(settings, "uat")

    refused = upload(str(tmp_path / "spoilt.csv"))

    assert refused.returncode == 2 and "must have a value in every row" in refused.stderr
    assert "Nothing was created" in refused.stderr
    with pytest.raises(TableMissingError):
        store.count()

    created = upload("data/dataset_1.csv")

    assert created.returncode == 0, created.stderr
    assert f"Created {store}" in created.stdout
    rows = len(data_rows("dataset_1.csv"))
    assert f"Appended {rows} rows from data/dataset_1.csv" in created.stdout
    assert store.count() == rows
