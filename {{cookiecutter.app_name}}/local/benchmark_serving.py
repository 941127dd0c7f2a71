"""Measure serving: a 100k-row CSV through POST /predict under uWSGI against the same work in-process, and
single-row JSON latency and throughput at 32 concurrent clients, new connections and keep-alive ones.

    python local/benchmark_serving.py [--rows 100000] [--clients 32] [--seconds 10]
Works in a temporary environment of its own (it trains a model on the demo data first). The load comes from this
machine, a new connection per request: from wrk when it is installed (apt/brew install wrk), which leaves the
cores to the app, otherwise from a Python client, which takes a share of them and so reports somewhat slower.
"""

import argparse
import asyncio
import dataclasses
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, open_datastore, parse_csv, read_csv
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.ml import predict_table
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import open_registry
from {{ cookiecutter.app_name }}.web.api.uploads import model_input, predictions_csv

API_KEY = "benchmark-key"
WRK_SCRIPT = """
local body = io.open(os.getenv("BENCHMARK_BODY")); wrk.body = body:read("*a"); body:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCHMARK_KEY")
"""


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


def load_with_wrk(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, float, float]:
    """requests/s, p50 and p99 in ms, from wrk."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "body.json").write_bytes(body)
        (Path(folder) / "post.lua").write_text(WRK_SCRIPT)
        report = subprocess.run(
            ["wrk", "--threads", "2", "--connections", str(clients), "--duration", f"{seconds:g}s", "--latency",
             "--script", str(Path(folder) / "post.lua"), f"http://127.0.0.1:{port}/predict"],
            env={**os.environ, "BENCHMARK_BODY": str(Path(folder) / "body.json"), "BENCHMARK_KEY": API_KEY},
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    if failed:
        raise RuntimeError(f"{failed.group(1)} requests failed:\n{report}")

    def latency_ms(percentile: str) -> float:
        number, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)$", report, re.MULTILINE).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests_per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))
    return requests_per_second, latency_ms("50"), latency_ms("99")


async def load_with_python(
    port: int, body: bytes, clients: int, seconds: float, keep_alive: bool = False
) -> tuple[float, float, float]:
    """requests/s, p50 and p99 in ms, from `clients` asyncio connections that never pause. With `keep_alive`, each
    client sends its next request on the same connection until the server says it will close it, as
    requests.Session and most proxies do; a request that fails on a reused connection counts as a failure."""
    close = "" if keep_alive else "Connection: close\r\n"
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n{close}\r\n"
    ).encode() + body
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def response_of(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        """The response's status line and whether the server keeps the connection open."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        await reader.readexactly(length)
        return head.split(b"\r\n", 1)[0], not re.search(rb"(?im)^connection:\s*close", head)

    async def client() -> None:
        connection = None
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if connection is None:
                connection = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = connection
            writer.write(request)
            try:
                status, open_after = await response_of(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                raise RuntimeError(f"a request failed: the server closed the connection ({error!r})") from None
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"a request failed: {status!r}")
            if not (keep_alive and open_after):
                writer.close()
                connection = None
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def load_single_rows(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, float, float]:
    if shutil.which("wrk"):
        return load_with_wrk(port, body, clients, seconds)
    return asyncio.run(load_with_python(port, body, clients, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
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

            # As a JSON client sends it: numbers as numbers, dates as ISO text.
            typed = conform(rows.head(1), schema, ignore_extra=True)
            record = json.dumps({"records": json.loads(typed.to_json(orient="records", date_format="iso"))}).encode()
            load_single_rows(port, record, args.clients, seconds=2)  # warm every web process
            requests_per_second, p50, p99 = load_single_rows(port, record, args.clients, args.seconds)
            generator = "wrk" if shutil.which("wrk") else "a Python client (install wrk to leave the cores to the app)"
            print(f"single row, {args.clients} clients from {generator}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                  f"{requests_per_second:.0f} requests/s ({settings.app.processes} processes x "
                  f"{settings.app.threads} threads)")  # fmt: skip
            requests_per_second, p50, p99 = asyncio.run(
                load_with_python(port, record, args.clients, args.seconds, keep_alive=True)
            )
            print(f"single row, {args.clients} keep-alive clients (Python, a connection reused until the app "
                  f"closes it): p50 {p50:.1f} ms, p99 {p99:.1f} ms, {requests_per_second:.0f} requests/s, "
                  "none failed")  # fmt: skip


if __name__ == "__main__":
    main()
