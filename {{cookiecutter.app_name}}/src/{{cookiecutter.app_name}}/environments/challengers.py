"""Challenger environments: a copy of an environment's data, model and app versions and config, and their removal."""

from __future__ import annotations

from dataclasses import replace

import yaml

from ..config import (
    APP_NAME,
    FixFirstError,
    Settings,
    check_environment_name,
    environment_config_path,
    load_environment_config,
)
from ..datastore import open_datastore
from ..provenance import created_by
from ..registry import Deployment, EnvironmentEvent, ModelRegistry, open_registry
from .chain import environments
from .deployments import move


class ChallengerError(FixFirstError):
    """A challenger cannot be created or an environment cannot be deleted; the message says why."""


def create_challenger(settings: Settings, name: str, from_environment: str) -> list[str]:
    """Copy `from_environment`'s data, model and app versions and config into a new environment `name`; what was
    made, as lines. Either all of it is made or none: whatever was made before a step failed is removed again."""
    check_environment_name(name)
    registry = open_registry(settings)
    known = [info.name for info in environments(settings, registry)]
    if name in known:
        raise ChallengerError(f"environment {name!r} already exists; pick another name or delete it first")
    if from_environment not in known:
        raise ChallengerError(f"there is no environment {from_environment!r} to copy; the environments are {known}")
    target_config = environment_config_path(settings.root, name)
    if target_config.exists():
        raise ChallengerError(f"{target_config.name} already exists: remove it, or pick another name")

    # The data first: the slowest step and the likeliest to fail (space, permissions), while nothing else has moved.
    store = open_datastore(settings, from_environment).clone(name)
    made = [f"data: {store} ({store.count()} rows), copied from {from_environment}"]
    try:
        copied = registry.deployment(from_environment)
        who = created_by(settings)
        registry.record_challenger(name, from_environment, created_by=who)
        if move(registry, name, "challenger", who, from_environment, **copied.as_dict()) is None:  # nothing to copy
            registry.record_event(
                EnvironmentEvent("challenger", name, copied, copied, source=from_environment, who=who)
            )
        version = copied.model_version
        made.append(f"model: alias {name} -> v{version}" if version else "model: none yet (it serves nothing)")
        made.append(f"app: {copied.app_version}" if copied.app_version else "app: none deployed yet")
        source_config = load_environment_config(settings.root, from_environment)
        # A challenger is where a person tries a change out: its better models are served at once.
        config = replace(source_config, app_title_extension=f" - ({name})", auto_promote=True).to_dict()
        target_config.write_text(
            f"# Challenger of {from_environment}: promotes to {from_environment}. Delete it with\n"
            f"#   python -m {APP_NAME} env delete {name}\n" + yaml.safe_dump(config, sort_keys=False)
        )
        made.append(f"config: {target_config.relative_to(settings.root)}, copied from {from_environment}")
    except BaseException:
        remove(settings, registry, name)
        raise
    return made


def delete_environment(settings: Settings, name: str) -> list[str]:
    """Remove a challenger's data, alias, app record, config and record; the chain's environments cannot be deleted."""
    if name in settings.app.environments:
        raise ChallengerError(
            f"{name} is part of the promotion chain {list(settings.app.environments)} and cannot be deleted; "
            "only challengers can"
        )
    registry = open_registry(settings)
    if name not in registry.challengers():
        raise ChallengerError(f"there is no challenger {name!r}")
    before = registry.deployment(name)
    removed = remove(settings, registry, name)
    registry.record_event(EnvironmentEvent("delete", name, before, Deployment(), who=created_by(settings)))
    return removed


def remove(settings: Settings, registry: ModelRegistry, name: str) -> list[str]:
    """Whatever exists of environment `name`, removed; what was removed, as lines."""
    removed = []
    if open_datastore(settings, name).drop():
        removed.append(f"data of {name}")
    if registry.delete_alias(name):
        removed.append(f"model alias {name}")
    registry.delete_app(name)
    path = environment_config_path(settings.root, name)
    if path.exists():
        path.unlink()
        removed.append(str(path.relative_to(settings.root)))
    registry.forget_challenger(name)
    registry.forget_shadow(name)
    return removed
