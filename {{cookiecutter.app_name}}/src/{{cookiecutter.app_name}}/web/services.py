"""What the running app's requests share: settings, the registry, the champion and the retrain queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import current_app

from ..config import Settings
from ..monitoring.prediction_log import PredictionLog
from ..registry import ModelRegistry
from ..worker.celery_app import retrain_queue
from ..worker.queue import RetrainQueue
from .champion import Champion
from .comparisons import Comparisons
from .shadow import ShadowMirror

REQUEST_PATIENCE_SECONDS = 3  # a request rides out a Redis restart this long, then answers 503


class QueueUnavailable(Exception):
    """No Redis to put retrains on."""


@dataclass
class Services:
    settings: Settings
    registry: ModelRegistry
    champion: Champion
    _queue: RetrainQueue | None = field(default=None, repr=False)
    prediction_log: PredictionLog | None = field(init=False, default=None)
    shadow_mirror: ShadowMirror | None = field(init=False, default=None)
    comparisons: Comparisons = field(init=False)

    def __post_init__(self) -> None:
        self.comparisons = Comparisons(self.settings, self.registry)
        # Without Redis there is no worker to take the log in: then predictions go unrecorded, and none are mirrored
        # to a shadow, whose answers would have nowhere to go.
        if self.settings.redis_url:
            app = self.settings.app
            self.prediction_log = PredictionLog(
                self.settings.redis_url, self.settings.environment, app.prediction_sample_rate
            )
            key = self.settings.variables.shadow_api_key or self.settings.api_key
            classifies = app.problem_type == "classification"
            self.shadow_mirror = ShadowMirror(self.champion, self.prediction_log, key, classifies, app.target)

    def retrain_queue(self) -> RetrainQueue:
        if self._queue is None:
            if not self.settings.redis_url:
                raise QueueUnavailable("REDIS_URL is not set; start the app with local/run_server.py, or set it")
            self._queue = retrain_queue(self.settings, REQUEST_PATIENCE_SECONDS)
        try:
            self._queue.redis.ping()
        except redis.RedisError as problem:
            raise QueueUnavailable(f"the Redis at REDIS_URL cannot be reached: {problem}") from problem
        return self._queue


def services() -> Services:
    """The running app's services (settings, registry, champion, retrain queue), as create_app made them."""
    return current_app.extensions[Services.__name__]
