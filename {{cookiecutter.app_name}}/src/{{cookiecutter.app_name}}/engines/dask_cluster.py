"""The Dask cluster a retrain on `training_engine: dask` runs on, for that retrain alone.

DASK_SCHEDULER_ADDRESS names a running cluster; otherwise the retrain starts worker processes of its own beside it, as
many as environment config's dask_workers, and stops them when it ends, however it ends (a killed retrain's workers
end with it: each watches the process that started it).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..config import APP_NAME, FixFirstError, Settings

CONNECT_SECONDS = 60


@contextmanager
def dask_client(settings: Settings) -> Iterator:
    from distributed import Client, LocalCluster

    address = settings.variables.dask_scheduler_address
    if address:
        with Client(address, timeout=CONNECT_SECONDS) as client:
            check_workers_import_the_app(client, f"the workers of the Dask cluster at {address}")
            yield client
        return
    config = settings.environment_config
    with (
        LocalCluster(
            n_workers=config.dask_workers,
            threads_per_worker=max(1, (os.cpu_count() or 1) // config.dask_workers),
            processes=True,
            memory_limit=f"{config.dask_worker_memory_gb}GiB",
            dashboard_address=None,
            silence_logs=logging.ERROR,  # not each shuffle's start and end,
        ) as cluster,
        Client(cluster) as client,
    ):
        check_workers_import_the_app(client, "the Dask workers started for this retrain")
        yield client


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
