"""The command line tools the deploy commands drive: kubectl, docker, gcloud."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

import requests

from ..config import FixFirstError
from ..local_processes import free_port, wait_until_started


def kubectl(*args: str, manifest: str | None = None) -> str:
    """Run kubectl (on the cluster its current context points at); what it printed, or a FixFirstError."""
    if shutil.which("kubectl") is None:
        raise FixFirstError("kubectl was not found: install it and connect it to the cluster, or use --dry-run")
    finished = subprocess.run(["kubectl", *args], input=manifest, text=True, capture_output=True)
    if finished.returncode != 0:
        raise FixFirstError(f"kubectl {' '.join(args[:2])} failed: {finished.stderr.strip()}")
    return finished.stdout.strip()


def kubectl_apply(manifest: str) -> str:
    """`kubectl apply` the manifest (one or more YAML documents); what kubectl printed."""
    return kubectl("apply", "-f", "-", manifest=manifest)


def run_tool(*args: str, cwd: Path | None = None) -> None:
    """Run a command line tool (docker, gcloud) with its output shown; a FixFirstError naming it if it fails."""
    if shutil.which(args[0]) is None:
        raise FixFirstError(f"{args[0]} was not found: install it, or run this where it is (CI)")
    if subprocess.run(args, cwd=cwd).returncode != 0:
        raise FixFirstError(f"`{' '.join(args)}` failed; its output is above")


def kubectl_in_background(*args: str, log: IO[bytes], **popen: Any) -> subprocess.Popen:
    """Start kubectl (a port-forward) without waiting for it, its output to `log`; a FixFirstError if there is none."""
    if shutil.which("kubectl") is None:
        raise FixFirstError("kubectl was not found: install it and connect it to the cluster")
    return subprocess.Popen(["kubectl", *args], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **popen)


def port_forward(namespace: str, service: str, port: int, log: IO[bytes], **popen: Any) -> tuple[subprocess.Popen, str]:
    """`kubectl port-forward` to a Service, waited for until its /health answers: the process and the local URL.

    A FixFirstError with kubectl's output if it does not answer within a minute (the forward is stopped then)."""
    local = free_port()
    forward = kubectl_in_background("port-forward", "--namespace", namespace, f"service/{service}", f"{local}:{port}",
                                    log=log, **popen)  # fmt: skip
    url = f"http://127.0.0.1:{local}"

    def failed() -> str:
        log.flush()
        said = Path(log.name).read_text(errors="replace").strip()[-2000:] or "(no output)"
        return f"kubectl port-forward to service/{service} in {namespace} did not answer; kubectl said: {said}"

    try:
        health = lambda: requests.get(f"{url}/health", timeout=5).raise_for_status()  # noqa: E731
        wait_until_started(forward, health, requests.RequestException, 60, failed)
    except RuntimeError as error:
        forward.terminate()
        forward.wait()
        raise FixFirstError(str(error)) from None
    return forward, url
