"""`python -m {{ cookiecutter.app_name }} data create | upload`: the commands behind local/create_database.py and
local/upload_data.py (and their BigQuery twins).

`data create` starts in a second: it imports neither training nor the registry. `data upload` loads labelled rows
the one way /train does (labelled_rows.py), which scores the champion on them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from ..config import Settings, load_settings
from ..datastore import (
    DataStore,
    DataStoreError,
    Schema,
    SchemaMismatchError,
    TableMissingError,
    conform,
    infer_schema,
    open_datastore,
    read_csv,
)
from .command import EXIT_OK, CommandParser, prog, run

DEFAULT_CSV = "data/dataset_1.csv"  # the first period of the demo data


def table_schema(settings: Settings, source: str | None, rows: pd.DataFrame | None = None) -> tuple[Schema, str]:
    """The columns and types a new table takes, and where they come from: a CSV when one is named (or `rows`, read
    from `source`), else the schema in app config, else DEFAULT_CSV. DataStoreError if they lack the target."""
    if source is None and settings.app.schema:
        schema, described = dict(settings.app.schema), "the schema in config/app_config.yml"
    else:
        source = source or DEFAULT_CSV
        rows = rows if rows is not None else read_csv(source)
        schema, described = infer_schema(rows, settings.app.time_formats), f"the columns of {source}"
    if settings.app.target not in schema:
        raise DataStoreError(
            f"{described} hold no target column {settings.app.target!r}: {list(schema)}. The table needs it: "
            "choose a CSV that has it (--schema-from), or fix schema or target in config/app_config.yml"
        )
    return schema, described


def app_datastore(settings: Settings, made_for: str | None) -> DataStore:
    """The environment's store on the app's data_source. A script made for one backend (local/bigquery/*) stops,
    saying so, when the app is configured for another: which backend is in use is config's to say."""
    if made_for is not None and settings.app.data_source != made_for:
        raise DataStoreError(
            f"this script is for data_source {made_for}, but config/app_config.yml has data_source "
            f"{settings.app.data_source}: run local/create_database.py or local/upload_data.py, which follow "
            f"data_source, or set data_source: {made_for}. Nothing was created or added."
        )
    return open_datastore(settings)


def print_created(store: DataStore, schema: Schema, described: str) -> None:
    print(f"Created {store} with {described}:")
    print(tabulate(schema.items(), headers=["column", "type"]))


CREATE = "Create the environment's table (if missing) with a CSV's columns."
UPLOAD = (
    "Check a CSV against the environment's table and append all its rows, or none. "
    "With no table yet, create it first: with the schema in app config, else with the CSV's columns."
)


def create_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--schema-from",
        default=None,
        help=f"CSV whose columns and types the table takes (default: the schema in app config, else {DEFAULT_CSV})",
    )


def upload_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "csv",
        type=Path,
        nargs="?",
        default=Path(DEFAULT_CSV),
        help=f"CSV with the table's columns (default {DEFAULT_CSV})",
    )


def data_command(argv: Sequence[str] | None = None) -> int:
    """`data create` and `data upload`, on the app's data_source."""
    parser = CommandParser(prog=prog("data"), description="The environment's table: create it, or append a CSV.")
    actions = parser.actions(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create the table (if missing) with a CSV's columns", description=CREATE)
    create_arguments(create)
    create.set_defaults(handler=create_database)
    upload = actions.add_parser(
        "upload", help="check a CSV against the table and append all its rows", description=UPLOAD
    )
    upload_arguments(upload)
    upload.set_defaults(handler=upload_data)
    return run(lambda args: args.handler(args), parser, argv)


def create_database_command(argv: Sequence[str] | None = None, made_for: str | None = None) -> int:
    """local/create_database.py (and local/bigquery/create_database.py, `made_for` bigquery, which checks it)."""
    parser = CommandParser(description=CREATE)
    create_arguments(parser)
    return run(partial(create_database, made_for=made_for), parser, argv)


def upload_data_command(argv: Sequence[str] | None = None, made_for: str | None = None) -> int:
    """local/upload_data.py (and local/bigquery/upload_data_to_bigquery.py, `made_for` bigquery, which checks it)."""
    parser = CommandParser(description=UPLOAD)
    upload_arguments(parser)
    return run(partial(upload_data, made_for=made_for), parser, argv)


def create_database(args: argparse.Namespace, made_for: str | None = None) -> int:
    settings = load_settings(args.environment)
    store = app_datastore(settings, made_for)
    schema, described = table_schema(settings, args.schema_from)
    if store.create(schema):
        print_created(store, schema, described)
    else:
        print(f"Found {store} ({store.count()} rows); left it as it is.")
    return EXIT_OK


def upload_data(args: argparse.Namespace, made_for: str | None = None) -> int:
    """Load the CSV's labelled rows as POST /train does (the champion scored on them, a retrain queued when retrain_when
    says so and a worker's queue is reachable), creating the table first if there is none."""
    from ..labelled_rows import load_labelled_rows, reachable_queue, registry_champion, require_target
    from ..registry import open_registry

    settings = load_settings(args.environment)
    store = app_datastore(settings, made_for)
    rows = read_csv(args.csv)
    require_target(rows, settings.app.target, args.csv.name)
    try:
        before = store.count()
    except TableMissingError:
        before = None
    created = False
    if before is None:
        schema, described = table_schema(settings, None if settings.app.schema else str(args.csv), rows)
        # Check every row before creating anything: a file that does not fit leaves no empty table behind.
        try:
            conform(rows, schema, required=[settings.app.target], time_formats=settings.app.time_formats)
        except SchemaMismatchError as error:
            raise SchemaMismatchError(f"{error} Nothing was created or added.") from error
        created = store.create(schema)  # False: another process created it meanwhile; append as to any table
        if created:
            print_created(store, schema, described)
        before = store.count()
    registry = open_registry(settings)
    queue, no_queue = reachable_queue(settings)
    try:
        loaded = load_labelled_rows(
            settings, store, registry, rows, args.csv.name, registry_champion(settings, registry), queue, no_queue
        )
    except DataStoreError:
        if created:
            store.drop()  # whole or not at all: no table without the rows it was made for
        raise
    print(f"Appended {loaded.rows_added} rows from {args.csv} to {store}: {before} -> {store.count()} rows.")
    if loaded.ignored_columns:
        print(f"Left out the columns the table does not have: {loaded.ignored_columns}")
    if loaded.champion_version is not None:
        print(
            f"The champion (v{loaded.champion_version}) scores {settings.app.score_type} "
            f"{loaded.champion_score:.4f} on these rows, which it never saw (kept for the monitor)."
        )
    if loaded.job_id:
        joined = "queued" if loaded.newly_queued else "joined the waiting"
        print(f"Retrain {loaded.job_id} {joined} (trigger: {loaded.trigger}).")
    else:
        print(f"{loaded.message[0].upper()}{loaded.message[1:]}.")
    return EXIT_OK
