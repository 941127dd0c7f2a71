"""The embedded default: one DuckDB file, one table per environment.

A DuckDB file can be open in only one process at a time, and the web app, the worker and the
CLI all use it, so every operation opens a connection, does its work and closes it at once,
retrying with jitter while another process holds the file.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd

from ..ml.row_hash import ROW_HASH_SCHEME, rows_key
from .journal import JOURNALS, journal_frame, journal_table, naive_utc
from .legacy_keys import carried_over, pandas_rows_key
from .schema import (
    AlreadyAppendedError,
    DataStoreError,
    Schema,
    SchemaMismatchError,
    TableMissingError,
    conform,
    refuse_unmarked,
)

DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
LOGICAL_TYPES = {
    **{duckdb_type: logical for logical, duckdb_type in DUCKDB_TYPES.items()},
    "INTEGER": "integer",
    "SMALLINT": "integer",
    "TINYINT": "integer",
    "HUGEINT": "integer",
    "FLOAT": "float",
    "REAL": "float",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
}
LOCK_WAIT_SECONDS = 30.0
APPENDS = "appended_rows"  # which rows each table has been given, so that the same rows are never added twice
OLD_KEY = 0  # the key_scheme of an append stored under pandas' row hash whose rows were not found to carry it over
WRITE_MEMORY_LIMIT = "256MB"  # DuckDB's cache while write_table writes (its default: 80 % of the machine's memory)
BEING_WRITTEN = "__being_written"  # the suffix of a table whose rows are still being written (write_table)
PARTITION = "partition_number"  # of an exported row: in the name of its file's folder, not in the file
JOURNAL_COLUMNS = "logged_at TIMESTAMP, model_version BIGINT, record VARCHAR"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@contextmanager
def connected(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the file, waiting with jitter while another process holds it (at most LOCK_WAIT_SECONDS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            connection = duckdb.connect(str(path))
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() > deadline:
                raise DataStoreError(
                    f"{path} stayed locked by another process for {LOCK_WAIT_SECONDS:.0f} s: {error}"
                ) from error
            time.sleep(random.uniform(0.01, 0.1))
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it raised."""
    connection.begin()
    try:
        yield
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


