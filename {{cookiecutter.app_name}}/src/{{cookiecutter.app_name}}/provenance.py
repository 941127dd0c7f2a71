"""Who did something, and with which code: recorded with every model version and environment change."""

from __future__ import annotations

import getpass
import subprocess

from .config import Settings


def git_sha(settings: Settings) -> str:
    """The commit checked out at the app's root (GIT_SHA wins: CI knows it without a .git folder); "" outside git."""
    if settings.variables.git_sha:
        return settings.variables.git_sha
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=settings.root, capture_output=True, text=True
        )
    except OSError:
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""


def app_version(settings: Settings) -> str:
    """This app's version: APP_VERSION (the image tag, in a container), else the commit checked out."""
    return settings.variables.app_version or git_sha(settings) or "unversioned"


def created_by(settings: Settings) -> str:
    return settings.variables.created_by or getpass.getuser()
