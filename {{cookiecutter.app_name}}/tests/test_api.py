import concurrent.futures
import dataclasses
import io
import json
import socket
import time

import pandas as pd
import pytest
import redis

from {{ cookiecutter.app_name }}.config import ConfigError
from {{ cookiecutter.app_name }}.datastore import conform
from {{ cookiecutter.app_name }}.ml import greater_is_better, used_columns
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import open_registry
from {{ cookiecutter.app_name }}.web import create_app

from .conftest import started_now, wait_until_ready
from .support.bad_inputs import BAD_INPUTS, bad_input_row, flask_arguments, sample_for, sends_that_apply
from .support.data import APP_ROOT, DATA, data_rows, table_schema

pytestmark = pytest.mark.unit
KEY = {"X-API-Key": "test-key"}


def csv_upload(frame: pd.DataFrame, name: str = "rows.csv") -> dict:
    return {"file": (io.BytesIO(frame.to_csv(index=False).encode()), name)}


def raw_upload(content: bytes, name: str = "rows.csv") -> dict:
    return {"file": (io.BytesIO(content), name)}


def queued_anything(web_settings) -> bool:
    return bool(redis.Redis.from_url(web_settings.redis_url).keys("retrain:*"))


def a_used_feature_of_type(served, *kinds: str) -> str:
    """A column of one of `kinds` that the served model reads (a prediction request is checked on those alone)."""
    used = used_columns(open_registry(served.settings).load(served.version))
    columns = [column for column in used if table_schema()[column] in kinds]
    if not columns:
        pytest.skip(f"the served model reads no column of type {' or '.join(kinds)}")
    return columns[0]


def features(file_name: str, rows: int, target: str):
    """Rows of a data file without their target: what a prediction request holds."""
    return data_rows(file_name, rows).drop(columns=[target])


def test_health_needs_no_key_and_reports_the_served_version(served):
    wait_until_ready(served.client)
    answer = served.client.get("/health")

    assert answer.status_code == 200
    assert answer.json == {"status": "ok", "environment": "integration", "model_version": served.version}


