"""Shadow traffic: a share of this environment's /predict requests, answered again by the environments that shadow it.

Each shadow answers on its own service (the registry records where: environments/shadows.py), so no model of a shadow is
ever loaded into this app's processes. Which environments shadow this one is learnt with the champion's check
(champion.py), so an environment that nobody shadows pays one list look per request and runs no thread. The request
path only draws a random number and appends to a bounded list; a thread of each web process, running while requests
wait, sends them to each shadow as one batch every FLUSH_SECONDS (one call predicts many rows for little more than the
cost of one), and keeps both answers side by side with the request in the prediction log. A mirrored request is logged
there this way only, not a second time as every request is: its log entry waits for the first shadow that took it, and
is written without a shadow's answer when that shadow fails. A shadow that is slow, failing or stopped costs its batch
and a count in /metrics, never a production request.
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
from urllib.parse import urlsplit

import requests

from ..config import cluster_service_url
from ..monitoring.prediction_log import PredictionLog
from ..registry import Shadow
from .api.auth import HEADER
from .champion import Champion
from .metrics import SHADOW_REQUESTS, SHADOW_ROWS, SHADOW_SECONDS

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
MAX_WAITING_ROWS = 20_000  # rows a process keeps for a shadow while it does not answer (the oldest go first)
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
    logged_by: str  # the shadow whose answer its prediction log entry carries: the first that took it


@dataclass
class Waiting:
    shadow: Shadow
    requests: deque[Mirrored] = field(default_factory=deque)
    rows: int = 0


class ShadowMirror:
    """One web process's part: `offer` each answered request; a thread sends the sampled ones to the shadows."""

    def __init__(self, champion: Champion, log: PredictionLog, api_key: str, classifies: bool, target: str):
        self.champion, self.log, self.api_key, self.classifies = champion, log, api_key, classifies
        self.predicted = f"predicted_{target}"  # what both answers are compared on; the probabilities stay out
        self._waiting: dict[str, Waiting] = {}
        self._lock = threading.Lock()
        self._sending = False  # a thread is sending what waits; it ends when nothing does
        self._session = requests.Session()

    def offer(self, version: int, records: list[dict[str, Any]], outputs: list[dict[str, Any]], ms: float) -> bool:
        """Take a share of this request for each shadow; whether any took it, and so will log it. Costs microseconds:
        a random draw and an append."""
        shadows = self.champion.shadows
        if not shadows:
            return False
        picked = [shadow for shadow in shadows if random.random() < shadow.share]
        if not picked:
            return False
        request = Mirrored(datetime.now(UTC), version, records, outputs, ms, picked[0].name)
        with self._lock:
            for shadow in picked:
                self._keep(shadow, request)
            if not self._sending:  # a thread per process, started after uWSGI forked it
                self._sending = True
                threading.Thread(target=self._send_while_waiting, name="shadow-mirror", daemon=True).start()
        return True

    def _keep(self, shadow: Shadow, request: Mirrored) -> None:
        waiting = self._waiting.setdefault(shadow.name, Waiting(shadow))
        waiting.shadow = shadow  # its latest record: a redeploy may have moved it
        waiting.requests.append(request)
        waiting.rows += len(request.records)
        while waiting.rows > MAX_WAITING_ROWS and len(waiting.requests) > 1:
            dropped = waiting.requests.popleft()
            waiting.rows -= len(dropped.records)
            self._log_unanswered(shadow, [dropped])
            SHADOW_REQUESTS.labels(shadow.name, "dropped").inc()

    def flush(self) -> int:
        """Send what waits to each shadow now; the requests that it answered."""
        return sum(self._send(shadow, batch) for shadow, batch in self._take())

    def _take(self) -> list[tuple[Shadow, list[Mirrored]]]:
        """What waits for each shadow, in batches of at most MAX_BATCH_ROWS rows (and whole requests)."""
        batches = []
        with self._lock:
            for waiting in self._waiting.values():
                batch: list[Mirrored] = []
                rows = 0
                while waiting.requests:
                    if batch and rows + len(waiting.requests[0].records) > MAX_BATCH_ROWS:
                        batches.append((waiting.shadow, batch))
                        batch, rows = [], 0
                    batch.append(waiting.requests.popleft())
                    rows += len(batch[-1].records)
                waiting.rows = 0
                if batch:
                    batches.append((waiting.shadow, batch))
        return batches

    def _send(self, shadow: Shadow, batch: list[Mirrored]) -> int:
        if not is_its_own_service(shadow):
            self._log_unanswered(shadow, batch)
            SHADOW_REQUESTS.labels(shadow.name, "failed").inc(len(batch))
            logger.warning("shadow %s is recorded at %s, not at its own service: nothing sent", shadow.name, shadow.url)
            return 0
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
            self._log_unanswered(shadow, batch)
            SHADOW_REQUESTS.labels(shadow.name, "failed").inc(len(batch))
            logger.warning("shadow %s did not answer %d requests: %s", shadow.name, len(batch), problem)
            return 0
        seconds = time.perf_counter() - started
        SHADOW_SECONDS.labels(shadow.name).observe(seconds)
        SHADOW_REQUESTS.labels(shadow.name, "answered").inc(len(batch))
        side = {"environment": shadow.name, "model_version": version, "ms_per_row": seconds * 1000 / len(records)}
        theirs = [prediction[self.predicted] for prediction in predictions]
        ours = [output[self.predicted] for request in batch for output in request.outputs]
        if self.classifies:
            agreed = sum(a == b for a, b in zip(ours, theirs, strict=True))
            SHADOW_ROWS.labels(shadow.name, "yes").inc(agreed)
            SHADOW_ROWS.labels(shadow.name, "no").inc(len(theirs) - agreed)
        else:
            SHADOW_ROWS.labels(shadow.name, "-").inc(len(theirs))
        position = 0
        for request in batch:
            answers = theirs[position : position + len(request.records)]
            position += len(request.records)
            self.log.record_shadowed(request.at, request.version, request.records, request.outputs, request.ms,
                                     [{**side, "output": {self.predicted: value}} for value in answers],
                                     sampled=request.logged_by == shadow.name)  # fmt: skip
        return len(batch)

    def _log_unanswered(self, shadow: Shadow, unanswered: list[Mirrored]) -> None:
        """Log, as any request is, those whose entry waited for this shadow's answer, which will not come."""
        for request in unanswered:
            if request.logged_by == shadow.name:
                self.log.record(request.version, request.records, request.outputs, at=request.at)

    def _send_while_waiting(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)  # requests gather into one batch meanwhile
            try:
                self.flush()
            except Exception:  # noqa: BLE001  the mirror must never stop serving, nor stop itself
                logger.exception("the shadow mirror could not send its requests")
            with self._lock:
                if not any(waiting.requests for waiting in self._waiting.values()):
                    self._sending = False  # the next offer starts another
                    return


def is_its_own_service(shadow: Shadow) -> bool:
    """Whether a shadow is recorded at its own web app: its Service in the cluster, or this machine (a local stack).
    Pull requests' jobs write the registry too: a shadow recorded anywhere else gets none of this app's requests."""
    on_this_machine = urlsplit(shadow.url).hostname in ("127.0.0.1", "localhost", "::1")
    return on_this_machine or shadow.url.rstrip("/") == cluster_service_url(shadow.name)
