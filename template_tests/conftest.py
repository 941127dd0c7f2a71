"""Shared helpers: bake the template with answers, and run commands in a baked app's own venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))

from dev.app_venv import app_python  # noqa: E402

BIGQUERY_ANSWERS = {"data_source": "bigquery", "gcp_project": "acme-analytics"}
VARIANTS = {
    "classification-duckdb": {},
    "classification-bigquery": BIGQUERY_ANSWERS,
    "regression-duckdb": {"problem_type": "regression", "target": "Amount"},
    "regression-bigquery": {"problem_type": "regression", "target": "Amount", **BIGQUERY_ANSWERS},
}


@pytest.fixture
def bake(cookies):
    """Bake with `answers` and return the app folder, failing with the hook's message if baking failed."""

    def bake_with(**answers: str) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, result.exception
        assert result.exit_code == 0
        return Path(result.project_path)

    return bake_with


def run_in_app(app: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python args...` in the app folder with its own venv, as a person would after installing it."""
    return subprocess.run([str(app_python(app)), *args], cwd=app, capture_output=True, text=True, env=env, timeout=1200)
