"""Who did something, and with which code: recorded with every model version and environment change."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path


def git_sha(root: Path) -> str:
    """The commit checked out at `root` (GIT_SHA wins: CI knows it without a .git folder); "" outside git."""
    if os.environ.get("GIT_SHA"):
        return os.environ["GIT_SHA"]
    try:
        found = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True)
    except OSError:
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""


def app_version(root: Path) -> str:
    """This app's version: APP_VERSION (the image tag, in a container), else the commit checked out."""
    return os.environ.get("APP_VERSION") or git_sha(root) or "unversioned"


def created_by() -> str:
    return os.environ.get("CREATED_BY") or getpass.getuser()
