"""What the page of a challenger or a shadow shows beside its champion: the challenger report (as `compare` makes it)
and the shadow report (as `shadow-report` makes it).

A report reads tables and predicts, so each process keeps the one it made until what it compared changes: the two
versions or the rows of the challenger's data (the challenger report), or a minute has passed (the shadow report,
whose log grows with every mirrored request). One report is made at a time; the other requests wait for it. No
environment of the chain is compared here: production's processes never do this work.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..comparison import ComparisonError, compare
from ..comparison.report import versions_to_compare
from ..comparison.shadow import shadow_report
from ..config import Settings
from ..datastore import open_datastore
from ..registry import ModelRegistry

SHADOW_REPORT_SECONDS = 60


class Comparisons:
    def __init__(self, settings: Settings, registry: ModelRegistry):
        self.settings, self.registry = settings, registry
        self._lock = threading.Lock()
        self._challenger: tuple[Any, dict[str, Any]] | None = None  # (what it compared, the report)
        self._shadow: tuple[float, dict[str, Any]] | None = None  # (when it was made, the report)

    def applies(self) -> bool:
        """Whether this environment is a challenger or a shadow."""
        name = self.settings.environment
        return name in self.registry.challengers() or any(shadow.name == name for shadow in self.registry.shadows())

    def reports(self) -> dict[str, Any]:
        """{"challenger": the challenger report or why there is none, "shadow": the shadow report or None}."""
        with self._lock:
            return {"challenger": self._challenger_report(), "shadow": self._shadow_report()}

    def _challenger_report(self) -> dict[str, Any]:
        try:
            compared = (versions_to_compare(self.settings, self.registry), open_datastore(self.settings).count())
            if self._challenger is None or self._challenger[0] != compared:
                self._challenger = (compared, compare(self.settings, self.registry).to_dict())
        except ComparisonError as problem:
            return {"problem": str(problem)}
        return self._challenger[1]

    def _shadow_report(self) -> dict[str, Any] | None:
        name = self.settings.environment
        if not any(shadow.name == name for shadow in self.registry.shadows()):
            return None
        if self._shadow is None or time.monotonic() - self._shadow[0] > SHADOW_REPORT_SECONDS:
            self._shadow = (time.monotonic(), shadow_report(self.settings, self.registry).to_dict())
        return self._shadow[1]
