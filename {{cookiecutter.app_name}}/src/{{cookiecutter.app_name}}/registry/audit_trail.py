"""The audit trail: every change of what an environment runs (promotion, rollback, deploy, retrain, a challenger's
creation and deletion), kept as finished runs of one MLflow experiment that every laptop and CI job shares."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .records import ENVIRONMENT_TAG, HISTORY_EXPERIMENT, Deployment


@dataclass(frozen=True)
class EnvironmentEvent:
    """One change of what an environment runs: a promotion, rollback, deploy, retrain or a challenger's creation."""

    action: str
    environment: str
    before: Deployment
    after: Deployment
    source: str = ""  # the environment it came from, for a promotion or a challenger
    who: str = ""
    trigger: str = ""  # what started it, for a retrain: upload, schedule, drift, score_drop, new_rows or manual
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def tags(self) -> dict[str, str]:
        return {
            "action": self.action,
            ENVIRONMENT_TAG: self.environment,
            "source": self.source,
            "who": self.who,
            "trigger": self.trigger,
            "at": self.at.isoformat(),
            "before": json.dumps(self.before.as_dict()),
            "after": json.dumps(self.after.as_dict()),
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> EnvironmentEvent:
        return cls(
            action=tags["action"],
            environment=tags[ENVIRONMENT_TAG],
            before=Deployment.from_dict(json.loads(tags["before"])),
            after=Deployment.from_dict(json.loads(tags["after"])),
            source=tags.get("source", ""),
            who=tags.get("who", ""),
            trigger=tags.get("trigger", ""),
            at=datetime.fromisoformat(tags["at"]),
        )


class AuditTrail:
    """The history part of ModelRegistry, which gives it `client`, `model_name`, `artifact_root` and `_reading`."""

    def _history_experiment_id(self) -> str:
        name = HISTORY_EXPERIMENT.format(model_name=self.model_name)
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return self.client.create_experiment(name, artifact_location=f"{self.artifact_root.rstrip('/')}/history")

    def record_event(self, event: EnvironmentEvent) -> None:
        """Add `event` to the audit trail: a finished run in the history experiment, tagged with what changed.

        The history lists finished runs only, so an entry is on record once it is finished. If finishing it fails,
        even where the server did it and only its answer was lost, the entry is deleted: the caller undoes the
        change, and the history must not tell of a change that was undone."""
        at = int(event.at.timestamp() * 1000)
        run = self.client.create_run(
            self._history_experiment_id(),
            start_time=at,
            tags=event.tags(),
            run_name=f"{event.action} {event.environment}",
        )
        try:
            self.client.set_terminated(run.info.run_id, end_time=at)
        except Exception:
            with suppress(Exception):  # the first failure is the one to report; an unfinished entry is never listed
                self.client.delete_run(run.info.run_id)
            raise

    def events(self, environment: str | None = None, limit: int = 1000) -> list[EnvironmentEvent]:
        """The audit trail, newest first; only `environment`'s changes if it is given."""
        with self._reading():
            experiment = self.client.get_experiment_by_name(HISTORY_EXPERIMENT.format(model_name=self.model_name))
            if experiment is None:
                return []
            environment_only = [f"tags.{ENVIRONMENT_TAG} = '{environment}'"] if environment else []
            runs = self.client.search_runs(
                [experiment.experiment_id],
                filter_string=" and ".join(["attributes.status = 'FINISHED'", *environment_only]),
                order_by=["attributes.start_time DESC"],
                max_results=limit,
            )
        # Several changes can share a millisecond; the microseconds in `at` keep their order.
        return sorted((EnvironmentEvent.from_tags(run.data.tags) for run in runs), key=lambda e: e.at, reverse=True)