def answer_within(seconds: float, call):
    """`call()`'s answer, or a failure if it takes longer than `seconds`."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)  # not waiting for a call that hangs


def test_health_answers_at_once_while_the_registry_hangs_and_the_app_is_not_ready_until_it_answers(
    web_settings, monkeypatch
):
    # A tracking server that accepts connections and never answers, and an MLflow told to wait for it for minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        settings = dataclasses.replace(web_settings, mlflow_tracking_uri=f"http://127.0.0.1:{hung.getsockname()[1]}")
        client = create_app(settings).test_client()

        health = answer_within(5, lambda: client.get("/health"))
        ready = answer_within(5, lambda: client.get("/ready"))

    assert health.status_code == 200 and health.json["status"] == "starting"
    assert ready.status_code == 503 and "registry has not answered" in ready.json["error"]


def test_a_registry_that_cannot_be_reached_is_reported_by_health_ready_and_predict(web_settings):
    settings = dataclasses.replace(web_settings, mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")  # nobody there
    client = create_app(settings).test_client()
    record = features("dataset_1.csv", 1, settings.app.target).to_dict(orient="records")

    predicted = client.post("/predict", json={"records": record}, headers=KEY)  # waits for the first check
    health, ready = client.get("/health"), client.get("/ready")

    assert predicted.status_code == 503
    assert predicted.json["error"].startswith("no model is loaded in this process yet: the model registry did not")
    assert health.status_code == 200 and health.json["status"] == "degraded"
    assert "model registry did not answer" in health.json["problem"] and health.json["model_version"] is None
    assert ready.status_code == 503


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/predict"), ("post", "/train"), ("post", "/retrain"), ("get", "/jobs/abc"), ("get", "/models")],
)
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_every_endpoint_but_health_needs_the_key(client, method, path, key):
    headers = {"X-API-Key": key} if key else {}

    answer = getattr(client, method)(path, headers=headers)

    assert answer.status_code == 401
    assert "API key" in answer.json["error"]


def test_the_key_is_accepted_as_header_or_query_parameter(served):
    assert served.client.get("/models", headers=KEY).status_code == 200
    assert served.client.get("/models?api_key=test-key").status_code == 200


def test_the_page_remembers_the_key_after_the_first_visit(client):
    assert client.get("/").status_code == 401

    first = client.get("/?api_key=test-key")
    again = client.get("/")

    assert first.status_code == 303 and first.headers["Location"] == "/"  # the key out of the address bar
    assert again.status_code == 200 and b"Model versions" in again.data


def test_predicting_without_a_model_says_to_train_first(client, store, settings):
    record = features("dataset_1.csv", 1, settings.app.target).to_dict(orient="records")
    answer = client.post("/predict", json={"records": record}, headers=KEY)

    assert answer.status_code == 409
    assert "train a model first" in answer.json["error"]


def test_predict_json_records(served):
    records = features("dataset_2.csv", 3, served.settings.app.target).to_dict(orient="records")

    answer = served.client.post("/predict", json={"records": records}, headers=KEY)

    assert answer.status_code == 200
    assert answer.json["model_version"] == served.version
    predictions = answer.json["predictions"]
    assert len(predictions) == 3
    if served.settings.app.problem_type == "classification":
        assert all(sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-3) for p in predictions)


def test_json_and_csv_predictions_of_the_same_rows_agree(served):
    target = served.settings.app.target
    rows = features("dataset_2.csv", 40, target)
    schema = {column: kind for column, kind in table_schema().items() if column != target}
    records = json.loads(conform(rows, schema).to_json(orient="records", date_format="iso"))

    as_json = served.client.post("/predict", json={"records": records}, headers=KEY).json["predictions"]
    as_csv = pd.read_csv(io.BytesIO(served.client.post("/predict", data=csv_upload(rows), headers=KEY).data))

    assert [p[f"predicted_{target}"] for p in as_json] == pytest.approx(as_csv[f"predicted_{target}"].tolist())
    if served.settings.app.problem_type == "classification":
        for prediction, (_, row) in zip(as_json, as_csv.iterrows(), strict=True):
            assert prediction["probabilities"] == {
                label: row[f"probability_{label}"] for label in prediction["probabilities"]
            }


def test_predict_csv_returns_the_rows_with_predictions_and_echoes_extra_columns(served):
    rows = features("dataset_2.csv", 25, served.settings.app.target).assign(Note="kept as sent")

    answer = served.client.post("/predict", data=csv_upload(rows, "new.csv"), headers=KEY)

    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == 'attachment; filename="predictions_new.csv"'
    returned = pd.read_csv(io.BytesIO(answer.data), dtype=str, keep_default_na=False)
    assert len(returned) == len(rows)
    assert list(returned.columns[: len(rows.columns)]) == list(rows.columns)
    assert (returned["Note"] == "kept as sent").all()
    assert f"predicted_{served.settings.app.target}" in returned.columns


def test_predictions_csv_neutralises_formulas_but_not_negative_numbers(served):
    # Columns the model does not read are echoed back as they came: a formula could hide in any of them.
    rows = features("dataset_2.csv", 2, served.settings.app.target)
    rows["Note"] = ['=HYPERLINK("http://example.com","x")', "@SUM(A1)"]
    rows["Change"] = ["+3", "-12.50"]

    answer = served.client.post("/predict", data=csv_upload(rows), headers=KEY)

    returned = pd.read_csv(io.BytesIO(answer.data), dtype=str)
    assert returned["Note"].tolist() == ['\'=HYPERLINK("http://example.com","x")', "'@SUM(A1)"]
    assert returned["Change"].tolist() == ["+3", "-12.50"]


SENDS = sends_that_apply()


@pytest.mark.parametrize(("bad", "endpoint"), SENDS, ids=[f"{endpoint} {bad.kind}" for bad, endpoint in SENDS])
def test_bad_input_is_refused_with_a_message_that_names_the_problem_and_changes_nothing(served, bad, endpoint):
    request = bad.request(sample_for(served.settings.app))
    before = served.store.count()

    answer = served.client.post(endpoint, headers=KEY, **flask_arguments(request))

    assert answer.status_code == bad.status, answer.json
    assert bad.message in answer.json["error"]
    assert served.store.count() == before
    assert not queued_anything(served.settings)


def test_the_reliability_page_lists_every_kind_of_bad_input():
    page = (APP_ROOT / "docs" / "reliability.md").read_text()
    table = page[page.index("| bad input | endpoints |") :].split("\n\n")[0].splitlines()[2:]

    assert table == [bad_input_row(bad) for bad in BAD_INPUTS]


def test_predictions_of_a_file_with_any_name_come_back_with_a_header_uwsgi_can_send(served):
    rows = features("dataset_2.csv", 3, served.settings.app.target)

    answer = served.client.post("/predict", data=csv_upload(rows, name="März 漢字.csv"), headers=KEY)

    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition.isascii()  # uWSGI sends Latin-1 headers only, and fails the request on anything else
    assert disposition.endswith("filename*=UTF-8''predictions_M%C3%A4rz%20%E6%BC%A2%E5%AD%97.csv")


def test_predict_names_missing_columns_with_expected_and_got(served):
    answer = served.client.post("/predict", json={"records": [{"Colour": "red"}]}, headers=KEY)

    assert answer.status_code == 400
    message = answer.json["error"]
    assert "missing column(s) [" in message and "Expected columns [" in message and "'Colour'" in message


def test_predict_refuses_text_in_a_numeric_column(served):
    record = features("dataset_2.csv", 1, served.settings.app.target).to_dict(orient="records")[0]
    feature = a_used_feature_of_type(served, "integer", "float")

    answer = served.client.post("/predict", json={"records": [{**record, feature: "a lot"}]}, headers=KEY)

    assert answer.status_code == 400
    message = answer.json["error"]
    assert f"'{feature}' expects {table_schema()[feature]}" in message and "a lot" in message


def test_train_appends_the_rows_and_queues_one_retrain(client, store, trained, settings):
    before = store.count()
    rows = data_rows("dataset_2.csv", 40).assign(Comment="ignored")

    answer = client.post("/train", data=csv_upload(rows), headers=KEY)

    assert answer.status_code == 202
    assert answer.json["rows_added"] == len(rows) and answer.json["ignored_columns"] == ["Comment"]
    assert store.count() == before + len(rows)
    job = client.get(f"/jobs/{answer.json['job_id']}", headers=KEY)
    assert job.status_code == 200 and job.json["state"] == "queued"


def test_the_same_file_uploaded_twice_is_added_once_and_says_so(client, store, trained, web_settings):
    rows = data_rows("dataset_2.csv", 40)
    first = client.post("/train", data=csv_upload(rows, name="march.csv"), headers=KEY)
    redis.Redis.from_url(web_settings.redis_url).flushdb()  # as if the first retrain had run
    count = store.count()

    again = client.post("/train", data=csv_upload(rows, name="march.csv"), headers=KEY)

    assert first.status_code == 202 and again.status_code == 409
    assert again.json["error"].startswith("march.csv: these 40 rows were already added")
    assert store.count() == count and not queued_anything(web_settings)


def test_a_retrain_requested_while_one_waits_joins_it(client, trained):
    first = client.post("/retrain", headers=KEY)
    second = client.post("/retrain", headers=KEY)

    assert first.status_code == second.status_code == 202
    assert second.json["job_id"] == first.json["job_id"]
    assert first.json["newly_queued"] and not second.json["newly_queued"]


def test_an_upload_over_the_size_limit_is_refused_with_413(served):
    big = (DATA / "dataset_1.csv").read_bytes()
    limit = len(big) / 2 / 1024 / 1024  # half the file
    tiny = dataclasses.replace(served.settings, app=dataclasses.replace(served.settings.app, max_upload_mb=limit))
    client = create_app(tiny).test_client()
    before = served.store.count()

    answer = client.post("/train", data=raw_upload(big), headers=KEY)

    assert answer.status_code == 413
    assert "max_upload_mb" in answer.json["error"]
    assert served.store.count() == before


def test_an_unknown_job_is_404(client):
    answer = client.get("/jobs/no-such-job", headers=KEY)

    assert answer.status_code == 404
    assert "no job 'no-such-job'" in answer.json["error"]


def test_models_lists_versions_and_what_each_environment_serves(served):
    answer = served.client.get("/models", headers=KEY)

    assert answer.status_code == 200
    assert answer.json["serving"] == {"integration": served.version}
    [version] = answer.json["versions"]
    assert version["version"] == served.version and version["passed"] and version["serving"] == ["integration"]
    assert version["greater_is_better"] == greater_is_better(version["score_type"])  # for a chart to say which way


def test_a_new_champion_is_served_without_a_restart(client, store, trained, settings):
    record = features("dataset_2.csv", 1, settings.app.target).to_dict(orient="records")
    assert client.post("/predict", json={"records": record}, headers=KEY).json["model_version"] == trained
    store.append(data_rows("dataset_2.csv", 200))
    newer = retrain(settings=settings).challenger_version
    open_registry(settings).set_alias("integration", newer)  # promoted, whatever the gate said

    # The request that finds the check due still answers at once, with the model loaded; the new one follows.
    versions = [client.post("/predict", json={"records": record}, headers=KEY).json["model_version"]]
    deadline = time.monotonic() + 60
    while versions[-1] != newer and time.monotonic() < deadline:
        versions.append(client.post("/predict", json={"records": record}, headers=KEY).json["model_version"])

    assert versions[-1] == newer and set(versions) <= {trained, newer}


@pytest.mark.parametrize(
    ("key", "deployed", "message"),
    [("changeme", True, "still 'changeme'"), ("short-key", True, "has 9 characters; a deployed app needs at least 16"),
     ("", False, "api_key is empty, which would let every request in")],
    ids=["placeholder", "short", "empty"],
)  # fmt: skip
def test_the_app_refuses_to_start_with_a_key_that_protects_nothing(settings, monkeypatch, key, deployed, message):
    monkeypatch.setenv("APP_DEPLOYED", str(deployed).lower())

    with pytest.raises(ConfigError, match=message):
        create_app(dataclasses.replace(started_now(settings), api_key=key))
