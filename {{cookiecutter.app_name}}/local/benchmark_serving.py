"""Measure serving: a 100k-row CSV through POST /predict under uWSGI against the same work in-process, and
single-row latency and throughput at 32 concurrent clients.

    python local/benchmark_serving.py [--rows 100000] [--clients 32] [--requests 4000]
Works in a temporary environment of its own (it trains a model on the demo data first); the load comes from
this process, on the same machine as the app, with a new connection per request.
"""

import argparse
import dataclasses
import http.client
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from {{ cookiecutter.app_name }}.api.uploads import model_input, predictions_csv
from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import infer_schema, open_datastore, parse_csv, read_csv
from {{ cookiecutter.app_name }}.embedded_redis import free_port
from {{ cookiecutter.app_name }}.local_stack import local_stack
from {{ cookiecutter.app_name }}.ml import predict_table
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.registry import open_registry

API_KEY = "benchmark-key"


def fresh_settings(state: Path):
    return dataclasses.replace(load_settings("integration").with_state_dir(state), api_key=API_KEY)


def best_of(runs: int, work) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type, "X-API-Key": API_KEY})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def multipart(csv: bytes) -> tuple[bytes, str]:
    boundary = "benchmarkboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = fresh_settings(Path(folder))
        target = settings.app.target
        data = pd.concat([read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")], ignore_index=True)
        store = open_datastore(settings)
        store.create(infer_schema(data))
        store.append(data)
        version = retrain(settings=settings).serving_version
        registry = open_registry(settings)
        model, schema = registry.load(version), registry.version(version).input_schema
        rows = data.drop(columns=[target]).sample(args.rows, replace=True, random_state=0)
        csv = rows.to_csv(index=False).encode()
        print(f"model v{version}; {args.rows} rows = {len(csv) / 1e6:.1f} MB of CSV")

        def in_process() -> bytes:
            uploaded = parse_csv(csv)
            return predictions_csv(uploaded, predict_table(model, model_input(uploaded, schema), target))

        local_seconds = best_of(3, in_process)
        with local_stack(settings, free_port()) as stack:
            port = int(stack.url.rsplit(":", 1)[1])
            body, content_type = multipart(csv)
            post(port, "/predict", body, content_type)  # warm every code path once
            served_seconds = best_of(3, lambda: post(port, "/predict", body, content_type))
            print(f"batch: in-process {local_seconds:.2f} s, POST /predict under uWSGI {served_seconds:.2f} s "
                  f"({served_seconds / local_seconds:.2f}x)")  # fmt: skip

            record = json.dumps({"records": rows.head(1).to_dict(orient="records")}).encode()

            def one_request(_) -> float:
                started = time.perf_counter()
                status, _ = post(port, "/predict", record, "application/json")
                assert status == 200, status
                return time.perf_counter() - started

            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(one_request, range(args.clients * 4)))  # warm up every worker thread
                started = time.perf_counter()
                latencies = sorted(pool.map(one_request, range(args.requests)))
                elapsed = time.perf_counter() - started
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
            print(f"single row, {args.clients} clients: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"{args.requests / elapsed:.0f} requests/s ({settings.app.processes} processes x "
                  f"{settings.app.threads} threads)")  # fmt: skip


if __name__ == "__main__":
    main()
