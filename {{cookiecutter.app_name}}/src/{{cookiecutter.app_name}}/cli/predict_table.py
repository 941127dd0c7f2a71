"""`python -m {{ cookiecutter.app_name }} predict-table`: score a whole table with the champion."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..config import load_settings
from .command import EXIT_OK, CommandParser, prog, run


def predict_table_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("predict-table"),
        description="Score every row of the environment's table (or of a query) with the model it serves, a batch at "
        "a time, into a table of row_id (the id_column, else the row's hash), predicted_<target>, the class "
        "probabilities of a classifier, and model_version. The table is replaced in one step. With training_engine: "
        "dask in app config, Dask workers read and score the rows.",
    )
    parser.add_argument("--query", help="score this query's rows (the data source's SQL) instead of the table")
    parser.add_argument(
        "--output", help="the table to write, beside the environment's table (default: <table>_<environment>_scored)"
    )

    def command(args: argparse.Namespace) -> int:
        from ..batch_scoring import score_table
        from ..registry import open_registry

        settings = load_settings(args.environment)
        scored = score_table(settings, open_registry(settings), query=args.query, output=args.output)
        print(
            f"Scored {scored.rows:,} rows with v{scored.model_version} of [{settings.environment}] into "
            f"{scored.table} in {scored.seconds:.1f} s ({scored.engine})"
        )
        return EXIT_OK

    return run(command, parser, argv)
