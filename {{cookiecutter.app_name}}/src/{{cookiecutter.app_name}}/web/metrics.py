"""The web app's metrics, for Prometheus: requests by endpoint and status, their latency, the model version served,
predictions by class, and shadow traffic; and beside them the worker's (retrains, the newest monitor report:
monitoring/worker_metrics.py).

They are answered at /metrics on PROBE_PORT (probes.py), which the Service does not expose: a scraper reaches the
pod itself. uWSGI runs several processes; each counts into files of a folder they share (PROMETHEUS_MULTIPROC_DIR,
a fresh one from `serve` and the local stack), and whichever process answers sums them all.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Iterable

from flask import Flask, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..config import APP_NAME, Settings
from ..monitoring.worker_metrics import WorkerMetrics

NAMESPACE = APP_NAME
REQUESTS = Counter("requests", "HTTP requests answered", ["endpoint", "method", "status"], namespace=NAMESPACE)
LATENCY = Histogram("request_seconds", "How long requests took to answer", ["endpoint"], namespace=NAMESPACE)
# The version of the model a process loaded last, set as it loads it (before any prediction); during a swap,
# processes may briefly differ.
SERVED_VERSION = Gauge(
    "served_model_version",
    "The model version predictions come from",
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
PREDICTIONS = Counter("predictions", "Rows predicted, by predicted class", ["predicted"], namespace=NAMESPACE)
# Shadow traffic (shadow.py), by shadow environment.
SHADOW_REQUESTS = Counter(
    "shadow_requests",
    "Requests mirrored to a shadow: answered, failed or dropped",
    ["shadow", "outcome"],
    namespace=NAMESPACE,
)
SHADOW_ROWS = Counter(
    "shadow_rows",
    "Rows a shadow answered: did it predict production's class (- for numbers)",
    ["shadow", "agreed"],
    namespace=NAMESPACE,
)
SHADOW_SECONDS = Histogram(
    "shadow_batch_seconds",
    "How long a shadow took to answer a batch of mirrored requests",
    ["shadow"],
    namespace=NAMESPACE,
)
MAX_CLASSES = 50  # classes beyond these are counted as "other": each label value is a series Prometheus keeps
counted_classes: set[str] = set()


def instrument(app: Flask) -> None:
    """Count and time every request the app answers, labelled by its route (not its path: /jobs/<job_id> is one)."""

    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("metrics_started", time.perf_counter()))
        return response


def count_predictions(predicted: Iterable, problem_type: str) -> None:
    """Record a request's predictions: for a classifier, how many rows got each class."""
    if problem_type != "classification":
        return
    for label, rows in collections.Counter(map(str, predicted)).items():  # not pandas: microseconds matter for one row
        if label not in counted_classes and len(counted_classes) < MAX_CLASSES:
            counted_classes.add(label)
        PREDICTIONS.labels(label if label in counted_classes else "other").inc(rows)


def exposition(settings: Settings) -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type: of every web process when they share a
    folder, else of this one."""
    if settings.variables.prometheus_multiproc_dir is None:
        web = generate_latest(REGISTRY)
    else:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, settings.variables.prometheus_multiproc_dir)
        web = generate_latest(registry)
    if not settings.redis_url:
        return web, CONTENT_TYPE_LATEST
    return web + generate_latest(worker_registry(settings.redis_url, settings.environment)), CONTENT_TYPE_LATEST


@functools.cache
def worker_registry(redis_url: str, environment: str) -> CollectorRegistry:
    """The worker's metrics, read from Redis at each scrape through one client per process, not one per scrape."""
    registry = CollectorRegistry()
    registry.register(WorkerMetrics(redis_url, environment))
    return registry
