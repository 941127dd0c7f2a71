"""The cloud backend: one BigQuery dataset per environment (`<dataset_name>_<environment>`), one table in each.

Rows are appended with load jobs, which add all of a file's rows or none; challengers get a copy of the table
made by a copy job. A whole table is read through the Storage Read API (Arrow streams, read in parallel: a Dask
worker reads one stream per partition). Set BIGQUERY_API_ENDPOINT (and BIGQUERY_STORAGE_API_ENDPOINT) to point the
clients at an emulator: they then use anonymous credentials and never call Google.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, bigquery_storage
from google.oauth2 import service_account

from ..ml.row_hash import ROW_HASH_SCHEME, rows_key
from .credentials import KEY_FILE, read_service_account_key
from .journal import journal_frame, journal_table, naive_utc
from .legacy_keys import pandas_rows_key
from .schema import (
    AlreadyAppendedError,
    DataStoreError,
    Schema,
    SchemaMismatchError,
    TableMissingError,
    conform,
    refuse_unmarked,
)

BIGQUERY_TYPES = {
    "string": "STRING",
    "integer": "INT64",
    "float": "FLOAT64",
    "boolean": "BOOL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
LOGICAL_TYPES = {
    "STRING": "string",
    "INT64": "integer",
    "INTEGER": "integer",
    "FLOAT64": "float",
    "FLOAT": "float",
    "NUMERIC": "float",
    "BIGNUMERIC": "float",
    "BOOL": "boolean",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DATETIME": "timestamp",
    "TIMESTAMP": "timestamp",
}
# What the app does with a table, and the predefined role that allows it.
ROLES = {
    "read": "roles/bigquery.dataViewer on the dataset and roles/bigquery.readSessionUser on the project",
    "count": "roles/bigquery.dataViewer on the dataset and roles/bigquery.jobUser on the project",
    "append": "roles/bigquery.dataEditor on the dataset and roles/bigquery.jobUser on the project",
    "create": "roles/bigquery.dataEditor on the project (to create datasets)",
    "clone": "roles/bigquery.dataEditor on both datasets and roles/bigquery.jobUser on the project",
    "drop": "roles/bigquery.dataOwner on the dataset",
    "write": "roles/bigquery.dataEditor on the dataset and roles/bigquery.jobUser on the project",
}
JOURNAL_SCHEMA = [
    bigquery.SchemaField("logged_at", "TIMESTAMP"),
    bigquery.SchemaField("model_version", "INT64"),
    bigquery.SchemaField("record", "STRING"),
]
LOAD_ATTEMPTS = 3  # loads of the same rows whose jobs failed before we give up


def bigquery_client(project: str, root: Path, emulator: str | None = None) -> bigquery.Client:
    """A client for `project`: on the `emulator` endpoint if given, else with the first credentials found.

    Credentials, in order: config/service_account_key.json when it holds a key, then Google's application default
    credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or the workload identity
    of the cluster).
    """
    if not project:
        raise DataStoreError("bigquery.project is empty in config/app_config.yml: set it to your Google Cloud project")
    if emulator:
        return bigquery.Client(
            project=project, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=emulator)
        )
    return bigquery.Client(project=project, credentials=key_file_credentials(root))


def read_client(root: Path, emulator: str | None = None) -> bigquery_storage.BigQueryReadClient:
    """A client of the Storage Read API: on the `emulator`'s gRPC endpoint (host:port) if given, else Google's, with
    the credentials bigquery_client() finds."""
    if emulator:
        import grpc

        # Unbounded messages, as Google's own channel has: a message is a batch of rows, many megabytes.
        channel = grpc.insecure_channel(emulator, options=[("grpc.max_receive_message_length", -1)])
        transport = bigquery_storage.BigQueryReadClient.get_transport_class("grpc")
        return bigquery_storage.BigQueryReadClient(transport=transport(channel=channel))
    return bigquery_storage.BigQueryReadClient(credentials=key_file_credentials(root))


def key_file_credentials(root: Path) -> service_account.Credentials | None:
    """The key in config/service_account_key.json, if it holds one; else None: Google's default credentials."""
    key_file = root / KEY_FILE
    if not (key_file.is_file() and key_file.read_text().strip()):
        return None
    read_service_account_key(key_file)  # says what is wrong with the file, if anything
    return service_account.Credentials.from_service_account_file(
        str(key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )


def dataset_id(dataset_name: str, environment: str) -> str:
    return f"{dataset_name}_{environment.replace('-', '_')}"  # dataset ids allow letters, digits and _ only


class BigQueryStore:
    def __init__(
        self,
        client: bigquery.Client,
        dataset_name: str,
        table_name: str,
        environment: str,
        required: Iterable[str] = (),
        time_formats: Mapping[str, str] | None = None,
        connect: Callable[[], bigquery.Client] | None = None,
        connect_reader: Callable[[], bigquery_storage.BigQueryReadClient] | None = None,
    ):
        self.client = client
        self.connect = connect  # a client like `client` in another process (picklable): to read partitions there
        # The Storage Read API's client (picklable likewise); None: read through the REST API (an emulator without it)
        self.connect_reader = connect_reader
        self.dataset_name = dataset_name
        self.table_name = table_name
        self.environment = environment
        self.required = tuple(required)
        self.time_formats = dict(time_formats or {})  # the time column, and how its dates may be written
        self.dataset = f"{client.project}.{dataset_id(dataset_name, environment)}"
        self.table = f"{self.dataset}.{table_name}"

    def __repr__(self) -> str:
        return f"BigQuery table {self.table}"

    @contextmanager
    def explained(self, action: str) -> Iterator[None]:
        """BigQuery's errors as what a person can do about them."""
        try:
            yield
        except exceptions.NotFound as error:
            option = f"--environment {self.environment}"
            raise TableMissingError(
                f"{self} does not exist ({error.message}). Load the first data, which creates it, with:\n"
                f"  python local/bigquery/upload_data_to_bigquery.py data/dataset_1.csv {option}\n"
                f"(or create it empty: python local/bigquery/create_database.py {option})"
            ) from error
        except exceptions.Forbidden as error:
            raise DataStoreError(
                f"permission denied to {action} {self} ({error.message}). The credentials in use need {ROLES[action]}."
            ) from error
        except exceptions.GoogleAPICallError as error:
            raise DataStoreError(f"BigQuery could not {action} {self}: {error.message}") from error

    def _table(self) -> bigquery.Table:
        with self.explained("read"):
            return self.client.get_table(self.table)

    def schema(self) -> dict[str, str]:
        return logical_schema(self._table().schema)

    def create(self, schema: Schema) -> bool:
        """Create the dataset and table if they are missing; True if the table was created."""
        fields = [bigquery.SchemaField(name, BIGQUERY_TYPES[kind]) for name, kind in schema.items()]
        with self.explained("create"):
            self.client.create_dataset(self.dataset, exists_ok=True)
            try:
                self.client.get_table(self.table)
                return False
            except exceptions.NotFound:
                self.client.create_table(bigquery.Table(self.table, schema=fields))
                return True

    def read(self) -> pd.DataFrame:
        table = self._table()
        with self.explained("read"):
            if self.connect_reader is None:
                return as_frame(self.client.list_rows(table).to_arrow(create_bqstorage_client=False))
            readers = self.stream_readers(table, streams=1)
            return pd.concat([read() for read in readers], ignore_index=True) if readers else self.head(0)

    def head(self, rows: int) -> pd.DataFrame:
        """Some of the table's rows, typed as read() types them (reading them costs nothing: no query)."""
        table = self._table()
        with self.explained("read"):
            return as_frame(self.client.list_rows(table, max_results=rows).to_arrow())

    def partitions(
        self, folder: Path, rows_per_partition: int, query: str | None = None
    ) -> list[Callable[[], pd.DataFrame]]:
        """The table (or a query's rows, in BigQuery's SQL) as readers for other processes to call, each connecting
        on its own: one per stream of a Storage Read API session (asked for a stream per `rows_per_partition` rows:
        BigQuery may give fewer), else one per range of rows. A query's rows are those of its results table, which
        BigQuery keeps for a day. (`folder` is not needed: the rows stay in BigQuery until they are read.)"""
        if self.connect is None:
            raise DataStoreError(f"{self} was opened without a way to connect from other processes")
        with self.explained("read"):
            if query is None:
                table = self._table()
            else:
                job = self.client.query(query)
                job.result()
                table = self.client.get_table(job.destination)
            if self.connect_reader is None:
                return [
                    partial(read_row_range, self.connect, str(table.reference), start, rows_per_partition)
                    for start in range(0, table.num_rows, rows_per_partition)
                ]
            return self.stream_readers(table, streams=max(1, math.ceil(table.num_rows / rows_per_partition)))

    def stream_readers(self, table: bigquery.Table, streams: int) -> list[Callable[[], pd.DataFrame]]:
        """A Storage Read API session on `table`, asked for `streams` streams (BigQuery may give fewer, and none
        for an empty table), as a reader per stream."""
        session = self.connect_reader().create_read_session(
            parent=f"projects/{self.client.project}",
            read_session=bigquery_storage.types.ReadSession(
                table=f"projects/{table.project}/datasets/{table.dataset_id}/tables/{table.table_id}",
                data_format=bigquery_storage.types.DataFormat.ARROW,
            ),
            max_stream_count=streams,
        )
        schema = session.arrow_schema.serialized_schema
        return [partial(read_stream, self.connect_reader, stream.name, schema) for stream in session.streams]

    def batches(self, rows: int, query: str | None = None) -> Iterator[pd.DataFrame]:
        """The table's rows (or a query's, in BigQuery's SQL), at most `rows` at a time."""
        with self.explained("read"):
            if query is None:
                found = self.client.list_rows(self._table(), page_size=rows)
            else:
                found = self.client.query_and_wait(query, page_size=rows)
            for page in found.to_arrow_iterable():
                yield as_frame(pa.Table.from_batches([page]))

    def table_beside(self, name: str) -> str:
        """Table `name` in the environment's dataset, unless it names a dataset itself."""
        return name if "." in name else f"{self.dataset}.{name}"

    def write_table(self, name: str, batches: Iterable[pd.DataFrame], marked_by: Sequence[str] = ()) -> int:
        """Replace table_beside(`name`) by the batches' rows, with one load job: a batch that fails leaves the table
        as it was (the rows wait in a local Parquet file meanwhile). A table that exists is replaced only if it has
        the columns `marked_by` (the writer's own mark: no training table is ever overwritten). How many rows were
        written (none: no table is made)."""
        with self.explained("write"):
            try:
                found = [field.name for field in self.client.get_table(self.table_beside(name)).schema]
            except exceptions.NotFound:
                found = []
        refuse_unmarked(f"table {self.table_beside(name)}", found, marked_by)
        written, writer = 0, None
        with tempfile.TemporaryDirectory(prefix="rows-") as folder:
            path = Path(folder) / "rows.parquet"
            for batch in batches:
                rows = pa.Table.from_pandas(batch, preserve_index=False)
                writer = writer or pq.ParquetWriter(path, rows.schema)
                writer.write_table(rows.cast(writer.schema))
                written += len(batch)
            if writer is None:
                return 0
            writer.close()
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            )
            with self.explained("write"), path.open("rb") as file:
                self.client.load_table_from_file(file, self.table_beside(name), job_config=config).result()
        return written

    def count(self) -> int:
        with self.explained("count"):
            return next(iter(self.client.query_and_wait(f"SELECT COUNT(*) FROM `{self.table}`")))[0]

    def append(self, frame: pd.DataFrame) -> int:
        """Check the frame against the table, then add all its rows with one load job, or none."""
        table = self._table()
        try:
            rows = conform(frame, logical_schema(table.schema), self.required, time_formats=self.time_formats)
        except SchemaMismatchError as error:
            raise SchemaMismatchError(f"{error} Nothing was added to {self}.") from error
        parquet = io.BytesIO()
        pq.write_table(as_arrow(rows, table.schema), parquet)
        parquet.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=table.schema,
        )
        # The load job's id comes from the rows: if an earlier load of them committed (even one whose wait failed, so
        # that its caller saw an error and tried again), BigQuery refuses the id and nothing is added twice.
        job_id = f"append_{table.dataset_id}_{table.table_id}_k{ROW_HASH_SCHEME}_{rows_key(rows)}"
        with self.explained("append"):
            old_job_id = f"append_{table.dataset_id}_{table.table_id}_{pandas_rows_key(rows)}"
            self._refuse_loaded_under_old_key(rows, old_job_id)
            for attempt in range(1, LOAD_ATTEMPTS + 1):
                try:
                    job = self.client.load_table_from_file(
                        parquet, table, job_config=config, job_id=f"{job_id}_{attempt}"
                    )
                    break
                except exceptions.Conflict:
                    earlier = self.client.get_job(f"{job_id}_{attempt}")
                    if earlier.done() and earlier.error_result:
                        parquet.seek(0)
                        continue  # that load failed and added nothing: try again under the next id
                    earlier.result()
                    raise AlreadyAppendedError(
                        f"these {len(rows)} rows were already added to {self} (load job {earlier.job_id}); nothing was "
                        "added again"
                    ) from None
            else:
                raise DataStoreError(f"{LOAD_ATTEMPTS} loads of these rows into {self} failed; see their load jobs")
            try:
                job.result()
            except exceptions.BadRequest as error:
                raise SchemaMismatchError(f"BigQuery refused the rows ({error.message}); nothing was added") from error
        return len(rows)

    def _refuse_loaded_under_old_key(self, rows: pd.DataFrame, old_job_id: str) -> None:
        """AlreadyAppendedError if an earlier release loaded these rows, under the job id it made from pandas' row
        hash. Load jobs cannot be renamed, so their keys are carried over by looking them up (BigQuery lists a
        project's jobs for 180 days)."""
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            try:
                earlier = self.client.get_job(f"{old_job_id}_{attempt}")
            except exceptions.NotFound:
                return
            if earlier.done() and not earlier.error_result:
                raise AlreadyAppendedError(
                    f"these {len(rows)} rows were already added to {self} (load job {earlier.job_id}); nothing was "
                    "added again"
                )

    def drop(self) -> bool:
        """Delete the environment's dataset and its table; False if there was none."""
        with self.explained("drop"):
            try:
                self.client.get_dataset(self.dataset)
            except exceptions.NotFound:
                return False
            self.client.delete_dataset(self.dataset, delete_contents=True)
            return True

    def clone(self, to_environment: str) -> BigQueryStore:
        """A full, independent copy of this environment's table in another environment's dataset."""
        target = BigQueryStore(
            self.client,
            self.dataset_name,
            self.table_name,
            to_environment,
            self.required,
            self.time_formats,
            self.connect,
            self.connect_reader,
        )
        source = self._table()
        with self.explained("clone"):
            self.client.create_dataset(target.dataset, exists_ok=True)
            try:
                self.client.get_table(target.table)
            except exceptions.NotFound:
                self.client.copy_table(source, target.table).result()
                return target
        raise DataStoreError(f"{target} already exists; delete that environment first")


