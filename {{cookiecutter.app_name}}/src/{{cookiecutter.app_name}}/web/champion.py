"""The model an environment serves, kept in step with its registry alias.

The alias is checked at most every `refresh_seconds`. A new champion is loaded by the one request that
noticed it while the others carry on with the old model, then swapped in with a single assignment, so
requests in flight finish on the model they started with and none waits or fails during a swap.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from ..ml import RecordScorer, used_columns
from ..registry import ModelRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    version: int
    model: Pipeline
    input_schema: dict[str, str]  # the columns the model reads, and their types
    scorer: RecordScorer | None  # the quick path for a few JSON records, when the model's parts allow it


class Champion:
    def __init__(self, registry: ModelRegistry, environment: str, refresh_seconds: float):
        self.registry = registry
        self.environment = environment
        self.refresh_seconds = refresh_seconds
        self._served: ServedModel | None = None
        self._checked_at = float("-inf")
        self._refreshing = threading.Lock()

    def current(self) -> ServedModel | None:
        """The model to use for this request (None while the environment has no model)."""
        # With a model to serve, nobody waits for a refresh another request is doing.
        if self._due() and self._refreshing.acquire(blocking=self._served is None):
            try:
                if self._due():  # another request may have refreshed while this one waited
                    self._refresh()
            finally:
                self._refreshing.release()
        return self._served

    def _due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_seconds

    def _refresh(self) -> None:
        try:
            version = self.registry.champion_version(self.environment)
            if version is not None and (self._served is None or self._served.version != version):
                model, registered = self.registry.load(version), self.registry.version(version)
                if registered is None:
                    raise LookupError(f"the alias of {self.environment} names v{version}, which is not registered")
                schema = registered.input_schema
                used = {column: schema[column] for column in used_columns(model)}
                self._served = ServedModel(version, model, used, RecordScorer.compile(model, used))
                logger.info("now serving %s v%s in %s", self.registry.model_name, version, self.environment)
            elif version is None:
                self._served = None
        except Exception:  # a registry hiccup must not fail requests: keep serving what we have
            logger.exception("could not check the champion of %s; still serving the previous model", self.environment)
        self._checked_at = time.monotonic()
