"""The model an environment serves, kept in step with its registry alias.

Requests never wait on the registry. They get the model already loaded, while a background thread checks the alias
at most every `refresh_seconds` (started by the first request that finds a check due), loads a new champion beside
the old one and swaps it in with a single assignment: requests in flight finish on the model they started with.
When the registry is down or hung, the loaded model keeps serving and `state()` says what is wrong. Only a process
that has not finished its first check has nothing to serve yet: its requests wait for that check, up to
FIRST_CHECK_WAIT_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from ..ml import RecordScorer, used_columns
from ..registry import ModelRegistry, Shadow
from .metrics import SERVED_VERSION

logger = logging.getLogger(__name__)

FIRST_CHECK_WAIT_SECONDS = 30


@dataclass(frozen=True)
class ServedModel:
    version: int
    model: Pipeline
    input_schema: dict[str, str]  # the columns the model reads, and their types
    scorer: RecordScorer | None  # the quick path for a few JSON records, when the model's parts allow it


@dataclass(frozen=True)
class ChampionState:
    served: ServedModel | None
    checked: bool  # the registry has answered at least once, so `served` is what the environment serves
    problem: str | None  # why the last check failed; None when it succeeded
    failing_for_seconds: float | None


class Champion:
    def __init__(self, registry: ModelRegistry, environment: str, refresh_seconds: float):
        self.registry = registry
        self.environment = environment
        self.refresh_seconds = refresh_seconds
        self._served: ServedModel | None = None
        # The environments that shadow this one (shadow_of), learnt in the same check: where shadow.py mirrors to.
        self.shadows: list[Shadow] = []
        self._checked = False
        self._problem: str | None = None
        self._failing_since: float | None = None
        self._checked_at = float("-inf")
        self._checking = threading.Lock()
        self._first_check_done = threading.Event()

    def current(self) -> ServedModel | None:
        """The model to use for this request (None while the environment has no model, or none could be loaded).
        Waits only for a process's first check, up to FIRST_CHECK_WAIT_SECONDS."""
        self._check_if_due()
        self._first_check_done.wait(FIRST_CHECK_WAIT_SECONDS)  # returns at once after the first check
        return self._served

    def state(self) -> ChampionState:
        """What is served and how the registry answered, without waiting for it."""
        self._check_if_due()
        failing_since = self._failing_since
        failing_for = None if failing_since is None else round(time.monotonic() - failing_since, 1)
        return ChampionState(self._served, self._checked, self._problem, failing_for)

    def _check_if_due(self) -> None:
        if self._due() and self._checking.acquire(blocking=False):
            if self._due():  # a check may have ended between the two looks
                threading.Thread(target=self._check_then_release, name="champion-check", daemon=True).start()
            else:
                self._checking.release()

    def _due(self) -> bool:
        return time.monotonic() - self._checked_at >= self.refresh_seconds

    def _check_then_release(self) -> None:
        try:
            self._check()
        finally:
            self._checked_at = time.monotonic()
            self._first_check_done.set()
            self._checking.release()

    def _check(self) -> None:
        try:
            version, self.shadows = self.registry.serving(self.environment)
            if version is not None and (self._served is None or self._served.version != version):
                self._served = self._load(version)
                SERVED_VERSION.set(version)
                logger.info("now serving %s v%s in %s", self.registry.model_name, version, self.environment)
            elif version is None:
                self._served = None
        except Exception as problem:  # noqa: BLE001  whatever the registry does, keep serving what we have
            if self._problem is None:
                logger.warning(
                    "cannot check the champion of %s; still serving v%s: %s",
                    self.environment,
                    self._served and self._served.version,
                    problem,
                )
                self._failing_since = time.monotonic()
            self._problem = f"the model registry did not answer: {type(problem).__name__}: {problem}"[:500]
            return
        if self._problem is not None:
            logger.info("the model registry answers again")
        self._checked, self._problem, self._failing_since = True, None, None

    def _load(self, version: int) -> ServedModel:
        model, registered = self.registry.load(version), self.registry.version(version)
        if registered is None:
            raise LookupError(f"the alias of {self.environment} names v{version}, which is not registered")
        schema = registered.input_schema
        used = {column: schema[column] for column in used_columns(model)}
        return ServedModel(version, model, used, RecordScorer.compile(model, used))
