"""An environment's Kubernetes manifests, rendered by code from the files in k8s/.

The files in k8s/ hold everything that is the same in every environment. Rendering adds what is not: the namespace
(`<app>-<environment>`), the image tag (the app version the environment runs), the replicas (environment config),
the settings every process reads (a ConfigMap), and, on BigQuery, the service-account key mounted for Google's client.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config import APP_NAME, FixFirstError, Settings, environment_config_path, is_pull_request
from ..datastore.credentials import KEY_FILE

K8S = Path("k8s")
IMAGE_PLACEHOLDER = "IMAGE"
ENVIRONMENT_PLACEHOLDER = "ENVIRONMENT"
SETTINGS_CONFIG_MAP = "app-settings"
ENVIRONMENT_CONFIG_MAP = "environment-config"  # config/environment_<name>.yml, set by set_environment_configs.py
SERVICE_ACCOUNT_SECRET = "bigquery-service-account-key"
SECRETS = "app-secrets"
SECRETS_DIGEST = "checksum/app-secrets"
CREDENTIALS_DIR = "/var/secrets/google"
PORT = 8080
CLUSTER_TRACKING_URI = "CLUSTER_MLFLOW_TRACKING_URI"


class ManifestError(FixFirstError):
    """The manifests cannot be rendered; the message says what is missing."""


def render(settings: Settings, image_tag: str) -> list[dict[str, Any]]:
    """Every object the environment of `settings` needs, namespace first, ready for `kubectl apply`."""
    if not settings.app.container_registry:
        raise ManifestError("container_registry is not set in config/app_config.yml: where are images pushed?")
    registry = urlsplit(cluster_tracking_uri(settings))
    if registry.scheme not in ("http", "https") or registry.hostname in ("localhost", "127.0.0.1", "::1"):
        raise ManifestError(
            f"the registry is {cluster_tracking_uri(settings)}, which the cluster cannot reach: set "
            f"{CLUSTER_TRACKING_URI} (or MLFLOW_TRACKING_URI) to the tracking server every environment shares, as "
            "the pods reach it (e.g. http://mlflow.mlflow.svc.cluster.local:5000)"
        )
    if settings.app.data_source != "bigquery":
        raise ManifestError(
            f"data_source is {settings.app.data_source}: a database file on each pod's own disk, so the web pods "
            "would add uploads to theirs and the worker would train on its own, never seeing them. Set "
            "data_source: bigquery in config/app_config.yml (and its bigquery settings) to deploy to a cluster"
        )
    namespace, image = settings.kubernetes_namespace, image_name(settings, image_tag)
    files = [f"{APP_NAME}.yml", "celery_worker.yml", "celery_redis.yml", "network_policies.yml"]
    if settings.app.retrain_schedule:  # beat only sends the scheduled retrain
        files.append("celery_beat.yml")
    objects = [
        namespace_object(namespace, settings.environment),
        settings_config_map(settings, namespace),
        environment_config_map(settings, settings.environment),
    ]
    for name in files:
        for document in yaml.safe_load_all((settings.root / K8S / name).read_text(encoding="utf-8")):
            objects.append(for_environment(document, settings, namespace, image))
    return objects


def image_name(settings: Settings, tag: str) -> str:
    """The environment's image: from pull_request_container_registry for a pull request's environment, if set."""
    registry = settings.app.container_registry
    if is_pull_request(settings.environment) and settings.app.pull_request_container_registry:
        registry = settings.app.pull_request_container_registry
    return f"{registry.rstrip('/')}/{APP_NAME}:{tag}"


def secrets_object(settings: Settings, api_key: str) -> dict[str, Any]:
    """The Secret holding the environment's API key and its Redis password, the REDIS_URL that carries it, and the
    tracking server's sign-in: applied by `deploy apply`, never printed by `deploy render`.

    The password is derived from the API key and the namespace: each environment's differs, it changes when the key
    does, and no other secret needs keeping. Redis requires it (k8s/celery_redis.yml)."""
    namespace = settings.kubernetes_namespace
    password = hmac.new(api_key.encode(), f"{namespace}/redis".encode(), hashlib.sha256).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRETS, "namespace": namespace},
        "type": "Opaque",
        "stringData": {
            "API_KEY": api_key,
            "REDIS_PASSWORD": password,
            "REDIS_URL": f"redis://:{password}@celery-redis:6379/0",
            **tracking_server_sign_in(settings),
        },
    }


def tracking_server_sign_in(settings: Settings) -> dict[str, str]:
    """The user and password the pods sign in to the tracking server with: those CD signs in with, if it does."""
    variables = settings.variables
    if not (variables.mlflow_tracking_username and variables.mlflow_tracking_password):
        return {}
    return {"MLFLOW_TRACKING_USERNAME": variables.mlflow_tracking_username,
            "MLFLOW_TRACKING_PASSWORD": variables.mlflow_tracking_password}  # fmt: skip


def restarted_with(objects: list[dict[str, Any]], secret: dict[str, Any]) -> None:
    """Mark every pod with a digest of `secret`, so that a new API key (and with it a new Redis password) restarts
    Redis and every process that calls it together: env vars are read only when a container starts."""
    digest = hashlib.sha256(json.dumps(secret["stringData"], sort_keys=True).encode()).hexdigest()[:16]
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        deployment["spec"]["template"]["metadata"].setdefault("annotations", {})[SECRETS_DIGEST] = digest


def cluster_tracking_uri(settings: Settings) -> str:
    """The registry as the pods reach it, which may differ from how CD reaches it (in-cluster DNS vs a public URL)."""
    return settings.variables.cluster_mlflow_tracking_uri or settings.mlflow_tracking_uri


def namespace_object(namespace: str, environment: str) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/part-of": APP_NAME.replace("_", "-"),
        "environment": environment,
        "pod-security.kubernetes.io/enforce": "restricted",  # every pod runs unprivileged, as a non-root user
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}


def settings_config_map(settings: Settings, namespace: str) -> dict[str, Any]:
    """What every process of the environment reads from its environment; API_KEY and REDIS_URL come from a Secret."""
    data = {
        "APP_ENVIRONMENT": settings.environment,
        "MLFLOW_TRACKING_URI": cluster_tracking_uri(settings),
        # A local artifact folder means nothing in the cluster: there the tracking server keeps the artifacts.
        "MLFLOW_ARTIFACT_ROOT": settings.variables.mlflow_artifact_root or "mlflow-artifacts:/",
    }
    if settings.app.data_source == "bigquery":
        data["GOOGLE_APPLICATION_CREDENTIALS"] = f"{CREDENTIALS_DIR}/{KEY_FILE.name}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SETTINGS_CONFIG_MAP, "namespace": namespace},
        "data": data,
    }


def for_environment(document: dict[str, Any], settings: Settings, namespace: str, image: str) -> dict[str, Any]:
    rendered = copy.deepcopy(document)
    rendered["metadata"]["namespace"] = namespace
    if rendered["kind"] != "Deployment":
        return rendered
    component = rendered["metadata"]["labels"]["app.kubernetes.io/component"]
    if component in ("web", "worker"):
        rendered["spec"]["replicas"] = replicas(settings, component)
    pod = rendered["spec"]["template"]["spec"]
    for container in pod["containers"]:
        if container["image"] == IMAGE_PLACEHOLDER:
            container["image"] = image
        for mount in container.get("volumeMounts", []):
            for key in ("mountPath", "subPath"):
                if key in mount:
                    mount[key] = mount[key].replace(ENVIRONMENT_PLACEHOLDER, settings.environment)
    if settings.app.data_source == "bigquery" and any(c["image"] == image for c in pod["containers"]):
        mount_service_account_key(pod, image)
    return rendered


def replicas(settings: Settings, component: str) -> int:
    """From environment config: `replicas` (web) and `worker_replicas`; production wants 2 web pods to fail over."""
    config = settings.environment_config
    return config.replicas if component == "web" else config.worker_replicas


def mount_service_account_key(pod: dict[str, Any], image: str) -> None:
    pod.setdefault("volumes", []).append(
        {"name": "google-credentials", "secret": {"secretName": SERVICE_ACCOUNT_SECRET}}
    )
    for container in pod["containers"]:
        if container["image"] == image:
            mount = {"name": "google-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}
            container.setdefault("volumeMounts", []).append(mount)


def as_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=BlockTextDumper, sort_keys=False)


def service_account_secret(settings: Settings, key: dict) -> str:
    """The Kubernetes Secret holding the key file, in the namespace of the settings' environment."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SERVICE_ACCOUNT_SECRET, "namespace": settings.kubernetes_namespace},
        "type": "Opaque",
        "data": {KEY_FILE.name: base64.b64encode(json.dumps(key, indent=2).encode()).decode()},
    }
    return yaml.safe_dump(secret, sort_keys=False)


def environment_config_maps(settings: Settings, names: Sequence[str]) -> str:
    """Every named environment's config file as a ConfigMap in its namespace; every file is checked first."""
    return as_yaml([environment_config_map(settings, name) for name in names])


def environment_config_map(settings: Settings, name: str) -> dict[str, Any]:
    path = environment_config_path(settings.root, name)
    if not path.is_file():
        raise ManifestError(f"there is no {path.relative_to(settings.root)} for environment {name}")
    there = settings.for_environment(name)  # which reads and checks the file: a clear error for one the app cannot use
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ENVIRONMENT_CONFIG_MAP, "namespace": there.kubernetes_namespace},
        "data": {path.name: path.read_text(encoding="utf-8")},
    }


class BlockTextDumper(yaml.SafeDumper):
    """Writes text of several lines as a block (`|`), so a file inside a manifest reads as the file does."""


BlockTextDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)