def logical_schema(fields: list[bigquery.SchemaField]) -> dict[str, str]:
    """A table's columns with the logical types every backend shares."""
    return {field.name: LOGICAL_TYPES.get(field.field_type, "string") for field in fields}


def as_arrow(rows: pd.DataFrame, schema: list[bigquery.SchemaField]) -> pa.Table:
    """Conformed rows as Arrow columns of the table's types, so the load job never guesses one."""
    arrow_types = {
        "string": pa.string(),
        "integer": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    columns = {}
    for name, logical_type in logical_schema(schema).items():
        values = rows[name]
        if logical_type == "timestamp":  # naive times are UTC; pandas 4 will not hand its zone-aware ones to Arrow
            naive = values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values
            column = pa.array(naive.to_numpy(), type=pa.timestamp("us"), from_pandas=True)
            columns[name] = column.cast(arrow_types["timestamp"])
            continue
        columns[name] = pa.array(values, type=arrow_types[logical_type], from_pandas=True)
    return pa.table(columns)


def read_stream(
    connect_reader: Callable[[], bigquery_storage.BigQueryReadClient], stream: str, schema: bytes
) -> pd.DataFrame:
    """Every row of one stream of a Storage Read API session, as read() types them: each message is a serialized
    Arrow record batch of the session's `schema`."""
    arrow_schema = pa.ipc.read_schema(pa.py_buffer(schema))
    batches = [
        pa.ipc.read_record_batch(pa.py_buffer(message.arrow_record_batch.serialized_record_batch), arrow_schema)
        for message in connect_reader().read_rows(stream)
    ]
    return as_frame(pa.Table.from_batches(batches, schema=arrow_schema))


def read_row_range(connect: Callable[[], bigquery.Client], table: str, start: int, rows: int) -> pd.DataFrame:
    """`rows` rows of `table` from the `start`-th on, as read() types them."""
    client = connect()
    return as_frame(client.list_rows(client.get_table(table), start_index=start, max_results=rows).to_arrow())


def as_frame(rows: pa.Table) -> pd.DataFrame:
    """Arrow rows with the dtypes the DuckDB backend returns: nullable integers and booleans, naive datetimes."""
    columns = []
    for column in rows.columns:
        if pa.types.is_date(column.type):
            column = column.cast(pa.timestamp("us"))
        elif pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        columns.append(column)
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return pa.table(columns, names=rows.column_names).to_pandas(types_mapper=nullable.get)


class BigQueryJournal:
    """A table of timestamped records in an environment's dataset: its predictions, or its monitoring results.

    Records arrive in batches (the worker drains the web processes' predictions every few minutes), each one load
    job: BigQuery allows 1,500 per table per day, and a load adds all of a batch or none of it."""

    def __init__(self, store: BigQueryStore, kind: str):
        self.store = store
        self.client = store.client
        self.table = journal_table(store.table, kind)

    def __repr__(self) -> str:
        return f"BigQuery table {self.table}"

    def append(self, records: pd.DataFrame) -> int:
        rows = journal_frame(records)
        parquet = io.BytesIO()
        pq.write_table(as_arrow(rows, JOURNAL_SCHEMA), parquet)
        parquet.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            schema=JOURNAL_SCHEMA,
        )
        with self.store.explained("append"):
            self.client.create_dataset(self.store.dataset, exists_ok=True)
            self.client.load_table_from_file(parquet, self.table, job_config=config).result()
        return len(rows)

    def read(self, since: datetime | None = None, limit: int | None = None) -> pd.DataFrame:
        """Records from `since` on (UTC), newest last; the newest `limit` of them if given."""
        query = f"SELECT * FROM `{self.table}` WHERE logged_at >= @since ORDER BY logged_at DESC"
        query += f" LIMIT {int(limit)}" if limit else ""
        parameters = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", naive_utc(since))]
        try:
            with self.store.explained("read"):
                found = self.client.query_and_wait(
                    query, job_config=bigquery.QueryJobConfig(query_parameters=parameters)
                )
                rows = as_frame(found.to_arrow())
        except TableMissingError:  # nothing recorded yet
            return journal_frame(None)
        return journal_frame(rows.iloc[::-1])

    def delete_before(self, moment: datetime) -> int:
        """Forget records older than `moment` (UTC): the retention of a log."""
        parameters = [bigquery.ScalarQueryParameter("moment", "TIMESTAMP", naive_utc(moment))]
        try:
            with self.store.explained("append"):
                job = self.client.query(
                    f"DELETE FROM `{self.table}` WHERE logged_at < @moment",
                    job_config=bigquery.QueryJobConfig(query_parameters=parameters),
                )
                job.result()
        except TableMissingError:
            return 0
        return job.num_dml_affected_rows or 0
