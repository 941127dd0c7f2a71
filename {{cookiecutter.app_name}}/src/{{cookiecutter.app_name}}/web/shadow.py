"""Shadow traffic: a share of this environment's /predict requests, answered again by the environments that shadow it.

Each shadow answers on its own service (the registry records where: environments/shadows.py), so no model of a shadow is
ever loaded into this app's processes. The request path only draws a random number and appends to a bounded list; a
thread of each web process sends what waits to each shadow as one batch every FLUSH_SECONDS (one call predicts many
rows for little more than the cost of one), and keeps both answers side by side with the request in the prediction
log. A shadow that is slow, failing or stopped costs its batch and a count in /metrics, never a production request.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from ..config import Settings
from ..monitoring.prediction_log import PredictionLog
from ..registry import ModelRegistry, Shadow
from .api.auth import HEADER
from .metrics import SHADOW_REQUESTS, SHADOW_ROWS, SHADOW_SECONDS

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
MAX_WAITING_ROWS = 20_000  # rows a process keeps for its shadows while they do not answer (the oldest go first)
MAX_BATCH_ROWS = 5_000  # rows in one call to a shadow
TIMEOUT_SECONDS = 10.0


@dataclass
class Mirrored:
    """One request, as production answered it."""

    at: datetime
    version: int
    records: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    ms: float  # how long production took to predict it


@dataclass
class Waiting:
    shadow: Shadow
    requests: deque[Mirrored] = field(default_factory=deque)
    rows: int = 0


class ShadowMirror:
    """One web process's part: `offer` each answered request; a thread sends the sampled ones to the shadows."""

    def __init__(self, registry: ModelRegistry, settings: Settings, log: PredictionLog, api_key: str):
        self.registry, self.environment, self.log, self.api_key = registry, settings.environment, log, api_key
        self.refresh_seconds = settings.app.model_refresh_seconds
        self.classifies = settings.app.problem_type == "classification"
        self._shadows: list[Shadow] | None = None  # None until the registry has said which shadow this environment
        self._unsorted: deque[Mirrored] = deque(maxlen=MAX_WAITING_ROWS)  # offered before that
        self._waiting: dict[str, Waiting] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def offer(self, version: int, records: list[dict[str, Any]], outputs: list[dict[str, Any]], ms: float) -> None:
        """Take a share of this request for each shadow. Costs microseconds: a random draw and an append."""
        shadows = self._shadows
        if shadows == []:
            return
        request = Mirrored(datetime.now(UTC), version, records, outputs, ms)
        with self._lock:
            if shadows is None:
                self._unsorted.append(request)
            else:
                for shadow in shadows:
                    if random.random() < shadow.share:
                        self._keep(shadow, request)
            if self._thread is None:  # started by the first request, after uWSGI forked this process
                self._thread = threading.Thread(target=self._send_forever, name="shadow-mirror", daemon=True)
                self._thread.start()

    def _keep(self, shadow: Shadow, request: Mirrored) -> None:
        waiting = self._waiting.setdefault(shadow.name, Waiting(shadow))
        waiting.shadow = shadow
        waiting.requests.append(request)
        waiting.rows += len(request.records)
        while waiting.rows > MAX_WAITING_ROWS and len(waiting.requests) > 1:
            waiting.rows -= len(waiting.requests.popleft().records)
            SHADOW_REQUESTS.labels(shadow.name, "dropped").inc()

    def refresh(self) -> None:
        """Which environments shadow this one, as the registry says now."""
        shadows = [shadow for shadow in self.registry.shadows() if shadow.shadow_of == self.environment]
        with self._lock:
            self._shadows = shadows
            unsorted, self._unsorted = list(self._unsorted), deque(maxlen=MAX_WAITING_ROWS)
            for request in unsorted:
                for shadow in shadows:
                    if random.random() < shadow.share:
                        self._keep(shadow, request)
            for name in set(self._waiting) - {shadow.name for shadow in shadows}:
                del self._waiting[name]

    def flush(self) -> int:
        """Send what waits to each shadow now; the requests that it answered."""
        answered = 0
        for shadow, batch in self._take():
            answered += self._send(shadow, batch)
        return answered

    def _take(self) -> list[tuple[Shadow, list[Mirrored]]]:
        """What waits for each shadow, in batches of at most MAX_BATCH_ROWS rows (and whole requests)."""
        batches = []
        with self._lock:
            for waiting in self._waiting.values():
                batch: list[Mirrored] = []
                while waiting.requests:
                    if batch and sum(len(r.records) for r in batch) + len(waiting.requests[0].records) > MAX_BATCH_ROWS:
                        batches.append((waiting.shadow, batch))
                        batch = []
                    batch.append(waiting.requests.popleft())
                waiting.rows = 0
                if batch:
                    batches.append((waiting.shadow, batch))
        return batches

    def _send(self, shadow: Shadow, batch: list[Mirrored]) -> int:
        records = [record for request in batch for record in request.records]
        started = time.perf_counter()
        try:
            answer = self._session.post(
                f"{shadow.url.rstrip('/')}/predict",
                json={"records": records},
                headers={HEADER: self.api_key},
                timeout=TIMEOUT_SECONDS,
            )
            answer.raise_for_status()
            body = answer.json()
            predictions, version = body["predictions"], body["model_version"]
            if len(predictions) != len(records):
                raise ValueError(f"{len(predictions)} predictions for {len(records)} rows")
        except (requests.RequestException, ValueError, KeyError, TypeError) as problem:
            SHADOW_REQUESTS.labels(shadow.name, "failed").inc(len(batch))
            logger.warning("shadow %s did not answer %d requests: %s", shadow.name, len(batch), problem)
            return 0
        seconds = time.perf_counter() - started
        SHADOW_SECONDS.labels(shadow.name).observe(seconds)
        SHADOW_REQUESTS.labels(shadow.name, "answered").inc(len(batch))
        ms_per_row = seconds * 1000 / len(records)
        position = 0
        for request in batch:
            theirs = predictions[position : position + len(request.records)]
            position += len(request.records)
            if self.classifies:
                agreed = sum(a == b for a, b in zip(predicted(request.outputs), predicted(theirs), strict=True))
                SHADOW_ROWS.labels(shadow.name, "yes").inc(agreed)
                SHADOW_ROWS.labels(shadow.name, "no").inc(len(theirs) - agreed)
            else:
                SHADOW_ROWS.labels(shadow.name, "-").inc(len(theirs))
            side = {"environment": shadow.name, "model_version": version, "ms_per_row": ms_per_row}
            self.log.record_shadowed(request.at, request.version, request.records, request.outputs, request.ms,
                                     [{**side, "output": output} for output in theirs])  # fmt: skip
        return len(batch)

    def _send_forever(self) -> None:
        refreshed = float("-inf")
        while True:
            try:
                if time.monotonic() - refreshed >= self.refresh_seconds:
                    refreshed = time.monotonic()  # a registry that is down is asked again at the next refresh
                    self.refresh()
                self.flush()
            except Exception:  # noqa: BLE001  the mirror must never stop serving, nor stop itself
                logger.exception("the shadow mirror could not send its requests")
            time.sleep(FLUSH_SECONDS)


def predicted(outputs: list[dict[str, Any]]) -> list[Any]:
    """The predicted value of each output (`predicted_<target>`, the one key that starts so)."""
    return [next(value for key, value in output.items() if key.startswith("predicted_")) for output in outputs]
