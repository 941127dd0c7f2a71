"""A small client of a running app's API, for the online-learning and retrain-in-cloud commands and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ..config import FixFirstError

POLL_SECONDS = 1.0


class AppError(FixFirstError):
    """The app answered with an error; the message is the app's own (the commands exit with 2 on it)."""


class AppClient:
    def __init__(self, url: str, api_key: str, timeout: float = 300):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.headers = {"X-API-Key": api_key}
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}{path}", headers=self.headers, timeout=self.timeout, **kwargs)
        if not response.ok:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise AppError(f"{method} {path} answered {response.status_code}: {message}")
        return response

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health").json()

    def predict_csv(self, csv: Path) -> bytes:
        with csv.open("rb") as file:
            return self._call("POST", "/predict", files={"file": (csv.name, file, "text/csv")}).content

    def predict_records(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", "/predict", json={"records": records}).json()

    def train(self, csv: Path) -> dict[str, Any]:
        with csv.open("rb") as file:
            return self._call("POST", "/train", files={"file": (csv.name, file, "text/csv")}).json()

    def retrain(self) -> dict[str, Any]:
        return self._call("POST", "/retrain").json()

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}").json()

    def models(self) -> dict[str, Any]:
        return self._call("GET", "/models").json()

    def approve(self, version: int) -> dict[str, Any]:
        return self._call("POST", f"/models/{version}/approve").json()

    def monitoring(self) -> dict[str, Any]:
        return self._call("GET", "/monitoring").json()

    def follow(
        self, job_id: str, on_progress: Callable[[dict[str, Any]], None] | None = None, timeout: float = 1800
    ) -> dict[str, Any]:
        """Poll a job until it is done or failed, and return its last state."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress:
                on_progress(job)
            if job["state"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise AppError(f"job {job_id} was still {job['state']} after {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
