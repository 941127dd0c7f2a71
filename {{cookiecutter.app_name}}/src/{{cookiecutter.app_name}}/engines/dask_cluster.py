"""The Dask cluster a retrain on `training_engine: dask` runs on, for that retrain alone.

DASK_SCHEDULER_ADDRESS names a running cluster. Otherwise the retrain starts one of its own, as many workers as
environment config's dask_workers, and stops it when it ends, however it ends:
- in Kubernetes (the deploy sets APP_IMAGE), a DaskCluster that the Dask operator runs in the environment's namespace,
  deleted when the retrain ends; one a killed retrain left behind is deleted before the next one starts;
- elsewhere, worker processes beside the retrain (a killed retrain's end with it: each watches the process that
  started it).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..config import APP_NAME, FixFirstError, Settings

CONNECT_SECONDS = 60
CLUSTER_START_SECONDS = 600  # pods may wait for a node to be added
LEFTOVER_DELETE_SECONDS = 120


@contextmanager
def dask_client(settings: Settings) -> Iterator:
    from distributed import Client

    address = settings.variables.dask_scheduler_address
    if address:
        with Client(address, timeout=CONNECT_SECONDS) as client:
            check_workers_import_the_app(client, f"the workers of the Dask cluster at {address}")
            yield client
        return
    with retrain_cluster(settings) as cluster, Client(cluster, timeout=CONNECT_SECONDS) as client:
        check_workers_import_the_app(client, "the Dask workers started for this retrain")
        yield client


def retrain_cluster(settings: Settings):
    """The retrain's own cluster, to use in a `with` block."""
    if settings.variables.app_image:
        return operator_cluster(settings, settings.variables.app_image)
    from distributed import LocalCluster

    config = settings.environment_config
    return LocalCluster(
        n_workers=config.dask_workers,
        threads_per_worker=max(1, (os.cpu_count() or 1) // config.dask_workers),
        processes=True,
        memory_limit=f"{config.dask_worker_memory_gb}GiB",
        dashboard_address=None,
        silence_logs=logging.ERROR,  # not each shuffle's start and end
    )


@contextmanager
def operator_cluster(settings: Settings, image: str) -> Iterator:
    """The environment's DaskCluster, from the Dask operator, deleted when the block ends."""
    from dask_kubernetes.operator import KubeCluster
    from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode

    from ..deploy import dask_objects

    namespace = settings.kubernetes_namespace
    remove_leftover(dask_objects.RETRAIN_CLUSTER, namespace)
    with KubeCluster(
        custom_cluster_spec=dask_objects.retrain_cluster(settings, image),
        namespace=namespace,
        create_mode=CreateMode.CREATE_ONLY,  # never a leftover's workers, which may run another app version
        shutdown_on_close=True,
        resource_timeout=CLUSTER_START_SECONDS,
        quiet=True,
    ) as cluster:
        yield cluster


def remove_leftover(name: str, namespace: str) -> bool:
    """Delete the DaskCluster `name` if a retrain killed before it could left it, and wait until it is gone (its
    pods with it); whether there was one."""
    from kr8s.objects import new_class

    leftover = new_class("DaskCluster", "kubernetes.dask.org/v1", namespaced=True)(name, namespace=namespace)
    if not leftover.exists():
        return False
    logging.getLogger(__name__).warning("Deleting Dask cluster %s, which an earlier retrain left", name)
    leftover.delete(propagation_policy="Foreground")
    deadline = time.monotonic() + LEFTOVER_DELETE_SECONDS
    while leftover.exists():
        if time.monotonic() > deadline:
            raise DaskClusterError(
                f"the Dask cluster {name} that an earlier retrain left in namespace {namespace} was not deleted within "
                f"{LEFTOVER_DELETE_SECONDS} s: see `kubectl describe daskcluster {name} --namespace {namespace}`"
            )
        time.sleep(1)
    return True


class DaskClusterError(FixFirstError):
    """The Dask cluster cannot run the retrain; the message says why."""


def check_workers_import_the_app(client, workers: str) -> None:
    """Refuse a cluster whose workers cannot import the app: Dask would wait for ever on work they cannot read."""
    try:
        client.run(importlib.import_module, f"{APP_NAME}.engines.dask_table")
    except ImportError as error:
        raise DaskClusterError(
            f"{workers} cannot import the app ({error}): they must run this app's image, at this app version"
        ) from error
