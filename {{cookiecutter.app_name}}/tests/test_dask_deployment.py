"""Dask in the cluster: k8s/components/dask, the DaskCluster a retrain asks the Dask operator for, and the DaskJob of
`deploy predict-table`.

No cluster or operator runs here. The Kubernetes objects are checked with kubernetes-validate, the operator's objects
against the schemas its Helm chart installs (the CRDs, shipped in the dask-kubernetes package), strictly: a field they
do not know is an error, as kubectl's strict field validation makes it. The removal of a leftover cluster is checked
by the requests it sends to an API server standing in for the cluster's.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import dask_kubernetes
import jsonschema
import pytest
import yaml

from {{ cookiecutter.app_name }}.cli.deploy import deploy_command
from {{ cookiecutter.app_name }}.deploy.dask_objects import RETRAIN_CLUSTER, retrain_cluster
from {{ cookiecutter.app_name }}.deploy.manifests import as_yaml
from {{ cookiecutter.app_name }}.engines.dask_cluster import remove_leftover

from .support.data import APP_ROOT
from .support.kubernetes_api import kubernetes_api
from .test_deployment import IMAGE, Pod, cluster_settings, deployments, may_connect, rendered, validate

pytestmark = pytest.mark.unit
__all__ = ["cluster_settings"]  # a fixture of test_deployment.py's, used here too

CRDS = Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"
APP = "{{ cookiecutter.app_name | replace('_', '-') }}"
DASK_ACCESS = {("ServiceAccount", f"{APP}-worker"), ("Role", f"{APP}-dask"), ("RoleBinding", f"{APP}-dask"),
               ("NetworkPolicy", "dask")}  # fmt: skip


def on_engine(settings, engine: str, **environment_config):
    app = dataclasses.replace(settings.app, training_engine=engine)
    config = dataclasses.replace(settings.environment_config, **environment_config)
    return dataclasses.replace(settings, app=app, environment_config=config)


def set_training_engine(root: Path, engine: str) -> None:
    """Set training_engine in the app config file of `root`, as a user would."""
    app_config = root / "config" / "app_config.yml"
    config = yaml.safe_load(app_config.read_text())
    app_config.write_text(yaml.safe_dump({**config, "training_engine": engine}, sort_keys=False))


def operator_schema(kind: str) -> jsonschema.protocols.Validator:
    """The schema the operator's CRD gives `kind`, as the API server applies it with strict field validation."""
    crd = yaml.safe_load((CRDS / f"{kind.lower()}.yaml").read_text())
    [version] = crd["spec"]["versions"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"] |= {"apiVersion": {"const": f"{crd['spec']['group']}/{version['name']}"},
                             "kind": {"const": kind}, "metadata": {"type": "object"}}  # fmt: skip
    schema["required"] = [*schema.get("required", []), "apiVersion", "kind", "metadata"]
    return jsonschema.Draft202012Validator(schema)


