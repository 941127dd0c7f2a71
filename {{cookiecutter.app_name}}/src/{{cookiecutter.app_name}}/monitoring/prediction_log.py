"""The prediction log: what the served model was asked and what it answered, kept for drift reports.

A request never waits for it. Each web process keeps what it predicted in memory, and a background thread pushes it to
Redis every FLUSH_SECONDS; the worker moves it from Redis into the environment's `predictions` journal in batches
(`drain`), because a DuckDB file has one writer at a time and BigQuery allows 1,500 loads per table a day. Each part
is bounded: a sample of the rows (prediction_sample_rate, and at most MAX_ROWS_PER_REQUEST of a large CSV), at most
MAX_WAITING entries in a process or in Redis (the oldest go first), and prediction_retention_days in the journal.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import redis

from ..datastore import Journal

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
MAX_ROWS_PER_REQUEST = 1000  # a random sample of a large CSV shows its inputs' distribution as well as all of it
MAX_WAITING = 100_000  # entries a web process, or Redis, keeps while nobody takes them
DRAIN_BATCH = 20_000
REDIS_TIMEOUT_SECONDS = 2.0


def waiting_key(environment: str) -> str:
    return f"predictions:{environment}:waiting"


def draining_key(environment: str) -> str:
    return f"predictions:{environment}:draining"


class PredictionLog:
    """One web process's part: `record` what a request predicted; a thread sends it on to Redis."""

    def __init__(self, redis_url: str, environment: str, sample_rate: float):
        self.redis = redis.Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self.key = waiting_key(environment)
        self.sample_rate = sample_rate
        self.dropped = 0  # entries given up because Redis was away for long
        self._waiting: deque[tuple] = deque()  # (at, version, inputs, outputs, what to add to each row's entry)
        self._rows_waiting = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failing = False

    def record(
        self,
        version: int,
        inputs: pd.DataFrame | list[dict],
        outputs: pd.DataFrame | list[Any],
        at: datetime | None = None,
    ) -> None:
        """Keep a sample of a request's rows: its inputs, and one output per row (a JSON object or a table row),
        answered `at` (now). Costs a few microseconds; turning them into JSON waits for the background thread."""
        rows = len(inputs)
        if not rows or self.sample_rate <= 0:
            return
        if isinstance(inputs, pd.DataFrame):
            keep = min(rows, MAX_ROWS_PER_REQUEST, max(1, round(rows * self.sample_rate)))
            if keep < rows:
                picked = inputs.sample(keep).index
                inputs, outputs = inputs.loc[picked], outputs.loc[picked]
        elif self.sample_rate < 1:
            picked = [i for i in range(rows) if random.random() < self.sample_rate]
            inputs, outputs = [inputs[i] for i in picked], [outputs[i] for i in picked]
        if len(inputs):
            self._keep((at or datetime.now(UTC), version, inputs, outputs, None))

    def record_shadowed(
        self,
        at: datetime,
        version: int,
        records: list[dict],
        outputs: list[Any],
        ms: float,
        shadow: list[dict],
        sampled: bool,
    ) -> None:
        """Keep a request mirrored to a shadow (web/shadow.py), every row: production's answer, how long it took (`ms`)
        and the shadow's answer (`shadow`, a dict per row), side by side. A mirrored request is logged this way only,
        so when its entries stand for the request (`sampled`: those of the first shadow that took it), a sample of
        them, as `record` takes, is marked as part of the log drift is measured on."""
        self._keep(
            (
                at,
                version,
                records,
                outputs,
                [
                    {"ms": ms, "shadow": row, "sampled": sampled and random.random() < self.sample_rate}
                    for row in shadow
                ],
            )
        )

    def _keep(self, request: tuple) -> None:
        with self._lock:
            self._waiting.append(request)
            self._rows_waiting += len(request[2])
            while self._rows_waiting > MAX_WAITING and len(self._waiting) > 1:
                self._rows_waiting -= len(self._waiting.popleft()[2])
                self.dropped += 1
            if self._thread is None:  # started by the first request, after uWSGI forked this process
                self._thread = threading.Thread(target=self._send_forever, name="prediction-log", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Send what is waiting to Redis now; the entries sent."""
        with self._lock:
            batches, self._waiting, self._rows_waiting = list(self._waiting), deque(), 0
        lines = [line for batch in batches for line in as_lines(*batch)]
        if not lines:
            return 0
        try:
            with self.redis.pipeline() as pipeline:
                pipeline.rpush(self.key, *lines).ltrim(self.key, -MAX_WAITING, -1).execute()
        except redis.RedisError as problem:
            if not self._failing:
                logger.warning("the prediction log cannot reach Redis (%s); keeping entries until it can", problem)
            self._failing = True
            with self._lock:  # back in front of newer ones, within the bound
                self._waiting.extendleft(reversed(batches))
                self._rows_waiting += sum(len(batch[2]) for batch in batches)
            return 0
        if self._failing:
            logger.info("the prediction log reaches Redis again")
        self._failing = False
        return len(lines)

    def _send_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # noqa: BLE001  the log must never stop serving, nor stop itself
                logger.exception("the prediction log could not send its entries")


def as_lines(
    at: datetime,
    version: int,
    inputs: pd.DataFrame | list[dict],
    outputs: pd.DataFrame | list[Any],
    extra: list[dict] | None = None,
):
    """A request's rows as JSON lines: time, model version, inputs and what was predicted (and `extra`, a dict per
    row)."""
    if isinstance(inputs, pd.DataFrame):
        inputs = json.loads(inputs.to_json(orient="records", date_format="iso"))
        outputs = json.loads(outputs.to_json(orient="records"))
    moment = at.isoformat(timespec="microseconds")
    return [
        json.dumps({"at": moment, "model_version": version, "inputs": row, "output": output, **more}, default=str)
        for row, output, more in zip(inputs, outputs, extra or [{}] * len(inputs), strict=True)
    ]


def drain(client: redis.Redis, journal: Journal, environment: str) -> int:
    """Move the entries waiting in Redis into the journal, a batch at a time; the entries moved. Each batch leaves
    Redis only once the journal holds it, and one drain runs at a time (the worker's schedule, or `monitor`)."""
    if not client.set(draining_key(environment), "1", nx=True, ex=600):
        return 0
    moved = 0
    try:
        while lines := client.lrange(waiting_key(environment), 0, DRAIN_BATCH - 1):
            entries = [json.loads(line) for line in lines]
            journal.append(
                pd.DataFrame(
                    {
                        "logged_at": [entry.pop("at") for entry in entries],
                        "model_version": [entry.pop("model_version") for entry in entries],
                        "record": [json.dumps(entry) for entry in entries],
                    }
                )
            )
            client.ltrim(waiting_key(environment), len(lines), -1)
            moved += len(lines)
            if len(lines) < DRAIN_BATCH:
                break
    finally:
        client.delete(draining_key(environment))
    return moved


def logged_inputs(records: pd.DataFrame) -> pd.DataFrame:
    """The inputs of the journal's prediction records, a row each, of the sample prediction_sample_rate takes (a
    request mirrored to shadows is logged once per shadow, its sample marked in one of them)."""
    if records.empty:
        return pd.DataFrame()
    entries = (json.loads(record) for record in records["record"])
    return pd.DataFrame.from_records([entry["inputs"] for entry in entries if entry.get("sampled", True)])
