"""The environment variables: `Variables` declares each, with what it does and what holds when it is unset, and this
is the only module that reads the process environment (or changes it, for processes the app starts)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


def variable(does: str, unset: str, kind: type = str) -> Any:
    """A field of Variables: what the variable does, and what holds when it is unset (as docs/configuration.md shows
    both)."""
    return field(default=None, metadata={"does": does, "unset": unset, "kind": kind})


@dataclass(frozen=True)
class Variables:
    """Every environment variable the app reads, by its name in lower case; None where it is unset or empty."""

    app_environment: str | None = variable("the environment to work on", "the one `env select` chose, else integration")
    api_key: str | None = variable("the key of the web app and API", "app config's `api_key`")
    redis_url: str | None = variable("the Redis of the retrain queue", "none: `run_server.py` starts one of its own")
    mlflow_tracking_uri: str | None = variable("the registry", "`sqlite:///.app_state/mlflow.db`")
    mlflow_tracking_username: str | None = variable(
        "the user the app signs in to the tracking server as (read by MLflow's client; `deploy apply` gives it to the "
        "pods)",
        "no sign-in",
    )
    mlflow_tracking_password: str | None = variable("that user's password (likewise)", "no sign-in")
    mlflow_challenger_users: str | None = variable(
        "on the tracking server (`--app-name <app>-auth`): the users, comma-separated, who change only pull-request "
        "environments (tracking_server/registry_guard.py)",
        "every user may change every environment",
    )
    cluster_mlflow_tracking_uri: str | None = variable(
        "the registry as the pods reach it, for `deploy render`/`apply`", "`MLFLOW_TRACKING_URI`"
    )
    mlflow_artifact_root: str | None = variable(
        "where model files go when the registry is created",
        "`.app_state/mlartifacts`; in the cluster, the tracking server's own (`mlflow-artifacts:/`)",
    )
    app_version: str | None = variable("this checkout's app version, for `deploy` and `deploy build`", "its git commit")
    git_sha: str | None = variable("the commit recorded on each model version", "`git rev-parse HEAD`")
    created_by: str | None = variable("who is recorded on model versions and environment changes", "your user name")
    app_url: str | None = variable(
        "the app `deploy test` and `pytest -m smoke` call", "for `deploy test`: a port-forward to it"
    )
    app_root: str | None = variable("the app folder", "the nearest folder holding `config/app_config.yml`")
    app_state_dir: str | None = variable("the folder of the local state", "`.app_state`")
    duckdb_path: str | None = variable("the DuckDB file", "`.app_state/data.duckdb`")
    bigquery_api_endpoint: str | None = variable(
        "a BigQuery emulator to use instead of Google (anonymous credentials)", "Google's BigQuery"
    )
    bigquery_storage_api_endpoint: str | None = variable(
        "with BIGQUERY_API_ENDPOINT, the emulator's Storage Read API (gRPC, host:port), which whole tables are read "
        "through",
        "with an emulator, tables are read through its REST API; else Google's Storage Read API",
    )
    google_application_credentials: str | None = variable(
        "a key file for BigQuery (read by Google's client)", "`config/service_account_key.json`, else your gcloud login"
    )
    bigquery_emulator_python: str | None = variable(
        "a Python 3.13 for the BigQuery emulator", "`python3.13` on PATH, else one of pyenv or uv"
    )
    xdg_cache_home: str | None = variable("where the BigQuery emulator's venv is kept", "`~/.cache`")
    dask_scheduler_address: str | None = variable(
        "the Dask scheduler a retrain on `training_engine: dask` uses (tcp://host:8786); predict-table uses it too",
        "a cluster of the retrain's own (environment config's `dask_workers`): in Kubernetes (`APP_IMAGE` set) a "
        "DaskCluster from the Dask operator, else worker processes beside it",
    )
    shadow_api_key: str | None = variable(
        "the API key of the environments that shadow this one (shadow_of), which its web app mirrors requests to",
        "this app's own API key",
    )
    app_image: str | None = variable(
        "the image the environment runs (set by the deploy): the Dask pods of a retrain run it too",
        "not in Kubernetes",
    )
    port: int | None = variable("the port `serve` listens on", "5001", int)
    probe_port: int | None = variable(
        "a port where each web process answers `/health` and `/ready` even while busy (8081 in the cluster)",
        "the probes are answered on the app's port only",
        int,
    )
    prometheus_multiproc_dir: str | None = variable(
        "where each web process keeps its metrics, for /metrics to sum them (set by `serve` and the local stack)",
        "unset: /metrics has the metrics of the process that answers",
    )
    app_deployed: bool | None = variable(
        "`true`: refuse the placeholder or a short `api_key`, as in a cluster (the image sets it)", "false", bool
    )
    kubernetes_service_host: str | None = variable("set by Kubernetes in every pod: the app is deployed", "unset")
    mlflow_port_forward_pid: int | None = variable(
        "set by `registry connect`: its port-forward, replaced if it stopped", "unset", int
    )
    mlflow_disable_telemetry: str | None = variable(
        "`false` lets MLflow send its usage reports", "the app sets it to `true`: none are sent"
    )
    mlflow_http_request_timeout: int | None = variable(
        "seconds MLflow waits for each answer of a tracking server", "120; the web app sets 10", int
    )
    mlflow_http_request_max_retries: int | None = variable(
        "how often MLflow retries a tracking server call that failed", "7; the web app sets 1", int
    )
    github_env: str | None = variable("set by GitHub Actions: where `registry connect` writes its settings", "unset")
    github_output: str | None = variable("set by GitHub Actions: where `env next` writes the target", "unset")
    github_step_summary: str | None = variable(
        "set by GitHub Actions: where `deploy test` and `pull-request report` write results", "unset"
    )
    github_token: str | None = variable(
        "the token `pull-request comment` comments with (the workflow's, given to the step)", "unset: it refuses"
    )
    github_repository: str | None = variable(
        "set by GitHub Actions: owner/name, where `pull-request comment` comments", "unset"
    )
    github_api_url: str | None = variable("set by GitHub Actions: its REST API", "`https://api.github.com`")
    git_index_file: str | None = variable("set by git in a hook: `component-config snapshot` runs as one", "unset")

    @property
    def deployed(self) -> bool:
        """In a cluster (Kubernetes sets KUBERNETES_SERVICE_HOST in every pod), or told so with APP_DEPLOYED."""
        return bool(self.kubernetes_service_host) or bool(self.app_deployed)


# How people write yes and no, in data and in environment variables alike (any case, spaces around).
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}


def boolean_word(text: str) -> bool | None:
    """True or False for a word of TRUE_WORDS or FALSE_WORDS, else None."""
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def read_variables() -> Variables:
    """The environment variables, each as its declared type; a ConfigError naming one that cannot be read."""
    values: dict[str, Any] = {}
    for spec in fields(Variables):
        name, raw = spec.name.upper(), os.environ.get(spec.name.upper(), "").strip()
        kind = spec.metadata["kind"]
        if not raw:
            values[spec.name] = None
        elif kind is bool and boolean_word(raw) is not None:
            values[spec.name] = boolean_word(raw)
        elif kind is int and raw.isdigit():
            values[spec.name] = int(raw)
        elif kind is str:
            values[spec.name] = raw
        else:
            expected = "true or false" if kind is bool else "a whole number"
            raise ConfigError(f"environment variable {name} is {raw!r}; expected {expected}")
    return Variables(**values)


def child_environment(variables: dict[str, str], path_first: Path | None = None) -> dict[str, str]:
    """This process's environment with `variables` set: for a process started to run part of the app. `path_first`
    goes ahead on PATH, as a venv's `activate` puts its bin."""
    environment = {**os.environ, **variables}
    if path_first is not None:
        environment["PATH"] = os.pathsep.join(filter(None, (str(path_first), environment.get("PATH"))))
    return environment


def switch_off_mlflow_telemetry() -> None:
    """Before MLflow is imported: no look-ups of a telemetry host from laptops or CI, unless asked for."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def bound_registry_waits() -> None:
    """In web processes: with MLflow's defaults a check of a hung or stopped tracking server takes minutes (7 retries
    with back-off, 120 s each). The champion is checked again a few seconds later anyway, so fail fast."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
