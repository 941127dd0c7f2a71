"""The BigQuery backend, its scripts and the whole journey on it, against the BigQuery API emulator."""

from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from google.cloud import bigquery

from {{ cookiecutter.app_name }}.datastore import (
    AlreadyAppendedError,
    DataStoreError,
    TableMissingError,
    conform,
    open_datastore,
    read_csv,
)
from {{ cookiecutter.app_name }}.datastore.legacy_keys import pandas_rows_key
from {{ cookiecutter.app_name }}.ml.row_hash import row_hashes
from {{ cookiecutter.app_name }}.pipeline import retrain

from .conftest import started_now
from .support.data import APP_ROOT, DATA, a_feature_of_type, copy_app_config, data_rows, table_schema

pytestmark = pytest.mark.bigquery


@pytest.fixture
def bigquery_store(bigquery_settings):
    """The integration table on the emulator, created with the app's schema and empty."""
    store = open_datastore(bigquery_settings)
    store.create(table_schema())
    return store


@pytest.fixture
def app_root(tmp_path, bigquery_settings) -> Path:
    """A copy of the app's config with data_source bigquery and datasets of this test's own, for the scripts."""
    bigquery = bigquery_settings.app.bigquery
    quick = {"max_models_with_no_score_change": 3, "number_of_train_workers": 1}
    return copy_app_config(tmp_path / "app", data_source="bigquery", bigquery=bigquery, **quick)