def strict(schema: dict) -> dict:
    """An OpenAPI schema of a CRD as JSON Schema in which an object takes no field its properties do not list (unless
    the CRD preserves unknown fields), and int-or-string is either."""
    if schema.get("x-kubernetes-int-or-string"):
        return {"type": ["integer", "string"]}
    converted = {key: value for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    if "properties" in schema:
        converted["properties"] = {name: strict(property) for name, property in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            converted.setdefault("additionalProperties", False)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            converted[key] = strict(schema[key])
    return converted


def errors(kind: str, manifest: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in operator_schema(kind).iter_errors(manifest)]


@pytest.mark.parametrize("engine", ["dask", "auto"])
def test_an_environment_training_on_dask_gets_the_dask_component_which_kubernetes_validates(
    cluster_settings, engine, tmp_path
):
    objects = rendered(on_engine(cluster_settings, engine), "uat", image_tag="v7")

    checked = validate(as_yaml(objects), tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} >= DASK_ACCESS
    assert not any(o["kind"].startswith("Cluster") for o in objects)  # the worker's rights end at its namespace
    pods = {name: pod["spec"]["template"]["spec"] for name, pod in deployments(objects).items()}
    assert pods["worker"]["serviceAccountName"] == f"{APP}-worker"
    tokens = {name: pods[name]["automountServiceAccountToken"] for name in ("web", "worker", "redis")}
    assert tokens == {"web": False, "worker": True, "redis": False}  # only the worker calls the Kubernetes API
    [settings_map] = [o for o in objects if o["metadata"]["name"].startswith("app-settings")]
    assert settings_map["data"]["APP_IMAGE"] == f"{IMAGE}:v7"  # which the Dask pods run


def test_a_training_engine_set_back_to_local_removes_the_dask_component_at_the_next_apply(
    cluster_settings, kubectl, monkeypatch
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])

    def apply_with(engine: str) -> set[tuple[str, str]]:
        """`deploy apply` with this training_engine in app config: what the cluster then holds."""
        set_training_engine(cluster_settings.root, engine)
        assert deploy_command(["apply", "--environment", "uat", "--image-tag", "v7"]) == 0
        return {(kind, name) for kind, _, name in kubectl.cluster()}

    local = apply_with("local")
    assert not DASK_ACCESS & local
    assert apply_with("dask") >= DASK_ACCESS
    assert apply_with("local") == local  # the worker's rights and its token go with the component
    worker = deployments(kubectl.manifests())["worker"]["spec"]["template"]["spec"]
    assert worker["automountServiceAccountToken"] is False


def test_the_retrain_s_dask_cluster_validates_strictly_against_the_operator_s_schema(cluster_settings):
    settings = on_engine(cluster_settings.for_environment("uat"), "dask", dask_workers=3, dask_worker_memory_gb=6,
                         dask_worker_cpu=2)  # fmt: skip

    cluster = retrain_cluster(settings, f"{IMAGE}:v7")

    assert errors("DaskCluster", cluster) == []
    misspelt = {**cluster, "spec": {**cluster["spec"], "workers": cluster["spec"]["worker"]}}
    assert errors("DaskCluster", misspelt) == [
        "spec: Additional properties are not allowed ('workers' was unexpected)"
    ]  # the check is strict
    assert cluster["metadata"]["name"] == RETRAIN_CLUSTER
    worker = cluster["spec"]["worker"]
    assert worker["replicas"] == 3
    [container] = worker["spec"]["containers"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "6Gi"}, "limits": {"memory": "6Gi"}}
    assert container["args"][:7] == ["dask", "worker", "--nthreads", "2", "--memory-limit", "6GiB", "--local-directory"]
    for role in ("scheduler", "worker"):
        pod = cluster["spec"][role]["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
        assert {c["image"] for c in pod["containers"]} == {f"{IMAGE}:v7"}
        # the settings and BigQuery's key, to read partitions; not the app's API key or Redis's password
        assert [c["envFrom"] for c in pod["containers"]] == [[{"configMapRef": {"name": "app-settings"}}]]


def test_deploy_predict_table_creates_a_dask_job_the_operator_s_schema_takes(cluster_settings, kubectl, monkeypatch):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    set_training_engine(cluster_settings.root, "auto")
    arguments = ["--query", "SELECT * FROM sales WHERE year = 2026", "--output", "sales_2026_scored"]

    assert deploy_command(["predict-table", "--environment", "uat", "--image-tag", "v7", *arguments]) == 0

    [job] = kubectl.created()
    assert errors("DaskJob", job) == []
    assert job["metadata"]["namespace"] == f"{APP}-uat"
    [container] = job["spec"]["job"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE}:v7"
    assert container["args"] == ["python", "-m", "{{ cookiecutter.app_name }}", "predict-table", "--environment", "uat",
                                 *arguments]  # fmt: skip
    assert job["spec"]["cluster"]["spec"]["worker"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v7"


def test_deploy_predict_table_is_refused_where_the_environment_has_no_dask_access(cluster_settings, kubectl,
                                                                                   monkeypatch, capsys):  # fmt: skip
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])

    assert deploy_command(["predict-table", "--environment", "uat", "--image-tag", "v7"]) != 0

    assert "training_engine is local in config/app_config.yml" in capsys.readouterr().err
    assert kubectl.created() == []


