"""The HTTP API: health, ready, predict, train, retrain, jobs, models and monitoring."""

from __future__ import annotations

import logging
from dataclasses import asdict

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from ...config import names_list
from ...datastore import (
    AlreadyAppendedError,
    DataStoreError,
    SchemaMismatchError,
    TableMissingError,
    conform,
    open_datastore,
)
from ...environments.deployments import DeploymentError, approve
from ...ml import predict_scores, predict_table, prediction_columns, prediction_records
from ...ml.metrics import GREATER_IS_BETTER
from ...monitoring.monitor import check, labelled_record, recent_records, record_labelled
from ..champion import FIRST_CHECK_WAIT_SECONDS, ChampionState
from ..metrics import count_predictions
from ..services import services
from .auth import require_api_key
from .uploads import (
    BadRequest,
    attachment,
    json_records,
    model_input,
    predictions_csv,
    refuse_a_predictions_file,
    uploaded_csv,
)

logger = logging.getLogger(__name__)
api = Blueprint("api", __name__)
SHOWN_REPORTS = 50  # the newest monitor reports /monitoring returns


def error(message: str, status: int):
    return jsonify(error=message), status


@api.errorhandler(BadRequest)
def bad_request(problem: BadRequest):
    return error(str(problem), 400)


@api.get("/health")
def health():
    """Liveness, for Kubernetes and people: no key, no waiting. "degraded" while the registry does not answer, and the
    process keeps serving the model it has."""
    return health_report(services().champion.state())


@api.get("/ready")
def ready():
    """Readiness: 503 until this process has learnt from the registry which model to serve (or that there is none)."""
    state = services().champion.state()
    if not state.checked:
        return {**health_report(state), "error": "not ready: the model registry has not answered yet"}, 503
    return health_report(state)


def health_report(state: ChampionState) -> dict:
    status = "degraded" if state.problem is not None else "ok" if state.checked else "starting"
    report = {"status": status, "environment": services().settings.environment,
              "model_version": state.served and state.served.version}  # fmt: skip
    if state.problem is not None:
        report.update(problem=state.problem, failing_for_seconds=state.failing_for_seconds)
    return report


@api.post("/predict")
@require_api_key
def predict():
    served = services().champion.current()
    if served is None:
        environment, state = services().settings.environment, services().champion.state()
        if not state.checked:
            why = state.problem or f"the model registry has not answered in {FIRST_CHECK_WAIT_SECONDS} s"
            return error(f"no model is loaded in this process yet: {why}", 503)
        return error(f"no model serves {environment} yet: train a model first (upload a CSV to /train)", 409)
    app = services().settings.app
    target = app.target
    if request.mimetype == "multipart/form-data":  # a CSV upload; anything else is read as JSON
        uploaded, file_name = uploaded_csv(request.files)
        refuse_a_predictions_file(uploaded, prediction_columns(served.model, target))
        features = model_input(uploaded, served.input_schema, app.time_formats)
        table = predict_table(served.model, features, target)
        count_predictions(table[f"predicted_{target}"], app.problem_type)
        if services().prediction_log:
            services().prediction_log.record(served.version, features, table)
        return Response(
            predictions_csv(uploaded, table),
            mimetype="text/csv",
            headers={
                "Content-Disposition": attachment(f"predictions_{file_name}"),
                "X-Model-Version": str(served.version),
            },
        )
    records = json_records(request.get_json(silent=True), request.mimetype)
    scores = served.scorer.predict_scores(records) if served.scorer else None
    if scores is None:  # the pipeline scores what the quick path declines, and words any error
        rows = model_input(pd.DataFrame.from_records(records), served.input_schema, app.time_formats)
        scores = predict_scores(served.model, rows)
    predictions = prediction_records(served.model, scores, target)
    predicted = [row[f"predicted_{target}"] for row in predictions]
    count_predictions(predicted, app.problem_type)
    if services().prediction_log:
        services().prediction_log.record(served.version, records, predictions)
    return {"model_version": served.version, "predictions": predictions}


