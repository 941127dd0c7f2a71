"""The command line tools the deploy commands drive: kubectl, docker, gcloud, and uv for the lock files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import requests

from ..config import FixFirstError, child_environment
from ..processes import free_port, wait_until_started


def require(tool: str) -> str:
    """The tool's path: on PATH, else beside this Python (requirements-dev.txt installs kubectl there)."""
    found = shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent))
    if found is None:
        hint = "and connect it to the cluster" if tool == "kubectl" else "or run this where it is (CI)"
        raise FixFirstError(f"{tool} was not found: install it {hint}")
    return found


def kubectl(*args: str, manifest: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run kubectl (on the cluster its current context points at); what it printed, or a FixFirstError."""
    finished = subprocess.run(
        [require("kubectl"), *args],
        input=manifest,
        text=True,
        capture_output=True,
        env=None if env is None else child_environment(env),
    )
    if finished.returncode != 0:
        raise FixFirstError(f"kubectl {' '.join(args[:2])} failed: {finished.stderr.strip()}")
    return finished.stdout.strip()


def kubectl_apply(manifest: str, applyset: str | None = None, namespace: str = "") -> str:
    """`kubectl apply` the manifest (one or more YAML documents); what kubectl printed.

    Applied server-side: the API server merges it, so kubectl never reads the objects first, and an identity that
    may write a Secret but not read one (a pull request's, k8s/challenger_access.yml) can apply it. This CLI owns
    every field it sends, so it takes them over from any earlier (client-side) apply.

    With an `applyset` (a ConfigMap in `namespace`, which must exist), the objects become its members, and members
    an earlier apply sent that this one does not are deleted (kubectl's ApplySet pruning, still behind a switch)."""
    if applyset is None:
        return kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", manifest=manifest)
    return kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--prune",
        f"--applyset={applyset}",
        "--namespace",
        namespace,
        "-f",
        "-",
        manifest=manifest,
        env={"KUBECTL_APPLYSET": "true"},
    )


def run_tool(*args: str, cwd: Path | None = None) -> None:
    """Run a command line tool (docker, gcloud) with its output shown; a FixFirstError naming it if it fails."""
    if subprocess.run([require(args[0]), *args[1:]], cwd=cwd).returncode != 0:
        raise FixFirstError(f"`{' '.join(args)}` failed; its output is above")


def port_forward(
    namespace: str, service: str, port: int, log_path: Path, detached: bool = False
) -> tuple[subprocess.Popen, str]:
    """`kubectl port-forward` to a Service, waited for until its /health answers: the process and the local URL.

    kubectl's output goes to `log_path`. A detached forward runs in a session of its own and outlives this command.
    A FixFirstError with kubectl's output if it does not answer within a minute (the forward is stopped then)."""
    command = require("kubectl")
    local = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # kubectl keeps its own handle to it
        forward = subprocess.Popen(
            [command, "port-forward", "--namespace", namespace, f"service/{service}", f"{local}:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detached,
        )
    url = f"http://127.0.0.1:{local}"

    def failed() -> str:
        said = log_path.read_text(errors="replace").strip()[-2000:] or "(no output)"
        return f"kubectl port-forward to service/{service} in {namespace} did not answer; kubectl said: {said}"

    try:
        wait_until_started(forward, lambda: answers(url), requests.RequestException, 60, failed)
    except BaseException as error:  # also Ctrl-C: a detached forward would outlive it
        forward.terminate()
        forward.wait()
        if isinstance(error, RuntimeError):
            raise FixFirstError(str(error)) from None
        raise
    return forward, url


def answers(url: str) -> None:
    """Return if `url`/health answers 200; a requests.RequestException if not."""
    requests.get(f"{url}/health", timeout=5).raise_for_status()


def apply_or_print(manifest: str, dry_run: bool) -> None:
    """`kubectl apply` the manifest and show what kubectl said, or with `dry_run` print the manifest itself."""
    if dry_run:
        print(manifest, end="")
    else:
        print(kubectl_apply(manifest))


def uv() -> str:
    """uv: the one beside this Python (requirements-dev.txt installs it), else the one on PATH."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise FixFirstError("uv was not found: pip install -r requirements-dev.txt (or pip install uv)")
    return found


# The lock files, each from pyproject.toml: what the image installs, the tests and linters too, and the tracking
# server's image alone, constrained to the MLflow version of the app's own lock.
LOCKS = {
    "requirements.txt": ("pyproject.toml", "--group", "build"),
    "requirements-dev.txt": ("pyproject.toml", "--group", "build", "--group", "dev"),
    "requirements-tracking-server.txt": ("--group", "tracking-server", "--group", "build", "-c", "requirements.txt"),
}


def lock_requirements(root: Path, upgrade: bool) -> list[str]:
    """Lock pyproject.toml into LOCKS with uv, every package pinned with its hashes, for every platform and Python it
    allows; the files written. Pins already there stay unless pyproject.toml needs others, or `upgrade`."""
    for lock, sources in LOCKS.items():
        options = ["--universal", "--generate-hashes", "--no-annotate", "--quiet", "--output-file", lock]
        command = [uv(), "pip", "compile", *sources, *options, *(["--upgrade"] if upgrade else [])]
        if subprocess.run(command, cwd=root).returncode != 0:
            raise FixFirstError(f"uv could not lock {lock}; its output is above")
    return list(LOCKS)