class DuckDBStore:
    def __init__(
        self,
        path: Path,
        table_name: str,
        environment: str,
        required: Iterable[str] = (),
        time_formats: Mapping[str, str] | None = None,
    ):
        self.path = Path(path)
        self.table_name = table_name
        self.environment = environment
        self.required = tuple(required)
        self.time_formats = dict(time_formats or {})  # the time column, and how its dates may be written
        self.table = f"{table_name}_{environment}"

    def __repr__(self) -> str:
        return f"DuckDB table {self.table} in {self.path}"

    def _schema(self, connection: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [self.table],
        ).fetchall()
        if not rows:
            return None
        return {name: LOGICAL_TYPES.get(data_type, "string") for name, data_type in rows}

    def _require_schema(self, connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
        schema = self._schema(connection)
        if schema is None:
            raise TableMissingError(
                f"table {self.table} does not exist in {self.path}. Load the first data, which creates it, with:\n"
                f"  python local/upload_data.py data/dataset_1.csv --environment {self.environment}\n"
                f"(or create it empty: python local/create_database.py --environment {self.environment})"
            )
        return schema

    def schema(self) -> dict[str, str]:
        with connected(self.path) as connection:
            return self._require_schema(connection)

    def create(self, schema: Schema) -> bool:
        """Create the table if it is missing; True if it was created."""
        columns = ", ".join(f"{quote(name)} {DUCKDB_TYPES[kind]}" for name, kind in schema.items())
        with connected(self.path) as connection:
            if self._schema(connection) is not None:
                return False
            connection.execute(f"CREATE TABLE {quote(self.table)} ({columns})")
            return True

    def read(self) -> pd.DataFrame:
        with connected(self.path) as connection:
            self._require_schema(connection)
            return connection.execute(f"SELECT * FROM {quote(self.table)}").df()

    def head(self, rows: int) -> pd.DataFrame:
        """Some of the table's rows (the first stored), typed as read() types them."""
        with connected(self.path) as connection:
            self._require_schema(connection)
            return connection.execute(f"SELECT * FROM {quote(self.table)} LIMIT ?", [rows]).df()

    def partitions(
        self, folder: Path, rows_per_partition: int, query: str | None = None
    ) -> list[Callable[[], pd.DataFrame]]:
        """The table (or a query's rows, in DuckDB's SQL over this file) as readers of a partition each, for other
        processes to call: the rows are written to Parquet files in `folder` (a folder per partition, in one pass),
        which the caller removes once they have been read."""
        with connected(self.path) as connection:
            source = self._source(connection, query)
            with self.queried(query):
                connection.execute(
                    f"COPY (SELECT *, (row_number() OVER () - 1) // {int(rows_per_partition)} AS {PARTITION} "
                    f"FROM ({source})) TO '{folder}' (FORMAT parquet, PARTITION_BY ({PARTITION}), OVERWRITE_OR_IGNORE)"
                )
        files = sorted(folder.glob(f"{PARTITION}=*/*.parquet"), key=lambda path: int(path.parent.name.split("=")[1]))
        return [partial(read_parquet_file, path) for path in files]

    def batches(self, rows: int, query: str | None = None) -> Iterator[pd.DataFrame]:
        """The table's rows (or a query's, in DuckDB's SQL over this file), at most `rows` at a time."""
        with connected(self.path) as connection:
            source = self._source(connection, query)
            with self.queried(query):
                result = connection.execute(source)
                while len(batch := result.fetch_df_chunk(max(1, rows // duckdb.__standard_vector_size__))):
                    yield batch

    def _source(self, connection: duckdb.DuckDBPyConnection, query: str | None) -> str:
        if query is None:
            self._require_schema(connection)
            return f"SELECT * FROM {quote(self.table)}"
        return query.strip().rstrip(";")

    @contextmanager
    def queried(self, query: str | None) -> Iterator[None]:
        try:
            yield
        except duckdb.Error as error:
            if query is None:
                raise
            raise DataStoreError(f"the query failed in {self.path}: {error}") from error

    def table_beside(self, name: str) -> str:
        """Table `name` in this file."""
        return name

    def write_table(self, name: str, batches: Iterable[pd.DataFrame], marked_by: Sequence[str] = ()) -> int:
        """Replace table `name` in this file by the batches' rows, all at once: a batch that fails leaves the table as
        it was. A table that exists is replaced only if it has the columns `marked_by` (the writer's own mark: no
        training table is ever overwritten). How many rows were written (none: no table is made).

        The rows go to a table of their own first, a batch per transaction, which takes the table's place once all
        are there: DuckDB keeps a transaction's rows in memory until it commits, so one transaction for all of them
        took memory in proportion to the table. And DuckDB would cache the written blocks up to most of the machine's
        memory: WRITE_MEMORY_LIMIT bounds it."""
        staging = f"{name}{BEING_WRITTEN}"
        with connected(self.path) as connection:
            connection.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
            found = connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE lower(table_name) = lower(?)", [name]
            ).fetchall()
            refuse_unmarked(f"table {name} in {self.path}", [column for (column,) in found], marked_by)
            connection.execute(f"DROP TABLE IF EXISTS {quote(staging)}")  # left by a run that was killed
            written = 0
            try:
                for batch in batches:
                    connection.register("written_rows", batch)
                    if written == 0:
                        connection.execute(f"CREATE TABLE {quote(staging)} AS SELECT * FROM written_rows")
                    else:
                        connection.execute(f"INSERT INTO {quote(staging)} BY NAME SELECT * FROM written_rows")
                    connection.unregister("written_rows")
                    written += len(batch)
                with transaction(connection):
                    if written:
                        connection.execute(f"DROP TABLE IF EXISTS {quote(name)}")
                        connection.execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(name)}")
            except BaseException:
                connection.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
                raise
        return written

    def count(self) -> int:
        with connected(self.path) as connection:
            self._require_schema(connection)
            return connection.execute(f"SELECT count(*) FROM {quote(self.table)}").fetchone()[0]

    def append(self, frame: pd.DataFrame) -> int:
        """Check the frame against the table, then add all its rows in one transaction, or none; AlreadyAppendedError
        if these very rows were added before."""
        with connected(self.path) as connection:
            schema = self._require_schema(connection)
            try:
                rows = conform(frame, schema, self.required, time_formats=self.time_formats)
            except SchemaMismatchError as error:
                raise SchemaMismatchError(f"{error} Nothing was added to {self.table}.") from error
            key = rows_key(rows)
            self._carry_over_old_keys(connection, schema)
            connection.begin()
            try:
                earlier = connection.execute(
                    f"SELECT row_count, appended_at FROM {APPENDS} WHERE table_name = ? "
                    "AND (digest = ? AND key_scheme = ? OR digest = ? AND key_scheme = ?)",
                    [self.table, key, ROW_HASH_SCHEME, pandas_rows_key(rows), OLD_KEY],
                ).fetchone()
                if earlier:
                    raise AlreadyAppendedError(
                        f"these {earlier[0]} rows were already added to {self.table} at {earlier[1]:%Y-%m-%d %H:%M} "
                        "UTC; nothing was added again"
                    )
                connection.register("incoming_rows", rows)
                connection.execute(f"INSERT INTO {quote(self.table)} BY NAME SELECT * FROM incoming_rows")
                connection.execute(
                    f"INSERT INTO {APPENDS} VALUES (?, ?, ?, now()::TIMESTAMP, ?)",
                    [self.table, key, len(rows), ROW_HASH_SCHEME],
                )
                connection.commit()
            except duckdb.Error as error:
                connection.rollback()
                raise SchemaMismatchError(f"the rows could not be added to {self.table}: {error}") from error
            except AlreadyAppendedError:
                connection.rollback()
                raise
            finally:
                with contextlib.suppress(duckdb.Error):
                    connection.unregister("incoming_rows")
        return len(rows)

    def _carry_over_old_keys(self, connection: duckdb.DuckDBPyConnection, schema: Schema) -> None:
        """Store this table's appends under the stable row key where an earlier release stored pandas' row hash (no
        key_scheme), in a transaction of its own. Runs once per table: an append whose rows are no longer found keeps
        its old key, marked so."""
        with transaction(connection):
            self._carry_over(connection, schema)

    def _carry_over(self, connection: duckdb.DuckDBPyConnection, schema: Schema) -> None:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {APPENDS} (table_name VARCHAR, digest VARCHAR, "
            "row_count BIGINT, appended_at TIMESTAMP)"
        )
        connection.execute(f"ALTER TABLE {APPENDS} ADD COLUMN IF NOT EXISTS key_scheme INTEGER")
        old = connection.execute(
            f"SELECT digest, row_count FROM {APPENDS} WHERE table_name = ? AND key_scheme IS NULL "
            "ORDER BY appended_at, rowid",
            [self.table],
        ).fetchall()
        if not old:
            return
        stored = connection.execute(f"SELECT * FROM {quote(self.table)}").df()  # in the order the rows were added
        carried = carried_over(conform(stored, schema, [], time_formats=self.time_formats), old)
        for old_key, _ in old:
            key, scheme = (carried[old_key], ROW_HASH_SCHEME) if old_key in carried else (old_key, OLD_KEY)
            connection.execute(
                f"UPDATE {APPENDS} SET digest = ?, key_scheme = ? WHERE table_name = ? AND digest = ? "
                "AND key_scheme IS NULL",
                [key, scheme, self.table, old_key],
            )

    def drop(self) -> bool:
        """Delete the table; False if there was none."""
        with connected(self.path) as connection:
            if self._schema(connection) is None:
                return False
            connection.execute(f"DROP TABLE {quote(self.table)}")
            for kind in JOURNALS:
                connection.execute(f"DROP TABLE IF EXISTS {quote(journal_table(self.table, kind))}")
            with contextlib.suppress(duckdb.CatalogException):  # no appends recorded yet
                connection.execute(f"DELETE FROM {APPENDS} WHERE table_name = ?", [self.table])
            return True

    def clone(self, to_environment: str) -> DuckDBStore:
        """A full, independent copy of this environment's table for another environment."""
        target = DuckDBStore(self.path, self.table_name, to_environment, self.required, self.time_formats)
        with connected(self.path) as connection:
            self._require_schema(connection)
            if target._schema(connection) is not None:
                raise DataStoreError(f"table {target.table} already exists; delete that environment first")
            connection.execute(f"CREATE TABLE {quote(target.table)} AS SELECT * FROM {quote(self.table)}")
        return target


def read_parquet_file(path: Path) -> pd.DataFrame:
    """A partition of a table, typed by DuckDB as the table's own rows are (read from Parquet by pandas, they were
    not: a row's values, and so its hash and holdout, must not depend on how it was read)."""
    with duckdb.connect() as connection:
        return connection.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(path)]).df()


