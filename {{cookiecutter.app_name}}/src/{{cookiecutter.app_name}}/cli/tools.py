"""The command line tools the deploy commands drive: kubectl, docker, gcloud."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..config import FixFirstError


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
