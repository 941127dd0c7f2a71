"""The HTTP API: health, ready, predict, train, retrain, jobs and models."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from ...datastore import (
    AlreadyAppendedError,
    DataStoreError,
    SchemaMismatchError,
    TableMissingError,
    open_datastore,
)
from ...ml import predict_scores, predict_table, prediction_columns, prediction_records
from ...ml.metrics import GREATER_IS_BETTER
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

api = Blueprint("api", __name__)


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
    target = services().settings.app.target
    if request.mimetype == "multipart/form-data":  # a CSV upload; anything else is read as JSON
        uploaded, file_name = uploaded_csv(request.files)
        refuse_a_predictions_file(uploaded, prediction_columns(served.model, target))
        table = predict_table(served.model, model_input(uploaded, served.input_schema), target)
        count_predictions(served.version, table[f"predicted_{target}"], services().settings.app.problem_type)
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
        scores = predict_scores(served.model, model_input(pd.DataFrame.from_records(records), served.input_schema))
    predictions = prediction_records(served.model, scores, target)
    predicted = [row[f"predicted_{target}"] for row in predictions]
    count_predictions(served.version, predicted, services().settings.app.problem_type)
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
            f"Its columns are {list(uploaded.columns)}"
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
    job_id, queued = queue.enqueue(app_services.settings.environment, reason=f"{rows_added} rows from {file_name}")
    return {"job_id": job_id, "rows_added": rows_added, "ignored_columns": ignored, "newly_queued": queued}, 202


@api.post("/retrain")
@require_api_key
def retrain():
    job_id, queued = services().retrain_queue().enqueue(services().settings.environment, reason="requested")
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
