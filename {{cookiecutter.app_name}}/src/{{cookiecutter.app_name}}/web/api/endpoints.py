"""The HTTP API: health, ready, predict, train, retrain, jobs, models, monitoring and comparison."""

from __future__ import annotations

import time
from collections.abc import Callable
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
from ...environments.deployments import DeploymentError, approve
from ...labelled_rows import Champion, NoTargetError, load_labelled_rows, require_target
from ...ml import predict_scores, predict_table, prediction_columns, prediction_records
from ...ml.scores import GREATER_IS_BETTER
from ...monitoring.reports import recent_records
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
    report = {
        "status": status,
        "environment": services().settings.environment,
        "model_version": state.served and state.served.version,
    }
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
    started = time.perf_counter()
    scores = served.scorer.predict_scores(records) if served.scorer else None
    if scores is None:  # the pipeline scores what the quick path declines, and words any error
        rows = model_input(pd.DataFrame.from_records(records), served.input_schema, app.time_formats)
        scores = predict_scores(served.model, rows)
    predictions = prediction_records(served.model, scores, target)
    predicted = [row[f"predicted_{target}"] for row in predictions]
    count_predictions(predicted, app.problem_type)
    mirror, log = services().shadow_mirror, services().prediction_log
    ms = (time.perf_counter() - started) * 1000
    if not (mirror and mirror.offer(served.version, records, predictions, ms)) and log:  # a mirrored one logs itself
        log.record(served.version, records, predictions)
    return {"model_version": served.version, "predictions": predictions}


@api.post("/train")
@require_api_key
def train():
    """Append corrected rows to the environment's data, then queue a retrain that will see them."""
    app_services = services()
    settings = app_services.settings
    uploaded, file_name = uploaded_csv(request.files)
    try:
        require_target(uploaded, settings.app.target, file_name)
    except NoTargetError as problem:
        raise BadRequest(str(problem)) from problem
    queue = app_services.retrain_queue()  # before appending: rows are only added if a retrain can be queued
    try:
        loaded = load_labelled_rows(
            settings,
            open_datastore(settings),
            app_services.registry,
            uploaded,
            file_name,
            web_champion(app_services),
            queue,
        )
    except TableMissingError as problem:
        return error(str(problem), 409)
    except AlreadyAppendedError as problem:  # nothing new: no retrain either
        return error(f"{file_name}: {problem}", 409)
    except SchemaMismatchError as problem:
        raise BadRequest(str(problem)) from problem
    except DataStoreError as problem:
        return error(str(problem), 503)
    return loaded.answer(), 202 if loaded.job_id else 200


def web_champion(app_services) -> Callable[[], Champion | None]:
    """The champion this process serves, already loaded."""

    def current() -> Champion | None:
        served = app_services.champion.current()
        return None if served is None else Champion(served.version, served.model)

    return current


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
    return {
        "environment": settings.environment,
        "reports": reports,
        "labelled": labelled,
        "retrain_when": settings.app.retrain_when.conditions,
    }


@api.get("/comparison")
@require_api_key
def comparison():
    """For a challenger or a shadow: the challenger report against the champion it would replace, and the shadow
    report (None when it shadows nothing); 404 for an environment that is neither."""
    app_services, environment = services(), services().settings.environment
    if not app_services.comparisons.applies():
        return error(f"{environment} is neither a challenger nor a shadow: nothing to compare", 404)
    return {"environment": environment, **app_services.comparisons.reports()}