def run_script(app_root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python args...` from the app folder as a person would, on the config in `app_root`."""
    env = {**os.environ, "APP_ROOT": str(app_root)}
    return subprocess.run([sys.executable, *args], cwd=APP_ROOT, env=env, capture_output=True, text=True)


def test_create_database_creates_the_dataset_and_table_once_and_then_finds_them(app_root, bigquery_settings):
    first = run_script(app_root, "local/bigquery/create_database.py")
    second = run_script(app_root, "local/bigquery/create_database.py")

    table = f"emulated-project.{bigquery_settings.app.bigquery['dataset_name']}_integration.data"
    assert first.returncode == 0, first.stderr
    assert f"Created BigQuery table {table}" in first.stdout and bigquery_settings.app.target in first.stdout
    assert second.returncode == 0, second.stderr
    assert f"Found BigQuery table {table} (0 rows); left it as it is." in second.stdout
    assert open_datastore(bigquery_settings).schema() == table_schema()


def test_upload_script_appends_dataset_1_by_default_and_prints_the_counts(app_root, bigquery_store):
    finished = run_script(app_root, "local/bigquery/upload_data_to_bigquery.py")

    rows = len(read_csv(DATA / "dataset_1.csv"))
    assert finished.returncode == 0, finished.stderr
    assert f"Appended {rows} rows from data/dataset_1.csv to {bigquery_store}: 0 -> {rows} rows." in finished.stdout
    assert bigquery_store.count() == rows


def test_the_first_upload_creates_the_dataset_and_table(app_root, bigquery_settings):
    finished = run_script(app_root, "local/bigquery/upload_data_to_bigquery.py")

    assert finished.returncode == 0, finished.stderr
    store = open_datastore(bigquery_settings)
    assert f"Created {store}" in finished.stdout
    assert store.schema() == table_schema() and store.count() == len(read_csv(DATA / "dataset_1.csv"))


def test_read_returns_what_was_appended_with_the_same_types_as_duckdb(bigquery_store, settings):
    duckdb_store = open_datastore(settings, backend="duckdb")
    duckdb_store.create(bigquery_store.schema())
    rows = data_rows("dataset_1.csv", 200)
    bigquery_store.append(rows)
    duckdb_store.append(rows)

    def in_order(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(list(frame.columns), ignore_index=True)

    pd.testing.assert_frame_equal(in_order(bigquery_store.read()), in_order(duckdb_store.read()))


def test_a_large_table_is_read_as_storage_read_api_streams_each_a_partition_for_another_process(
    bigquery_store, tmp_path
):
    rows = pd.concat([data_rows("dataset_1.csv", 1_000)] * 150, ignore_index=True)  # 150,000 rows
    bigquery_store.append(rows)
    whole = bigquery_store.read()

    readers = bigquery_store.partitions(tmp_path, rows_per_partition=60_000)  # asks for 3 streams
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as others:  # as Dask's workers
        parts = list(others.map(call, readers))

    # The emulator gives a stream per 100,000 rows, fewer than asked (as BigQuery may): a partition per stream.
    assert len(parts) == 2 and sum(len(part) for part in parts) == 150_000
    assert len(whole) == len(rows)
    together = pd.concat(parts, ignore_index=True)
    assert sorted(row_hashes(together)) == sorted(row_hashes(whole))  # every row, once
    assert together.dtypes.equals(whole.dtypes)  # typed as read() types them


def call(reader):
    return reader()


def test_rows_loaded_by_an_earlier_release_are_not_loaded_again(bigquery_store):
    """Earlier releases named each load job by pandas' row hash of its rows: a file loaded by one is still refused."""
    upload = data_rows("dataset_1.csv", 20)
    rows = conform(upload, bigquery_store.schema())
    table = bigquery_store.client.get_table(bigquery_store.table)
    old_job_id = f"append_{table.dataset_id}_{table.table_id}_{pandas_rows_key(rows)}_1"
    config = bigquery.LoadJobConfig(schema=table.schema, write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
    bigquery_store.client.load_table_from_dataframe(rows, table, job_config=config, job_id=old_job_id).result()

    with pytest.raises(AlreadyAppendedError, match="these 20 rows were already added"):
        bigquery_store.append(upload)

    assert bigquery_store.count() == 20
    assert bigquery_store.append(data_rows("dataset_1.csv", 21).tail(1)) == 1


def test_permission_denied_names_the_role_that_is_missing(bigquery_settings, monkeypatch):
    class Forbidding(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # what BigQuery answers a caller without access
            body = json.dumps({"error": {"code": 403, "message": "Access Denied: Table x: User does not have "
                               "permission", "status": "PERMISSION_DENIED"}}).encode()  # fmt: skip
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbidding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("BIGQUERY_API_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(DataStoreError) as raised:
            open_datastore(started_now(bigquery_settings)).read()
    finally:
        server.shutdown()

    assert "permission denied to read" in str(raised.value)
    assert "roles/bigquery.dataViewer" in str(raised.value)


def test_local_retrain_journey_on_bigquery(app_root, tmp_path):
    def run(*args: str, promoted_or_kept: bool = False) -> str:
        finished = run_script(app_root, *args)
        exit_codes = (0, 3) if promoted_or_kept else (0,)  # 3: the champion was kept
        assert finished.returncode in exit_codes, f"{args}: {finished.stdout[-3000:]}{finished.stderr[-3000:]}"
        return finished.stdout

    run("local/bigquery/create_database.py")
    run("local/bigquery/upload_data_to_bigquery.py", "data/dataset_1.csv")
    first = run("local_retrain.py")
    run("local/bigquery/upload_data_to_bigquery.py", "data/dataset_2.csv")
    second = run("local_retrain.py", promoted_or_kept=True)

    assert "Promoted v1 to [integration]" in first
    assert "v2" in second and "which neither model trained on" in second
    rows = len(read_csv(DATA / "dataset_1.csv")) + len(read_csv(DATA / "dataset_2.csv"))
    held_out, trained_on = map(int, re.search(r"held out: (\d+) rows, .*; trained on the other (\d+)", second).groups())
    assert held_out + trained_on == rows  # both loads were read back from BigQuery


def test_train_upload_appends_to_bigquery_and_the_retrain_sees_the_rows(bigquery_settings, bigquery_store, redis_url):
    from {{ cookiecutter.app_name }}.web import create_app

    first = data_rows("dataset_1.csv", 600)
    bigquery_store.append(first)
    web_settings = dataclasses.replace(bigquery_settings, redis_url=redis_url, api_key="test-key")
    client = create_app(web_settings).test_client()
    corrected = data_rows("dataset_2.csv", 200)
    column = a_feature_of_type("integer", "float", "boolean", "date", "timestamp")

    def upload(rows: pd.DataFrame):
        content = io.BytesIO(rows.to_csv(index=False).encode())
        return client.post("/train", data={"file": (content, "corrected.csv")}, headers={"X-API-Key": "test-key"})

    refused = upload(corrected.assign(**{column: "lots"}))
    assert refused.status_code == 400 and f"{column!r} expects" in refused.get_json()["error"]
    assert bigquery_store.count() == len(first)

    accepted = upload(corrected)
    assert accepted.status_code == 202 and accepted.get_json()["rows_added"] == len(corrected)
    assert bigquery_store.count() == len(first) + len(corrected)
    report = retrain(settings=bigquery_settings)
    assert report.training_rows + report.held_out_rows == len(first) + len(corrected)


def test_reading_a_missing_table_says_which_scripts_to_run(bigquery_settings):
    with pytest.raises(TableMissingError) as raised:
        open_datastore(bigquery_settings, environment="uat").read()

    assert "python local/bigquery/create_database.py --environment uat" in str(raised.value)
    assert "python local/bigquery/upload_data_to_bigquery.py data/dataset_1.csv --environment uat" in str(raised.value)


SERVICE_ACCOUNT_KEY = {
    "type": "service_account",
    "project_id": "acme-analytics",
    "private_key_id": "0123456789abcdef",
    "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n",
    "client_email": "retrain-app@acme-analytics.iam.gserviceaccount.com",
}


def test_set_service_account_key_prints_the_secret_for_the_environments_namespace(app_root):
    (app_root / "config" / "service_account_key.json").write_text(json.dumps(SERVICE_ACCOUNT_KEY))

    finished = run_script(app_root, "local/bigquery/set_service_account_key.py", "--dry-run", "--environment", "uat")

    assert finished.returncode == 0, finished.stderr
    secret = yaml.safe_load(finished.stdout)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "bigquery-service-account-key"
    assert secret["metadata"]["namespace"] == "{{ cookiecutter.app_name | replace('_', '-') }}-uat"
    assert json.loads(base64.b64decode(secret["data"]["service_account_key.json"])) == SERVICE_ACCOUNT_KEY


def test_set_service_account_key_applies_the_secret_with_kubectl(app_root, kubectl):
    (app_root / "config" / "service_account_key.json").write_text(json.dumps(SERVICE_ACCOUNT_KEY))

    finished = subprocess.run([sys.executable, "local/bigquery/set_service_account_key.py"],
                              cwd=APP_ROOT, env={**kubectl.env(), "APP_ROOT": str(app_root)},
                              capture_output=True, text=True)  # fmt: skip

    assert finished.returncode == 0, finished.stderr
    assert kubectl.calls() == [["apply", "--server-side", "--force-conflicts", "-f", "-"]]
    [sent] = kubectl.manifests()
    assert sent["kind"] == "Secret" and sent["metadata"]["namespace"].endswith("-integration")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("{not json", "is not JSON"),
        (json.dumps({"type": "authorized_user"}), "is not a service-account key"),
    ],
    ids=["empty", "not-json", "user-credentials"],
)
def test_set_service_account_key_explains_a_file_it_cannot_use(app_root, content, message):
    (app_root / "config" / "service_account_key.json").write_text(content)

    finished = run_script(app_root, "local/bigquery/set_service_account_key.py", "--dry-run")

    assert finished.returncode == 2
    assert message in finished.stderr and "Service accounts > Keys > Add key > JSON" in finished.stderr
