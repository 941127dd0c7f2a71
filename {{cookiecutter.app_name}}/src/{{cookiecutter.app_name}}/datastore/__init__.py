"""The data store: each environment's training data, behind one small face.

    read() -> DataFrame, append(frame) -> rows added, count(), clone(to_environment), create(schema)

Backends: DuckDB (the embedded default) and BigQuery; which one is app config, not code.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from ..config import Settings
from .schema import (
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
    "DataStore",
    "DataStoreError",
    "SchemaMismatchError",
    "TableMissingError",
    "UnreadableFileError",
    "conform",
    "infer_schema",
    "open_datastore",
    "parse_csv",
    "read_csv",
]


class DataStore(Protocol):
    environment: str

    def schema(self) -> dict[str, str]: ...
    def create(self, schema: Schema) -> bool: ...
    def read(self) -> pd.DataFrame: ...
    def count(self) -> int: ...
    def append(self, frame: pd.DataFrame) -> int: ...
    def clone(self, to_environment: str) -> DataStore: ...


def open_datastore(settings: Settings, environment: str | None = None) -> DataStore:
    """The data store of `environment` (default: the settings' environment) on the configured backend."""
    environment = environment or settings.environment
    if settings.app.data_source == "duckdb":
        from .duckdb_store import DuckDBStore

        return DuckDBStore(settings.duckdb_path, settings.app.table_name, environment, required=[settings.app.target])
    raise DataStoreError(
        f"data_source {settings.app.data_source!r} has no backend in this version of the app; "
        "set data_source: duckdb in config/app_config.yml"
    )
