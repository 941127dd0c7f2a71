"""Measure serving of the models `make demo` makes (v1 on the first load, v2 on both): the app's single-row JSON at
1, 8 and 32 connections and a 100k-row CSV (also against the same work in-process), then v2 against MLflow's own
model server, with keep-alive clients, and with the prediction log on and off (prediction_sample_rate 1 and 0).

    python local/benchmark_serving.py [--rows 100000] [--connections 1 8 32] [--seconds 10] [--log-runs 3]
Works in a temporary environment of its own: it trains the models on the demo data, then starts the app as a deployment
runs it (uWSGI) and `mlflow models serve` in a venv of the model's requirements.txt (uv makes it the first time), each
with as many processes as app config's `processes`. The load comes from this machine, a new connection per request:
from wrk when it is installed (apt/brew install wrk), which leaves the cores to the servers, otherwise from a Python
client, which takes a share of them.
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

import mlflow
import pandas as pd

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, open_datastore, parse_csv, read_csv
from {{ cookiecutter.app_name }}.laptop.mlflow_model_server import mlflow_model_server
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


@dataclasses.dataclass(frozen=True)
class Server:
    """Where a server predicts, and one row and the CSV as it wants them."""

    name: str
    port: int
    path: str
    one_row: bytes  # JSON
    csv_body: bytes
    csv_type: str


def load_with_wrk(server: Server, clients: int, seconds: float) -> tuple[float, float, float]:
    """requests/s, p50 and p99 in ms, from wrk."""
    return wrk_figures(wrk_report(server, clients, seconds))


def wrk_report(server: Server, clients: int, seconds: float) -> str:
    """What wrk printed for `clients` connections posting one row for `seconds`; an error if any request failed."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "body.json").write_bytes(server.one_row)
        (Path(folder) / "post.lua").write_text(WRK_SCRIPT)
        threads = min(2, clients)  # wrk refuses more threads than connections
        report = subprocess.run(
            ["wrk", "--threads", str(threads), "--connections", str(clients), "--duration", f"{seconds:g}s",
             "--latency", "--script", str(Path(folder) / "post.lua"), f"http://127.0.0.1:{server.port}{server.path}"],
            env={**os.environ, "BENCHMARK_BODY": str(Path(folder) / "body.json"), "BENCHMARK_KEY": API_KEY},
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    if failed:
        raise RuntimeError(f"{failed.group(1)} requests failed:\n{report}")
    return report


def wrk_figures(report: str) -> tuple[float, float, float]:
    """requests/s, p50 and p99 in ms, from what wrk printed."""

    def latency_ms(percentile: str) -> float:
        found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)  # wrk pads "1.00s "
        if not found:
            raise RuntimeError(f"wrk reported no {percentile}th percentile:\n{report}")
        number, unit = found.groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    requests_per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))
    return requests_per_second, latency_ms("50"), latency_ms("99")


