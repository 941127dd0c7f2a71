"""The tracking server's sign-in (MLflow's basic-auth app) with one rule more: the users a pull request's jobs sign in
as change pull-request environments (pr-<number>) and nothing else.

A pull request runs its own code with that user's password, and MLflow grants per registered model, not per alias or
tag: with the EDIT it needs to register versions and move its own alias, it could move production's too, set the app
version production deploys, or replace the files of the model production loads (which runs their code). So for the
users in MLFLOW_CHALLENGER_USERS the server answers 403 to any change that reaches another environment:
- an alias or an environment's tag (`app.<environment>`, `challenger.<environment>`, `shadow.<environment>`) not of a
  pr-<number>;
- a run whose `environment` tag names another environment (training runs and history entries carry one), and a new
  run or tag naming one;
- an artifact that already exists (a model's files are written once) and any artifact's deletion;
- renaming, changing or deleting a registered model, a model version or an experiment, and a version's tags;
- anyone's permissions (deleting an alias takes MANAGE on the model, which also lets a user grant and revoke).
Everything else (reading, new runs, new model versions, which serve nowhere until an alias names them) is MLflow's
own permissions' business. The server runs it as `mlflow server --app-name <app>-auth` (k8s/mlflow.yml).
"""

from __future__ import annotations

import base64
import re
from contextlib import suppress
from typing import Any

from flask import Flask, Response, make_response, request
from mlflow.server import app as tracking_app
from mlflow.server import auth
from mlflow.server.handlers import _get_artifact_repo_mlflow_artifacts, _get_tracking_store
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from ..config import is_pull_request, read_variables
from ..registry import APP_TAG, CHALLENGER_TAG, ENVIRONMENT_TAG, SHADOW_TAG

# An artifact written through the server (and, in a multipart upload, each step of one): the path after it
ARTIFACTS = re.compile(r"/mlflow-artifacts/(?:artifacts|mpu/(?:create|complete|abort))/(.+)")
# Changes to what exists, which no pull request's job makes (their registered model, versions and experiments)
FIXED = (
    "/registered-models/rename",
    "/registered-models/update",
    "/registered-models/delete",
    "/model-versions/update",
    "/model-versions/delete",
    "/model-versions/transition-stage",
    "/model-versions/set-tag",
    "/model-versions/delete-tag",
    "/experiments/update",
    "/experiments/delete",
    "/experiments/set-experiment-tag",
    "/experiments/delete-experiment-tag",
    "/upload-artifact",  # the page's upload into a run's files: the artifacts below are for clients
)


def create_app(app: Flask = tracking_app) -> Any:
    """MLflow's basic-auth app with the rule added where requests arrive: on `app`'s REST endpoints, after the
    sign-in check, and under uvicorn (where basic-auth returns an ASGI app around `app`) on its artifact routes too."""
    served = auth.create_app(app)
    challengers = {user.strip() for user in (read_variables().mlflow_challenger_users or "").split(",")} - {""}

    def keep_pull_requests_to_their_environments() -> Response | None:
        user = request.authorization.username if request.authorization else None
        if request.method in ("GET", "HEAD", "OPTIONS") or user not in challengers:
            return None
        sent = request.get_json(silent=True)
        body = {**request.args.to_dict(), **(sent if isinstance(sent, dict) else {})}
        reason = refusal(request.method, request.path.replace("/ajax-api/", "/api/", 1), body)
        return None if reason is None else make_response(denial(user, reason), 403)

    app.before_request(keep_pull_requests_to_their_environments)
    if served is not app:
        served.add_middleware(ArtifactsWrittenOnce, challengers=challengers)
    return served


class ArtifactsWrittenOnce:
    """The artifact part of the rule for the routes the ASGI app serves itself. It runs before the sign-in check,
    which is safe because it only refuses: a request that claims another user's name still has to sign in as them."""

    def __init__(self, app, challengers: set[str]):
        self.app, self.challengers = app, challengers

    async def __call__(self, scope, receive, send) -> None:
        artifact = ARTIFACTS.search(scope.get("path", ""))
        if scope["type"] == "http" and scope["method"] in ("PUT", "POST", "DELETE") and artifact:
            user = basic_auth_user(dict(scope["headers"]).get(b"authorization", b""))
            if user in self.challengers:
                reason = await run_in_threadpool(artifact_refusal, scope["method"], artifact[1])
                if reason is not None:
                    await JSONResponse(denial(user, reason), 403)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def basic_auth_user(header: bytes) -> str | None:
    scheme, _, credentials = header.decode("latin-1").partition(" ")
    if scheme.lower() != "basic":
        return None
    with suppress(ValueError):
        return base64.b64decode(credentials).decode("utf-8").partition(":")[0]
    return None


def denial(user: str, reason: str) -> dict[str, str]:
    message = f"{user} changes only pull-request environments (pr-<number>): {reason}"
    return {"error_code": "PERMISSION_DENIED", "message": message}


def refusal(method: str, path: str, body: dict[str, Any]) -> str | None:
    """Why a pull request's user may not make this change, or None if it may."""
    if artifact := ARTIFACTS.search(path):
        return artifact_refusal(method, artifact[1])
    if path.endswith(FIXED):
        return f"not {path.split('/mlflow/', 1)[-1]}: what exists stays as it is"
    if any(part in path for part in ("/permissions/", "/users/", "/roles/")):
        return "no one's permissions are changed"
    if path.endswith("/registered-models/alias"):
        alias = str(body.get("alias", ""))
        return None if is_pull_request(alias) else f"not alias {alias!r}"
    if path.endswith(("/registered-models/set-tag", "/registered-models/delete-tag")):
        key = str(body.get("key", ""))
        environment = next(
            (key.removeprefix(kind) for kind in (APP_TAG, CHALLENGER_TAG, SHADOW_TAG) if key.startswith(kind)), None
        )
        return None if environment is None or is_pull_request(environment) else f"not tag {key!r}"
    if "/runs/" in path:
        return run_refusal(path, body)
    return None


def run_refusal(path: str, body: dict[str, Any]) -> str | None:
    """A run is a pull request's when its environment tag, if any, names a pr-<number>: before and after the change."""
    tags = {tag.get("key"): tag.get("value") for tag in body.get("tags") or [] if isinstance(tag, dict)}
    if path.endswith("/runs/set-tag") and body.get("key") == ENVIRONMENT_TAG:
        tags[ENVIRONMENT_TAG] = body.get("value")
    if ENVIRONMENT_TAG in tags and not is_pull_request(str(tags[ENVIRONMENT_TAG])):
        return f"not a run of environment {tags[ENVIRONMENT_TAG]!r}"
    run_id = body.get("run_id") or body.get("run_uuid")
    if not run_id:
        return None
    environment = _get_tracking_store().get_run(run_id).data.tags.get(ENVIRONMENT_TAG)
    if environment is None or is_pull_request(environment):
        return None
    return f"not run {run_id} of environment {environment!r}"


def artifact_refusal(method: str, path: str) -> str | None:
    if method == "DELETE":
        return f"artifact {path} is not deleted"
    folder = path.rpartition("/")[0]
    if any(found.path == path for found in _get_artifact_repo_mlflow_artifacts().list_artifacts(folder or None)):
        return f"artifact {path} is written once, and it exists"
    return None