@api.post("/train")
@require_api_key
def train():
    """Append corrected rows to the environment's data, then queue a retrain that will see them."""
    app_services = services()
    target = app_services.settings.app.target
    uploaded, file_name = uploaded_csv(request.files)
    if target not in uploaded.columns:
        raise BadRequest(
            f"{file_name} has no {target!r} column: a training file must hold the correct {target} of every row. "
            f"Its columns are {names_list(list(uploaded.columns))}"
        )
    queue = app_services.retrain_queue()  # before appending: rows are only added if a retrain can be queued
    store = open_datastore(app_services.settings)
    try:
        schema = store.schema()
        ignored = [column for column in uploaded.columns if column not in schema]
        rows_added = store.append(uploaded.drop(columns=ignored))
    except TableMissingError as problem:
        return error(str(problem), 409)
    except AlreadyAppendedError as problem:  # nothing new: no retrain either
        return error(f"{file_name}: {problem}", 409)
    except SchemaMismatchError as problem:
        raise BadRequest(str(problem)) from problem
    except DataStoreError as problem:
        return error(str(problem), 503)
    labels = score_new_labels(uploaded.drop(columns=ignored), schema, file_name)
    answer = {"rows_added": rows_added, "ignored_columns": ignored, **labels}
    settings = app_services.settings
    trigger = upload_trigger(settings, app_services.registry) if settings.app.retrain_when.conditions else "upload"
    if trigger is None:
        why_not = f"no retrain yet: none of retrain_when {settings.app.retrain_when.conditions} is met"
        return {**answer, "job_id": None, "newly_queued": False, "message": why_not}, 200
    job_id, queued = queue.enqueue(settings.environment, f"{rows_added} rows from {file_name}", trigger)
    return {**answer, "job_id": job_id, "newly_queued": queued, "trigger": trigger}, 202


def upload_trigger(settings, registry) -> str | None:
    """Where retrain_when decides: the condition an upload meets, else None. With no champion to judge yet, or when
    the check itself fails, the upload retrains as it would without retrain_when: new rows are never left unused."""
    try:
        report = check(settings, registry, drift_too=False)
    except Exception:  # noqa: BLE001  the rows are in; retraining on them is the safe side
        logger.exception("retrain_when could not be checked after an upload; retraining")
        return "upload"
    if report.champion_version is None:
        return "upload"
    return report.triggers[0] if report.triggers else None


def score_new_labels(rows, schema: dict[str, str], file_name: str) -> dict:
    """The champion's score on rows it has never seen (they were just added), kept for the monitor: how it does on
    new data is what score_drop watches. A failure here costs the upload nothing."""
    app_services = services()
    served, app = app_services.champion.current(), app_services.settings.app
    if served is None:
        return {}
    try:
        labelled = conform(rows, schema, required=[app.target], time_formats=app.time_formats)
        record = labelled_record(served.model, labelled, app.target, app.score_type, file_name)
        record_labelled(app_services.settings, served.version, record)
    except Exception:  # noqa: BLE001  the rows are in: the monitor only misses this score
        logger.exception("the champion could not score the uploaded rows")
        return {}
    return {"champion_score": record["score"], "champion_version": served.version}


@api.post("/retrain")
@require_api_key
def retrain():
    job_id, queued = services().retrain_queue().enqueue(services().settings.environment, "requested", "manual")
    return {"job_id": job_id, "newly_queued": queued}, 202


@api.get("/jobs/<job_id>")
@require_api_key
def job(job_id: str):
    status = services().retrain_queue().status(job_id)
    if status is None:
        return error(f"no job {job_id!r}: job ids come from POST /train or POST /retrain", 404)
    return status


@api.get("/models")
@require_api_key
def models():
    registry = services().registry
    versions = registry.versions()
    return {
        "model_name": registry.model_name,
        "environment": services().settings.environment,
        "serving": registry.aliases(),
        "versions": [
            {
                **asdict(v),
                "created": v.created.isoformat(),
                "input_schema": None,
                # which way is better for its score: a chart, or a person comparing scores, needs it
                "greater_is_better": GREATER_IS_BETTER.get(v.score_type),
            }
            for v in versions
        ],
    }


@api.post("/models/<int:version>/approve")
@require_api_key
def approve_version(version: int):
    """Serve `version`: a challenger that beat the champion where a person promotes (auto_promote: false)."""
    app_services = services()
    try:
        event = approve(app_services.settings, app_services.registry, app_services.settings.environment, version)
    except DeploymentError as problem:
        return error(str(problem), 409)
    return {"environment": app_services.settings.environment, "model_version": version, "changed": event is not None}


@api.get("/monitoring")
@require_api_key
def monitoring():
    """The environment's monitor reports, oldest first, and the champion's score on each upload of labelled rows."""
    settings = services().settings
    records = recent_records(settings)  # one read of the journal for both
    reports = [record for _, record in records if record["kind"] == "report"][-SHOWN_REPORTS:]
    labelled = [{**record, "model_version": version} for version, record in records if record["kind"] == "labelled"]
    return {"environment": settings.environment, "reports": reports, "labelled": labelled,
            "retrain_when": settings.app.retrain_when.conditions}  # fmt: skip