async def load_with_python(
    server: Server, clients: int, seconds: float, keep_alive: bool = False
) -> tuple[float, float, float]:
    """requests/s, p50 and p99 in ms, from `clients` asyncio connections that never pause. With `keep_alive`, each
    client sends its next request on the same connection until the server says it will close it, as
    requests.Session and most proxies do; a request that fails on a reused connection counts as a failure."""
    close, body = "" if keep_alive else "Connection: close\r\n", server.one_row
    request = (
        f"POST {server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\n{close}\r\n"
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
                connection = await asyncio.open_connection("127.0.0.1", server.port)
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


def load_single_rows(server: Server, clients: int, seconds: float) -> tuple[float, float, float]:
    if shutil.which("wrk"):
        return load_with_wrk(server, clients, seconds)
    return asyncio.run(load_with_python(server, clients, seconds))


def measure(server: Server, connections: list[int], seconds: float) -> dict[str, str]:
    """One figure per load: single rows at each number of connections, then the CSV."""
    status, answer = post(server.port, server.path, server.csv_body, server.csv_type)  # also warms every code path
    if status != 200:
        raise RuntimeError(f"{server.name} answered the CSV with {status}: {answer[:2000]!r}")
    load_single_rows(server, max(connections), seconds=2)  # ... in every process
    figures = {}
    for clients in connections:
        requests_per_second, p50, p99 = load_single_rows(server, clients, seconds)
        figures[f"one JSON row, {clients} connection(s)"] = (
            f"{requests_per_second:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
    figures["the CSV"] = f"{best_of(3, lambda: post(server.port, server.path, server.csv_body, server.csv_type)):.2f} s"
    return figures


def without_prediction_log(settings, folder: Path):
    """The same settings in an app folder whose app config logs no predictions (the web processes read the file)."""
    root = folder / "app_without_prediction_log"
    shutil.copytree(settings.root / "config", root / "config")
    shutil.copy(settings.root / "uwsgi.ini", root / "uwsgi.ini")
    config = root / "config" / "app_config.yml"
    config.write_text(config.read_text() + "\nprediction_sample_rate: 0\n")
    return dataclasses.replace(settings, root=root, app=dataclasses.replace(settings.app, prediction_sample_rate=0))


def single_rows_runs(server: Server, clients: int, seconds: float, runs: int) -> list[float]:
    """requests/s of `runs` loads of single rows (after one to warm every process up)."""
    load_single_rows(server, clients, seconds=2)
    return [load_single_rows(server, clients, seconds)[0] for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--log-runs", type=int, default=3, help="loads with the prediction log on, and off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = fresh_settings(Path(folder))
        target = settings.app.target
        loads = [read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")]
        data = pd.concat(loads, ignore_index=True)
        store = open_datastore(settings)
        store.create(infer_schema(data, settings.app.time_formats))
        registry = open_registry(settings)
        rows = data.drop(columns=[target]).sample(args.rows, replace=True, random_state=0)
        csv = rows.to_csv(index=False).encode()
        print(f"{args.rows} rows = {len(csv) / 1e6:.1f} MB of CSV")
        figures, in_process_seconds = {}, {}
        # The models `make demo` makes: v1 on the first load, v2 once the second has arrived.
        for load in loads:
            store.append(load)
            version = retrain(settings=settings).serving_version
            model, schema = registry.load(version), registry.version(version).input_schema

            def in_process(model=model, schema=schema) -> bytes:
                uploaded = parse_csv(csv)
                return predictions_csv(uploaded, predict_table(model, model_input(uploaded, schema), target))

            name = f"the app, v{version} ({registry.version(version).trees:,} trees)"
            in_process_seconds[name] = best_of(3, in_process)
            # As a JSON client sends it: numbers as numbers, dates as ISO text.
            typed = conform(rows.head(1), schema, ignore_extra=True)
            record = json.loads(typed.to_json(orient="records", date_format="iso"))
            with local_stack(settings, free_port()) as stack:
                app = Server(name, int(stack.url.rsplit(":", 1)[1]), "/predict",
                             json.dumps({"records": record}).encode(), *multipart(csv))  # fmt: skip
                figures[app.name] = measure(app, args.connections, args.seconds)
                print(f"{app.name}: {figures[app.name]}", flush=True)  # kept should a later server fail
        # The newest model, v2: with keep-alive clients, with the prediction log on and off, and MLflow's own server.
        with local_stack(settings, free_port()) as stack:
            app = dataclasses.replace(app, port=int(stack.url.rsplit(":", 1)[1]))
            keep_alive = asyncio.run(load_with_python(app, max(args.connections), args.seconds, keep_alive=True))
            logged = single_rows_runs(app, max(args.connections), args.seconds, args.log_runs)
        with local_stack(without_prediction_log(settings, Path(folder)), free_port()) as stack:
            unlogged = single_rows_runs(dataclasses.replace(app, port=int(stack.url.rsplit(":", 1)[1])),
                                        max(args.connections), args.seconds, args.log_runs)  # fmt: skip
        model_uri = f"models:/{settings.app.model_name}/{version}"
        mlflow.set_tracking_uri(registry.tracking_uri)
        requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri))
        log = Path(folder) / "mlflow-models-serve.log"
        with mlflow_model_server(model_uri, registry.tracking_uri, requirements, log, settings.app.processes) as url:
            served = Server(f"mlflow models serve, v{version}", int(url.rsplit(":", 1)[1]), "/invocations",
                            json.dumps({"dataframe_records": record}).encode(), csv, "text/csv")  # fmt: skip
            figures[served.name] = measure(served, args.connections, args.seconds)

        generator = "wrk" if shutil.which("wrk") else "a Python client (install wrk to leave the cores to the servers)"
        print(f"{settings.app.processes} processes each; the load from {generator}\n")
        print(f"| | {' | '.join(figures)} |\n|---|{'---|' * len(figures)}")
        for load in figures[app.name]:
            print(f"| {load} | {' | '.join(figure[load] for figure in figures.values())} |")
        print()
        for name, seconds in in_process_seconds.items():
            print(f"The CSV in-process (parse, predict, write), {name.removeprefix('the app, ')}: {seconds:.2f} s")
        requests_per_second, p50, p99 = keep_alive
        print(
            f"The app (v{version}), one JSON row, {max(args.connections)} keep-alive clients (Python, a connection "
            f"reused until the app closes it): {requests_per_second:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            "none failed"
        )
        on, off = statistics.median(logged), statistics.median(unlogged)
        print(
            f"The app (v{version}), one JSON row, {max(args.connections)} connections, median of {args.log_runs} runs: "
            f"{on:,.0f} req/s with the prediction log, {off:,.0f} req/s without ({(on - off) / off:+.1%}); "
            f"runs with: {', '.join(f'{r:,.0f}' for r in logged)}; without: {', '.join(f'{r:,.0f}' for r in unlogged)}"
        )


if __name__ == "__main__":
    main()
