"""The data store: each environment's training data, behind one small face.

    read() -> DataFrame, append(frame) -> rows added, count(), clone(to_environment), create(schema), drop(),
    head(rows), partitions(folder, rows_per_partition, query) -> readers of a partition each, for other processes,
    batches(rows, query) -> frames of at most `rows` rows, write_table(name, batches) -> rows written to the table
    table_beside(name) names

and its journals beside it (journal.py): what the served model predicted, and what the monitor found.

append() adds the same rows at most once: a second upload of a file, or a retry after a lost answer, is refused.

Backends: DuckDB (the embedded default) and BigQuery; which one is app config, not code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol

import pandas as pd

from ..config import Settings
from .journal import JOURNALS, entry, journal_frame
from .schema import (
    AlreadyAppendedError,
    DataStoreError,
    Schema,
    SchemaMismatchError,
    TableMissingError,
    UnreadableFileError,
    conform,
    infer_schema,
    parse_csv,
    read_csv,
)

__all__ = [
    "AlreadyAppendedError",
    "DataStore",
    "DataStoreError",
    "JOURNALS",
    "Journal",
    "Schema",
    "SchemaMismatchError",
    "TableMissingError",
    "UnreadableFileError",
    "conform",
    "entry",
    "infer_schema",
    "journal_frame",
    "open_journal",
    "open_datastore",
    "parse_csv",
    "read_csv",
]


class DataStore(Protocol):
    environment: str

    def schema(self) -> dict[str, str]: ...
    def create(self, schema: Schema) -> bool: ...
    def read(self) -> pd.DataFrame: ...
    def head(self, rows: int) -> pd.DataFrame: ...
    def partitions(
        self, folder: Path, rows_per_partition: int, query: str | None = None
    ) -> list[Callable[[], pd.DataFrame]]: ...
    def batches(self, rows: int, query: str | None = None) -> Iterator[pd.DataFrame]: ...
    def table_beside(self, name: str) -> str: ...
    def write_table(self, name: str, batches: Iterable[pd.DataFrame], marked_by: Sequence[str] = ()) -> int: ...
    def count(self) -> int: ...
    def append(self, frame: pd.DataFrame) -> int: ...
    def clone(self, to_environment: str) -> DataStore: ...
    def drop(self) -> bool: ...


class Journal(Protocol):
    def append(self, records: pd.DataFrame) -> int: ...
    def read(self, since: datetime | None = None, limit: int | None = None) -> pd.DataFrame: ...
    def delete_before(self, moment: datetime) -> int: ...


def open_datastore(settings: Settings, environment: str | None = None, backend: str | None = None) -> DataStore:
    """The data store of `environment` (default: the settings' environment) on `backend` (default: data_source)."""
    environment = environment or settings.environment
    backend = backend or settings.app.data_source
    required = [settings.app.target]
    if backend == "duckdb":
        from .duckdb_store import DuckDBStore

        table_name, time_formats = settings.app.table_name, settings.app.time_formats
        return DuckDBStore(settings.duckdb_path, table_name, environment, required, time_formats)
    if backend == "bigquery":
        from .bigquery_store import BigQueryStore, bigquery_client, read_client

        bigquery_config = settings.app.bigquery
        project, variables = bigquery_config.get("project", ""), settings.variables
        emulator, storage_emulator = variables.bigquery_api_endpoint, variables.bigquery_storage_api_endpoint
        connect = partial(bigquery_client, project, settings.root, emulator)
        connect_reader = partial(read_client, settings.root, storage_emulator)
        if emulator and not storage_emulator:
            connect_reader = None  # an emulator without a Storage Read API: read through its REST API
        return BigQueryStore(
            connect(),
            bigquery_config.get("dataset_name") or settings.app.model_name,
            settings.app.table_name,
            environment,
            required,
            time_formats=settings.app.time_formats,
            connect=connect,
            connect_reader=connect_reader,
        )
    raise DataStoreError(f"data_source {backend!r} has no backend; use duckdb or bigquery")


def open_journal(settings: Settings, kind: str, environment: str | None = None) -> Journal:
    """The journal of `kind` (predictions or monitoring) beside `environment`'s table, on the app's data source."""
    store = open_datastore(settings, environment)
    if settings.app.data_source == "bigquery":
        from .bigquery_store import BigQueryJournal

        return BigQueryJournal(store, kind)
    from .duckdb_store import DuckDBJournal

    return DuckDBJournal(settings.duckdb_path, settings.app.table_name, store.environment, kind)
