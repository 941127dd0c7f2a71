"""A BigQuery API emulator (local-bigquery, on DuckDB): the BigQuery backend with no cloud account, for trying it
on a laptop and for the tests and benchmark that run against it.

It needs Python 3.13 and a pinned set of packages that work offline, so it lives in a venv of its own, made once
in the user's cache folder. BIGQUERY_EMULATOR_PYTHON names the Python 3.13 to build it with when it is not found.
"""

from __future__ import annotations

import glob
import hashlib
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from ..config import child_environment, read_variables
from ..processes import free_port, start_in_own_group, stop_groups, wait_until_started

# Newer releases fetch DuckDB extensions from the internet at start-up; these run offline.
PACKAGES = (
    "local-bigquery==0.3.2",
    "duckdb==1.5.5",
    "duckdb-extension-ducklake==1.5.5",
    "duckdb-extension-icu==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "duckdb-extensions",
)
EXTENSIONS = ("icu", "ducklake", "spatial")
START_TIMEOUT_SECONDS = 60


def python_3_13() -> str | None:
    """A Python 3.13 that runs: BIGQUERY_EMULATOR_PYTHON, python3.13 on PATH, or one installed by pyenv or uv."""
    candidates = [read_variables().bigquery_emulator_python, shutil.which("python3.13")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.13*" / "bin" / "python3.13")))
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", "3.13"], capture_output=True, text=True)
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        # A pyenv shim exists even where it refuses to run: ask the interpreter itself.
        answer = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"], capture_output=True, text=True
        )
        if answer.returncode == 0 and answer.stdout.strip() == "True":
            return candidate
    return None


def emulator_venv(python: str) -> Path:
    """The emulator's venv (made the first time, about a minute), with DuckDB's extensions installed in it."""
    cache = Path(read_variables().xdg_cache_home or Path.home() / ".cache") / "bigquery-emulator"
    venv = cache / hashlib.sha256("\n".join(PACKAGES).encode()).hexdigest()[:12]
    complete = venv / ".complete"  # written last: a venv without it was interrupted and is made again
    if not complete.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PACKAGES], check=True)
        install = f"from duckdb_extensions import import_extension; [import_extension(e) for e in {EXTENSIONS!r}]"
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", install], check=True, env=child_environment({"HOME": str(venv)})
        )
        complete.touch()
    return venv


@dataclass(frozen=True)
class Emulator:
    endpoint: str  # the REST API, for BIGQUERY_API_ENDPOINT
    storage_endpoint: str  # the Storage Read API (gRPC), for BIGQUERY_STORAGE_API_ENDPOINT

    @property
    def variables(self) -> dict[str, str]:
        return {"BIGQUERY_API_ENDPOINT": self.endpoint, "BIGQUERY_STORAGE_API_ENDPOINT": self.storage_endpoint}


@contextmanager
def bigquery_emulator(python: str, data_dir: Path) -> Iterator[Emulator]:
    """Start the emulator on free local ports; yield its endpoints; stop it."""
    venv = emulator_venv(python)
    port, grpc_port = free_port(), free_port()
    log = data_dir / "emulator.log"
    with log.open("wb") as output:
        server = start_in_own_group(
            [
                str(venv / "bin" / "local-bigquery"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--grpc-port",
                str(grpc_port),
                "--data-dir",
                str(data_dir),
            ],
            env=child_environment({"HOME": str(venv)}),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_started(
            server,
            lambda: requests.get(endpoint, timeout=1),
            requests.ConnectionError,
            START_TIMEOUT_SECONDS,
            lambda: f"the BigQuery emulator did not start:\n{log.read_text()[-2000:]}",
        )
        yield Emulator(endpoint, f"127.0.0.1:{grpc_port}")
    finally:
        stop_groups([server], signal.SIGTERM, grace_seconds=30)
