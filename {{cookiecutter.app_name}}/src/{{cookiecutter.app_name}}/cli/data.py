"""The data commands behind local/create_database.py and local/upload_data.py (and their BigQuery twins).

They start in a second: they import neither training nor the registry.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from ..config import load_settings
from ..datastore import DataStoreError, infer_schema, open_datastore, read_csv
from .command import EXIT_OK, CommandParser, run

DEFAULT_CSV = "data/dataset_1.csv"  # the first period of the demo data


def create_database_command(argv: Sequence[str] | None = None, backend: str | None = None) -> int:
    """Create the environment's table on `backend` (default: the app's data_source)."""
    parser = CommandParser(description="Create the environment's table (if missing) with a CSV's columns.")
    parser.add_argument(
        "--schema-from",
        default=None,
        help=f"CSV whose columns and types the table takes (default: the schema in app config, else {DEFAULT_CSV})",
    )

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        store = open_datastore(settings, backend=backend)
        configured = settings.app.schema
        if args.schema_from or not configured:
            source = args.schema_from or DEFAULT_CSV
            schema = infer_schema(read_csv(source))
        else:
            source, schema = "schema in config/app_config.yml", configured
        if settings.app.target not in schema:
            raise DataStoreError(f"the {source} has no target column {settings.app.target!r}: {list(schema)}")
        if store.create(schema):
            print(f"Created {store} with columns:")
            print(tabulate(schema.items(), headers=["column", "type"]))
        else:
            print(f"Found {store} ({store.count()} rows); left it as it is.")
        return EXIT_OK

    return run(command, parser, argv)


def upload_data_command(argv: Sequence[str] | None = None, backend: str | None = None) -> int:
    """Append a CSV to the environment's table on `backend` (default: the app's data_source)."""
    parser = CommandParser(description="Check a CSV against the environment's table and append all its rows, or none.")
    parser.add_argument(
        "csv",
        type=Path,
        nargs="?",
        default=Path(DEFAULT_CSV),
        help=f"CSV with the table's columns (default {DEFAULT_CSV})",
    )

    def command(args: argparse.Namespace) -> int:
        store = open_datastore(load_settings(args.environment), backend=backend)
        rows = read_csv(args.csv)
        before = store.count()
        added = store.append(rows)
        print(f"Appended {added} rows from {args.csv} to {store}: {before} -> {store.count()} rows.")
        return EXIT_OK

    return run(command, parser, argv)
