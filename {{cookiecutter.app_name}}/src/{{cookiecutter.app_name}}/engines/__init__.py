"""Where a retrain's rows live while it trains: in the worker's own memory (local), or spread over a Dask cluster.

Both give the retrain (pipeline.py) the same face, a table of rows that it splits, trains on and scores:

    columns, rows, data_hash, rule_frame(settings), split(holdout) -> (training rows, held-out rows),
    train(settings, progress) -> TrainedModel, held_out_by(rules) -> (rows, hash), score(model, rules, ...), example()

`training_engine` in app config picks one; `auto` picks Dask when training the table in the worker would take more
memory than the worker has (environment config's worker_memory_gb).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .local import LocalTable, Rules, canonical_order, search_budget, train_challenger

__all__ = [
    "EngineChoice",
    "LocalTable",
    "Rules",
    "canonical_order",
    "choose_engine",
    "on_dask",
    "open_table",
    "search_budget",
    "train_challenger",
]

SAMPLE_ROWS = 10_000  # read to estimate what a row takes in memory
# What a local retrain's largest process holds: the libraries it imports, and a multiple of the table read into
# pandas (its canonical copy, the features matrix, LightGBM's datasets, the search's models). Measured by make
# benchmark-scale on generated rows of the demo's shape (127 bytes a row in pandas): a 2,973 MB peak at 1 million rows
# (19 times), 16,357 MB at 5 million (26 times), 19,727 MB at 10 million (15 times): the largest, so that the estimate
# errs towards Dask.
BASELINE_GB = 0.6
TRAINING_MEMORY_FACTOR = 26
GB = 2**30


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # local or dask
    reason: str


def choose_engine(settings: Settings, store) -> EngineChoice:
    configured = settings.app.training_engine
    if configured != "auto":
        return EngineChoice(configured, "training_engine in app config")
    rows = store.count()
    sample = store.head(SAMPLE_ROWS)
    row_bytes = sample.memory_usage(deep=True).sum() / max(1, len(sample))
    needed = BASELINE_GB + TRAINING_MEMORY_FACTOR * row_bytes * rows / GB
    limit = settings.environment_config.worker_memory_gb
    engine, relation = ("dask", "more than") if needed > limit else ("local", "within")
    return EngineChoice(
        engine,
        f"training_engine auto: training {rows:,} rows locally would take about {needed:.3g} GB, {relation} the "
        f"worker's {limit:g} GB (worker_memory_gb)",
    )


@contextmanager
def open_table(store, settings: Settings, engine: str) -> Iterator:
    """The store's table on `engine`, until the block ends; a Dask cluster started for it is stopped then."""
    if engine == "local":
        yield LocalTable(store.read())
        return
    from .dask_table import DaskTable

    with on_dask(settings) as (client, folder):
        yield DaskTable(store, folder, client, settings)


@contextmanager
def on_dask(settings: Settings) -> Iterator[tuple]:
    """A client of the Dask cluster the settings name (dask_cluster.py), and a folder for the partitions the workers
    read; the cluster, if started for the block, and the folder are gone when it ends."""
    from .dask_cluster import dask_client

    folder = tempfile.mkdtemp(prefix="partitions-", dir=settings.state_dir)
    try:
        with dask_client(settings) as client:
            yield client, Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
