"""Measure the BigQuery data store against the plain client doing the same work on the same data.

    python local/bigquery/benchmark_bigquery.py [--read-rows 1000000] [--append-rows 100000] [--runs 3]
read(): the whole table into a DataFrame, against `list_rows(...).to_arrow().to_pandas()`. append(): the rows
checked and loaded with one load job, against `load_table_from_dataframe(...)` of the same, already typed, rows.
Runs on the emulator of BIGQUERY_API_ENDPOINT, or starts one (it needs Python 3.13), in datasets of its own.
"""

import argparse
import dataclasses
import os
import tempfile
import time
import uuid
import warnings
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
from google.cloud import bigquery

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, open_datastore, read_csv
from {{ cookiecutter.app_name }}.laptop.bigquery_emulator import bigquery_emulator, python_3_13


def best_of(runs: int, work, before=lambda: None) -> float:
    timings = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def demo_rows(rows: int) -> pd.DataFrame:
    """`rows` rows drawn from the demo data, typed as the table types them, each with its own id."""
    demo = pd.concat([read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")], ignore_index=True)
    typed = conform(demo, infer_schema(demo))
    sample = typed.sample(rows, replace=True, random_state=0, ignore_index=True)
    return sample.assign(Transaction_Id=[f"TX{i:09d}" for i in range(rows)]) if "Transaction_Id" in sample else sample


def main() -> None:
    warnings.filterwarnings("ignore", message="Loading pandas DataFrame into BigQuery")  # the client's own notice
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--read-rows", type=int, default=1_000_000)
    parser.add_argument("--append-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with ExitStack() as stack:
        if not os.environ.get("BIGQUERY_API_ENDPOINT"):
            python = python_3_13()
            if python is None:
                raise SystemExit("set BIGQUERY_API_ENDPOINT, or install Python 3.13 so the emulator can start")
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            os.environ.update(stack.enter_context(bigquery_emulator(python, folder)).variables)
        loaded = load_settings("integration")
        bigquery_config = {"project": "benchmark", "dataset_name": f"benchmark_{uuid.uuid4().hex[:8]}"}
        settings = dataclasses.replace(
            loaded, app=dataclasses.replace(loaded.app, data_source="bigquery", bigquery=bigquery_config)
        )
        big, small = demo_rows(args.read_rows), demo_rows(args.append_rows)
        schema = infer_schema(read_csv("data/dataset_1.csv"))
        store = open_datastore(settings, environment="read")
        store.create(schema)
        store.append(big)
        client = store.client

        ours = best_of(args.runs, store.read)
        raw = best_of(
            args.runs, lambda: client.list_rows(store.table).to_arrow(create_bqstorage_client=False).to_pandas()
        )
        print(f"read {args.read_rows:,} rows: read() {ours:.2f} s, list_rows().to_arrow().to_pandas() {raw:.2f} s "
              f"(overhead {ours / raw - 1:+.0%})")  # fmt: skip

        # Each append goes into a fresh, empty table, so every run loads the same rows into the same state.
        tables = iter(open_datastore(settings, environment=f"append-{n}") for n in range(2 * args.runs))
        current = {}

        def fresh_table() -> None:
            current["store"] = next(tables)
            current["store"].create(schema)

        def raw_load() -> None:
            table = client.get_table(current["store"].table)
            config = bigquery.LoadJobConfig(
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND, schema=table.schema
            )
            client.load_table_from_dataframe(small, table, job_config=config).result()

        ours = best_of(args.runs, lambda: current["store"].append(small), before=fresh_table)
        raw = best_of(args.runs, raw_load, before=fresh_table)
        print(f"append {args.append_rows:,} rows: append() {ours:.2f} s, load_table_from_dataframe() {raw:.2f} s "
              f"(overhead {ours / raw - 1:+.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
