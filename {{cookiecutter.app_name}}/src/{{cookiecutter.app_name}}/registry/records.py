"""What the registry records about environments, shared by the model registry and its audit trail: the tags it
writes, and what an environment runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import FixFirstError

CHALLENGER_TAG = "challenger."  # a registered-model tag per challenger environment: challenger.<name> = its record
SHADOW_TAG = "shadow."  # a registered-model tag per shadow environment: shadow.<name> = whom it shadows, and where
APP_TAG = "app."  # a registered-model tag per environment: app.<environment> = the app version it runs, and its config
ENVIRONMENT_TAG = "environment"  # on a version, its training run and a history entry: the environment it belongs to
HISTORY_EXPERIMENT = "{model_name} environment history"  # one run per change of what an environment runs


class RegistryError(FixFirstError):
    """The registry could not be reached or does not hold what was asked for."""


@dataclass(frozen=True)
class Deployment:
    """What an environment runs: a model version, and an app version with the app config it runs with."""

    model_version: int | None = None
    app_version: str | None = None
    app_config: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "app_version": self.app_version, "app_config": self.app_config}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Deployment:
        return cls(raw.get("model_version"), raw.get("app_version"), raw.get("app_config") or {})

    def describe(self) -> str:
        model = f"model v{self.model_version}" if self.model_version is not None else "no model"
        return f"{model}, app {self.app_version or '(none recorded)'}"


@dataclass(frozen=True)
class Shadow:
    """An environment that answers a share of another's prediction requests, unseen: where it answers them."""

    name: str
    shadow_of: str
    share: float
    url: str  # its web app, as the shadowed environment's web processes reach it
