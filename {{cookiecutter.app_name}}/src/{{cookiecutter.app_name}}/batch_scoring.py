"""`predict-table`: score a whole table with an environment's champion, a batch of rows at a time.

The rows are the environment's table, or a query's; what is written is a table of `row_id` (the id_column when app
config names one, else the row's hash), `predicted_<target>`, each class's probability for a classifier, and
`model_version`. It replaces the output table in one step: a failure leaves the table as it was.

On one node the memory stays that of a batch; with training_engine: dask (or a scheduler in DASK_SCHEDULER_ADDRESS, as
the DaskJob of `deploy predict-table` gives) the batches are partitions, read and scored by the Dask workers, and only
the predictions travel back to be written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import FixFirstError, Settings
from .datastore import SchemaMismatchError, conform, open_datastore
from .ml.prediction import predict_table, prediction_columns, used_columns
from .ml.row_hash import row_hashes

BATCH_ROWS = 100_000  # rows read, scored and written at a time: 13 MB of the demo's rows in pandas (127 bytes a row)


class BatchScoringError(FixFirstError):
    """The table cannot be scored as asked; the message says why, and nothing was written."""


@dataclass(frozen=True)
class Scorer:
    """What turns a batch of rows into the rows of the output table (picklable: Dask workers run it too)."""

    model: object
    input_schema: dict[str, str]
    target: str
    id_column: str | None
    model_version: int
    time_formats: dict[str, str]
    output_names: dict[str, str]  # prediction column -> its name in the output table

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        try:
            features = conform(rows, self.input_schema, ignore_extra=True, time_formats=self.time_formats)
        except SchemaMismatchError as error:
            raise BatchScoringError(f"the rows to score do not fit the model: {error}") from error
        predictions = predict_table(self.model, features, self.target).rename(columns=self.output_names)
        predictions.insert(0, "row_id", self.row_ids(rows))
        predictions["model_version"] = np.int64(self.model_version)
        return predictions.reset_index(drop=True)

    def row_ids(self, rows: pd.DataFrame) -> pd.Series:
        if self.id_column:
            if self.id_column not in rows.columns:
                raise BatchScoringError(
                    f"id_column {self.id_column!r} (app config) is not among the rows' columns {list(rows.columns)}"
                )
            return rows[self.id_column].reset_index(drop=True)
        # The hash the holdout gives the row (every column but the target, by name): the held-out rows can be found.
        columns = sorted(column for column in rows.columns if column != self.target)
        return pd.Series([f"{value:016x}" for value in row_hashes(rows, columns)], dtype="string")


@dataclass(frozen=True)
class ScoredTable:
    table: str
    rows: int
    model_version: int
    engine: str
    seconds: float


def score_table(settings: Settings, registry, query: str | None = None, output: str | None = None) -> ScoredTable:
    """Score the environment's table (or `query`'s rows) with its champion into `output` (default:
    `<table>_<environment>_scored`, beside the environment's table)."""
    started = time.monotonic()
    store = open_datastore(settings)
    environment = settings.environment
    output = output or f"{settings.app.table_name}_{environment.replace('-', '_')}_scored"
    version = registry.champion_version(environment)
    if version is None:
        raise BatchScoringError(f"no model serves {environment} yet: retrain first, then score the table")
    scorer = champion_scorer(settings, registry, version)
    on_dask = settings.app.training_engine == "dask" or settings.variables.dask_scheduler_address
    engine = "dask" if on_dask else "local"
    with ExitStack() as stack:
        if engine == "dask":
            batches = stack.enter_context(scored_on_dask(store, settings, scorer, query))
        else:
            batches = map(scorer, store.batches(BATCH_ROWS, query))
        rows = store.write_table(output, batches, marked_by=("row_id", "model_version"))
    if rows == 0:
        raise BatchScoringError(f"{'the query' if query else store} returned no rows to score; nothing was written")
    return ScoredTable(store.table_beside(output), rows, version, engine, time.monotonic() - started)


def champion_scorer(settings: Settings, registry, version: int) -> Scorer:
    model, registered = registry.load(version), registry.version(version)
    target = settings.app.target
    return Scorer(
        model=model,
        input_schema={column: registered.input_schema[column] for column in used_columns(model)},
        target=target,
        id_column=settings.app.id_column,
        model_version=version,
        time_formats=dict(settings.app.time_formats),
        output_names=column_names(prediction_columns(model, target)),
    )


def column_names(columns: Iterable[str]) -> dict[str, str]:
    """Each column as a name every backend takes (BigQuery's: letters, digits and underscores), kept apart: class
    names such as "Postage & Delivery" become probability_Postage_Delivery."""
    names: dict[str, str] = {}
    for column in columns:
        name = re.sub(r"\W+", "_", column, flags=re.ASCII).strip("_") or "column"
        unique, number = name, 2
        while unique.lower() in {taken.lower() for taken in names.values()}:
            unique, number = f"{name}_{number}", number + 1
        names[column] = unique
    return names


@contextmanager
def scored_on_dask(store, settings: Settings, scorer: Scorer, query: str | None) -> Iterator[Iterator[pd.DataFrame]]:
    """The rows' partitions, each read and scored by a Dask worker, as they arrive; the cluster is the one a retrain
    on Dask would use, stopped when the block ends."""
    from distributed import as_completed

    from .engines import on_dask

    with on_dask(settings) as (client, folder):
        readers = store.partitions(folder, BATCH_ROWS, query)
        on_workers = client.scatter(scorer, broadcast=True)
        # Each partition's predictions are let go on the workers once they are here: no list keeps them all.
        completed = as_completed(client.map(read_and_score, readers, scorer=on_workers))
        yield (future.result() for future in completed)


def read_and_score(reader: Callable[[], pd.DataFrame], scorer: Scorer) -> pd.DataFrame:
    return scorer(reader())
