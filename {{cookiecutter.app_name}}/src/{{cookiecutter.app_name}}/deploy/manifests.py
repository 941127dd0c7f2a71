"""An environment's Kubernetes objects: its overlay of k8s/ built by kustomize, with what only a deploy knows.

k8s/base holds what every environment runs; k8s/overlays/<environment> puts it in the environment's namespace (a
challenger builds on the overlay of the environment it was copied from). A deploy adds, in a kustomization of its
own around that overlay: the image of the app version the environment runs, the replicas of its environment config,
the tracking server as the pods reach it, the ConfigMap of its environment config, Celery beat while app config has a
retrain_schedule or monitor_schedule, and Dask's access while its training_engine is dask or auto. `kubectl kustomize`
builds it; `deploy apply` applies it as one ApplySet, so that an object left out (beat, once the schedules are cleared)
is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config import APP_NAME, FixFirstError, Settings, environment_config_path, is_pull_request
from ..datastore.credentials import KEY_FILE
from .tools import kubectl

K8S = Path("k8s")
OVERLAYS = K8S / "overlays"
BEAT = K8S / "components" / "beat"
DASK = K8S / "components" / "dask"
APP_IMAGE = APP_NAME  # the image name in k8s/: each deploy sets the registry's and the tag
WEB = APP_NAME.replace("_", "-")  # the web Deployment, and the prefix of the worker's and beat's
SETTINGS_CONFIG_MAP = "app-settings"
ENVIRONMENT_CONFIG_MAP = "environment-config"  # config/environment_<name>.yml, set by set_environment_configs.py
SERVICE_ACCOUNT_SECRET = "bigquery-service-account-key"
SECRETS = "app-secrets"
SECRETS_DIGEST = "checksum/app-secrets"
APPLYSET = "configmaps/applyset"  # in each namespace: which objects `deploy apply` applied, so it can prune them
CLUSTER_TRACKING_URI = "CLUSTER_MLFLOW_TRACKING_URI"


class ManifestError(FixFirstError):
    """The manifests cannot be rendered; the message says what is missing."""


def render(settings: Settings, image_tag: str, copied_from: str | None = None) -> list[dict[str, Any]]:
    """Every object the environment of `settings` needs, namespace first, ready for `kubectl apply`. A challenger
    builds on the overlay of the environment it was `copied_from`."""
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
    overlay, image = overlay_folder(settings, copied_from), image_name(settings, image_tag)
    with tempfile.TemporaryDirectory(prefix="kustomization-") as scratch:
        folder = Path(scratch)
        kustomization = deploy_kustomization(settings, overlay, folder, image)
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8")
        built = kubectl("kustomize", str(folder))
    objects = [document for document in yaml.safe_load_all(built) if document]
    images = {container["image"] for pod in app_pods(objects) for container in pod["containers"]}
    if images != {image}:
        raise ManifestError(
            f"{overlay.relative_to(settings.root)} sets the app's image itself ({', '.join(sorted(images))}): the "
            f"deploy sets it, from the app version the environment runs. Leave image {APP_IMAGE} as k8s/base has it"
        )
    return objects


def overlay_folder(settings: Settings, copied_from: str | None) -> Path:
    """k8s/overlays/<environment>; for a challenger without one, that of the environment it was copied from."""
    name = settings.environment
    if not (settings.root / OVERLAYS / name).is_dir() and copied_from:
        name = copied_from
    folder = settings.root / OVERLAYS / name
    if not (folder / "kustomization.yaml").is_file():
        copied = f", copied from {name}," if name != settings.environment else ""
        raise ManifestError(
            f"there is no {folder.relative_to(settings.root)}/kustomization.yaml for environment "
            f"{settings.environment}{copied} so kustomize has nothing to build: copy another environment's overlay "
            "there and put its name where the other's is"
        )
    return folder


def deploy_kustomization(settings: Settings, overlay: Path, folder: Path, image: str) -> dict[str, Any]:
    """The kustomization a deploy builds in `folder`: the overlay, with what only the deploy knows."""
    environment, config = settings.environment, environment_config_path(settings.root, settings.environment)
    if not config.is_file():
        raise ManifestError(f"there is no {config.relative_to(settings.root)} for environment {environment}")
    settings.for_environment(environment)  # reads and checks the file: a clear error for one the app cannot use
    shutil.copy(config, folder / config.name)
    repository, tag = image.rsplit(":", 1)
    runs_dask = settings.app.training_engine in ("dask", "auto")
    wanted = {BEAT: (settings.app.runs_beat, "has no retrain_schedule or monitor_schedule"),
              DASK: (runs_dask, "has training_engine local")}  # fmt: skip
    added = []
    for component, (runs, reason) in wanted.items():
        listed = lists_component(overlay, component)
        if listed and not runs:
            raise ManifestError(
                f"{overlay.relative_to(settings.root)} lists {component}, but app config {reason}: remove it from its "
                "components (the deploy adds it while app config needs it)"
            )
        if runs and not listed:
            added.append(os.path.relpath(settings.root / component, folder))
    pods = settings.environment_config
    app_settings = [
        f"APP_ENVIRONMENT={environment}",
        f"MLFLOW_TRACKING_URI={cluster_tracking_uri(settings)}",
        # A local artifact folder means nothing in the cluster: there the tracking server keeps the artifacts.
        f"MLFLOW_ARTIFACT_ROOT={settings.variables.mlflow_artifact_root or 'mlflow-artifacts:/'}",
        f"APP_IMAGE={image}",  # which the Dask pods of a retrain run too
    ]
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": settings.kubernetes_namespace,
        "resources": [os.path.relpath(overlay, folder)],
        "components": added,
        "images": [{"name": APP_IMAGE, "newName": repository, "newTag": tag}],
        "replicas": [
            {"name": WEB, "count": pods.replicas},
            {"name": f"{WEB}-worker", "count": pods.worker_replicas},
        ],
        "configMapGenerator": [
            {"name": SETTINGS_CONFIG_MAP, "behavior": "merge", "literals": app_settings},
            {"name": ENVIRONMENT_CONFIG_MAP, "files": [config.name], "options": {"disableNameSuffixHash": True}},
        ],
        "patches": [environment_config_mount(config.name)],
    }


def environment_config_mount(file_name: str) -> dict[str, Any]:
    """The web and worker pods read their environment config from the ConfigMap, where the app looks for it: the
    first mount, as k8s/base has it (the `test` makes kustomize fail if it is not)."""
    mount = "/spec/template/spec/containers/0/volumeMounts/0"
    operations = [
        {"op": "test", "path": f"{mount}/name", "value": ENVIRONMENT_CONFIG_MAP},
        {"op": "replace", "path": f"{mount}/mountPath", "value": f"/app/config/{file_name}"},
        {"op": "replace", "path": f"{mount}/subPath", "value": file_name},
    ]
    return {
        "target": {"kind": "Deployment", "labelSelector": "app.kubernetes.io/component in (web,worker)"},
        "patch": yaml.safe_dump(operations, sort_keys=False),
    }


def lists_component(overlay: Path, component: Path) -> bool:
    """Whether the overlay itself lists the component (k8s/components/<name>)."""
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text(encoding="utf-8")) or {}
    return any(Path(listed).name == component.name for listed in kustomization.get("components") or [])


APP_COMPONENTS = ("web", "worker", "beat")  # the Deployments that run the app's image (Redis runs Valkey's)


def app_pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pod specs of the app's own Deployments, by their component label (a name prefix could match Redis's)."""
    return [
        o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") in APP_COMPONENTS
    ]


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
    does, and no other secret needs keeping. Redis requires it (k8s/base/celery_redis.yml)."""
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
    return {
        "MLFLOW_TRACKING_USERNAME": variables.mlflow_tracking_username,
        "MLFLOW_TRACKING_PASSWORD": variables.mlflow_tracking_password,
    }


def restarted_with(objects: list[dict[str, Any]], secret: dict[str, Any]) -> None:
    """Mark every pod with a digest of `secret`, so that a new API key (and with it a new Redis password) restarts
    Redis and every process that calls it together: env vars are read only when a container starts."""
    digest = hashlib.sha256(json.dumps(secret["stringData"], sort_keys=True).encode()).hexdigest()[:16]
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        deployment["spec"]["template"]["metadata"].setdefault("annotations", {})[SECRETS_DIGEST] = digest


def cluster_tracking_uri(settings: Settings) -> str:
    """The registry as the pods reach it, which may differ from how CD reaches it (in-cluster DNS vs a public URL)."""
    return settings.variables.cluster_mlflow_tracking_uri or settings.mlflow_tracking_uri


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
