"""The Dask operator's objects for an environment: the DaskCluster a retrain runs on, and the DaskJob of predict-table.

The Dask Kubernetes operator (installed once per cluster, with its Helm chart) turns a DaskCluster into a scheduler
and workers, and a DaskJob into a cluster and a pod that uses it, deleted when the pod ends. Every pod here runs the
app's image, locked down as the app's own pods are (k8s/base), and gets only what its work needs: the Dask pods read
partitions of the table, so they get the settings and BigQuery's key, not the app's secrets. k8s/components/dask lets
the worker ask for a cluster and lets only the app's pods and the Dask pods reach them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from dask_kubernetes.operator import make_cluster_spec

from ..config import APP_NAME, Settings
from .manifests import SECRETS, SERVICE_ACCOUNT_SECRET, SETTINGS_CONFIG_MAP, WEB

DASK_API = "kubernetes.dask.org/v1"
RETRAIN_CLUSTER = f"{WEB}-retrain"  # one per environment (its namespace): a retrain removes one a killed retrain left
PREDICT_TABLE = "predict-table"  # the component label of predict-table's pod, which k8s/components/dask lets in
KEY_FOLDER = "/var/secrets/google"  # where app-settings' GOOGLE_APPLICATION_CREDENTIALS points
SCHEDULER_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}


def retrain_cluster(settings: Settings, image: str) -> dict[str, Any]:
    """The DaskCluster of the environment's retrain: environment config's dask_workers workers, each requesting
    dask_worker_cpu and dask_worker_memory_gb (and using as many threads, and that memory, before it spills)."""
    config = settings.environment_config
    memory = f"{config.dask_worker_memory_gb:g}Gi"
    cluster = make_cluster_spec(
        RETRAIN_CLUSTER,
        image=image,
        n_workers=config.dask_workers,
        resources={"requests": {"cpu": f"{config.dask_worker_cpu:g}", "memory": memory}, "limits": {"memory": memory}},
        worker_command=["dask", "worker", "--nthreads", str(max(1, round(config.dask_worker_cpu))),
                        "--memory-limit", f"{config.dask_worker_memory_gb:g}GiB", "--local-directory", "/tmp"],
    )  # fmt: skip
    spec = cluster["spec"]
    spec["scheduler"]["spec"]["containers"][0].update(args=["dask", "scheduler", "--host", "0.0.0.0"],
                                                      resources=SCHEDULER_RESOURCES)  # fmt: skip
    for role, spill in (("scheduler", "64Mi"), ("worker", f"{2 * config.dask_worker_memory_gb:g}Gi")):
        spec[role]["metadata"] = {"labels": {"app.kubernetes.io/name": WEB, "app.kubernetes.io/component": "dask"}}
        spec[role]["spec"] = locked_down(spec[role]["spec"], tmp_size=spill)
    return cluster


def predict_table_job(settings: Settings, image: str, name: str, arguments: Sequence[str]) -> dict[str, Any]:
    """A DaskJob that runs `predict-table --environment <environment> ARGUMENTS` on a cluster of its own, shaped as
    the retrain's; the operator gives the job's pod the scheduler's address (DASK_SCHEDULER_ADDRESS)."""
    cluster = retrain_cluster(settings, image)
    command = ["python", "-m", APP_NAME, "predict-table", "--environment", settings.environment, *arguments]
    job = {"containers": [{"name": "job", "image": image, "args": command,
                           "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}],
           "restartPolicy": "Never"}  # fmt: skip
    job_pod = locked_down(job, tmp_size="2Gi")
    job_pod["containers"][0]["envFrom"].append({"secretRef": {"name": SECRETS}})  # the registry's sign-in
    return {
        "apiVersion": DASK_API,
        "kind": "DaskJob",
        "metadata": {"name": name, "namespace": settings.kubernetes_namespace},
        "spec": {
            "job": {
                "metadata": {"labels": {"app.kubernetes.io/name": WEB, "app.kubernetes.io/component": PREDICT_TABLE}},
                "spec": job_pod,
            },
            "cluster": {"spec": cluster["spec"]},
        },
    }


def locked_down(pod: dict[str, Any], tmp_size: str) -> dict[str, Any]:
    """`pod` as k8s/base runs the app's pods: no token, not root, a read-only root with /tmp its only place to write,
    the settings, and BigQuery's key."""
    pod = copy.deepcopy(pod)
    for container in pod["containers"]:
        container.pop("env", None)  # make_cluster_spec's, empty: the settings come from app-settings
        container["envFrom"] = [{"configMapRef": {"name": SETTINGS_CONFIG_MAP}}]
        container["volumeMounts"] = [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "google-credentials", "mountPath": KEY_FOLDER, "readOnly": True},
        ]
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
    pod["automountServiceAccountToken"] = False
    pod["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod["volumes"] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": tmp_size}},
        {"name": "google-credentials", "secret": {"secretName": SERVICE_ACCOUNT_SECRET}},
    ]
    return pod