class DuckDBJournal:
    """A table of timestamped records beside an environment's table: its predictions, or its monitoring results."""

    def __init__(self, path: Path, table_name: str, environment: str, kind: str):
        self.path = Path(path)
        self.table = journal_table(f"{table_name}_{environment}", kind)

    def __repr__(self) -> str:
        return f"DuckDB table {self.table} in {self.path}"

    def append(self, records: pd.DataFrame) -> int:
        """Add records (logged_at, model_version, record), all or none; the table is created by the first."""
        rows = journal_frame(records)
        with connected(self.path) as connection:
            connection.execute(f"CREATE TABLE IF NOT EXISTS {quote(self.table)} ({JOURNAL_COLUMNS})")
            connection.register("incoming_records", rows)
            try:
                connection.execute(
                    f"INSERT INTO {quote(self.table)} SELECT logged_at, model_version, record FROM incoming_records"
                )
            finally:
                connection.unregister("incoming_records")
        return len(rows)

    def read(self, since: datetime | None = None, limit: int | None = None) -> pd.DataFrame:
        """Records from `since` on (UTC), newest last; the newest `limit` of them if given."""
        query = f"SELECT * FROM {quote(self.table)} WHERE logged_at >= ? ORDER BY logged_at DESC"
        query += f" LIMIT {int(limit)}" if limit else ""
        with connected(self.path) as connection:
            try:
                found = connection.execute(query, [naive_utc(since)]).df()
            except duckdb.CatalogException:  # nothing recorded yet
                return journal_frame(None)
        return journal_frame(found.iloc[::-1])

    def delete_before(self, moment: datetime) -> int:
        """Forget records older than `moment` (UTC): the retention of a log."""
        with connected(self.path) as connection:
            try:
                return connection.execute(
                    f"DELETE FROM {quote(self.table)} WHERE logged_at < ?", [naive_utc(moment)]
                ).fetchone()[0]
            except duckdb.CatalogException:
                return 0
