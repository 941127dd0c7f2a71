"""What the worker knows, as Prometheus metrics: retrains by outcome and trigger, and the newest report's drift share
and scores.

The worker has no port to scrape, so it keeps these in Redis, and the web app's /metrics reads them at each scrape
(`WorkerMetrics`, added beside the web processes' own metrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..config import APP_NAME

if TYPE_CHECKING:
    from .reports import MonitorReport

SCRAPE_TIMEOUT_SECONDS = 1.0
REPORT_GAUGES = {
    "drift_share": "Of the input columns the newest monitor report tested, the share that drifted",
    "labelled_score": "The champion's score on rows labelled since it was trained",
    "registered_score": "The champion's score when it was chosen, on its held-out rows",
    "score_drop": "How far the champion's score on newly labelled rows is below its registered score",
}


def retrains_key(environment: str) -> str:
    return f"metrics:{environment}:retrains"


def report_key(environment: str) -> str:
    return f"metrics:{environment}:monitor"


def count_retrain(client: redis.Redis, environment: str, outcome: str, trigger: str) -> None:
    """One more retrain: promoted, awaiting_approval, kept or failed; started by `trigger`."""
    client.hincrby(retrains_key(environment), f"{outcome}|{trigger}", 1)


def keep_report(client: redis.Redis, report: MonitorReport) -> None:
    values = {name: getattr(report, name) for name in REPORT_GAUGES if getattr(report, name) is not None}
    with client.pipeline() as pipeline:
        pipeline.delete(report_key(report.environment))  # a value the newest report lacks is not reported
        if values:
            pipeline.hset(report_key(report.environment), mapping=values)
        pipeline.execute()


class WorkerMetrics:
    """A collector for the web app's /metrics: the worker's counts and the newest report, read from Redis."""

    def __init__(self, redis_url: str, environment: str):
        self.redis = redis.Redis.from_url(
            redis_url, socket_timeout=SCRAPE_TIMEOUT_SECONDS, socket_connect_timeout=SCRAPE_TIMEOUT_SECONDS
        )
        self.environment = environment

    def collect(self) -> Iterator[Metric]:
        try:
            retrains = self.redis.hgetall(retrains_key(self.environment))
            report = self.redis.hgetall(report_key(self.environment))
        except redis.RedisError:
            return  # the scrape shows the web app's own metrics; these are back at the next one
        counter = CounterMetricFamily(
            f"{APP_NAME}_retrains", "Retrains the worker ran, by outcome and trigger", labels=["outcome", "trigger"]
        )
        for labels, count in retrains.items():
            counter.add_metric(labels.decode().split("|", 1), int(count))
        yield counter
        for name, description in REPORT_GAUGES.items():
            if name.encode() in report:
                yield GaugeMetricFamily(f"{APP_NAME}_{name}", description, value=float(report[name.encode()]))