def test_only_the_worker_predict_table_s_job_and_the_dask_pods_reach_the_dask_pods(cluster_settings, kubectl,
                                                                                    monkeypatch):  # fmt: skip
    settings = on_engine(cluster_settings, "dask")
    objects = rendered(settings, "uat")
    [namespace] = [o["metadata"] for o in objects if o["kind"] == "Namespace"]

    def pod(labels: dict) -> Pod:
        return Pod(namespace["name"], namespace["labels"], labels)

    app_pods = {name: pod(d["spec"]["template"]["metadata"]["labels"]) for name, d in deployments(objects).items()}
    cluster = retrain_cluster(settings.for_environment("uat"), f"{IMAGE}:v7")

    def dask_pod(role: str) -> Pod:
        """A pod of the retrain's DaskCluster, labelled as the operator labels it."""
        labels = cluster["spec"][role]["metadata"]["labels"]
        return pod({**labels, "dask.org/cluster-name": RETRAIN_CLUSTER, "dask.org/component": role})

    dask_pods = [dask_pod("scheduler"), dask_pod("worker")]
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    set_training_engine(settings.root, "dask")
    deploy_command(["predict-table", "--environment", "uat", "--image-tag", "v7"])
    job = pod(kubectl.created()[0]["spec"]["job"]["metadata"]["labels"])
    mlflow = [o for o in yaml.safe_load_all((APP_ROOT / "k8s" / "mlflow.yml").read_text()) if o is not None]
    tracking_server = next(o for o in mlflow if o["kind"] == "Deployment")["spec"]["template"]["metadata"]["labels"]
    registry = Pod("mlflow", {"kubernetes.io/metadata.name": "mlflow"}, tracking_server)
    policies = [o for o in objects + mlflow if o["kind"] == "NetworkPolicy"]
    stranger = pod({"app.kubernetes.io/name": "another-app"})
    operator = Pod("dask-operator", {"kubernetes.io/metadata.name": "dask-operator"}, {"app": "dask-operator"})

    for dask_pod in dask_pods:
        reach = {name for name, source in app_pods.items() if may_connect(policies, source, dask_pod, 8786)}
        assert reach == {"worker"}
        assert may_connect(policies, job, dask_pod, 8786)
        assert all(may_connect(policies, other, dask_pod, 12400) for other in dask_pods)  # LightGBM's own ports too
        assert may_connect(policies, operator, dask_pod, 8786)
        assert not may_connect(policies, stranger, dask_pod, 8786)
        assert not may_connect(policies, dask_pod, app_pods["redis"], 6379)
        assert not may_connect(policies, dask_pod, registry, 5000)  # the Dask pods never load a model
    assert may_connect(policies, job, registry, 5000)  # predict-table's job does: the champion


def test_a_retrain_first_deletes_the_dask_cluster_a_killed_retrain_left_and_waits_until_it_is_gone(
    tmp_path, monkeypatch
):
    namespace = f"{APP}-uat"
    path = f"/apis/kubernetes.dask.org/v1/namespaces/{namespace}/daskclusters/{RETRAIN_CLUSTER}"
    with kubernetes_api() as api:
        monkeypatch.setenv("KUBECONFIG", os.fspath(api.kubeconfig(tmp_path)))
        api.objects[path] = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
                             "metadata": {"name": RETRAIN_CLUSTER, "namespace": namespace}}  # fmt: skip

        assert remove_leftover(RETRAIN_CLUSTER, namespace) is True
        sent = [(method, where, body) for method, where, body in api.requests if where != "/version"]
        assert sent[:2] == [("GET", path, None), ("DELETE", path, {"propagationPolicy": "Foreground"})]
        assert [method for method, _, _ in sent[2:]] == ["GET", "GET"]  # still there while its pods go, then gone
        assert path not in api.objects

        api.requests.clear()
        assert remove_leftover(RETRAIN_CLUSTER, namespace) is False  # none left: only a look
        assert [method for method, where, _ in api.requests if where != "/version"] == ["GET"]
