"""What each environment runs, and changing it: deploys, promotions and rollbacks, each whole or not at all.

An environment runs a model version (its registry alias) and an app version with that version's app config (a
record beside the alias). A change moves both and adds an entry to the audit trail. If any step fails, the steps
already taken are undone, so an environment never runs a model from one promotion and an app from another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..config import FixFirstError, Settings, app_config_path, read_yaml
from ..provenance import app_version, created_by
from ..registry import Deployment, EnvironmentEvent, ModelRegistry
from .chain import environments, promotes_to


class DeploymentError(FixFirstError):
    """An environment could not be changed; the message says what it runs now."""


def known_environment(settings: Settings, registry: ModelRegistry, name: str) -> None:
    known = [info.name for info in environments(settings, registry)]
    if name not in known:
        raise DeploymentError(f"there is no environment {name!r}; the environments are {known}")


def move(
    registry: ModelRegistry,
    environment: str,
    action: str,
    who: str,
    source: str = "",
    trigger: str = "",
    **change: Any,
) -> EnvironmentEvent | None:
    """Change what `environment` runs (`change`: its model_version, app_version and/or app_config) and record it
    (with what started it, for a retrain); None if it already ran that. All of it happens or none of it.

    Only the fields named change, on what the registry holds now: a deploy of the app while a retrain promotes
    its model keeps both."""
    before = registry.deployment(environment)
    after = replace(before, **change)
    if after == before:
        return None
    event = EnvironmentEvent(action, environment, before, after, source=source, who=who, trigger=trigger)
    undo: list[Callable[[], None]] = []
    try:
        if after.model_version != before.model_version:
            registry.set_alias(environment, after.model_version)
            undo.append(
                lambda: (
                    registry.set_alias(environment, before.model_version)
                    if before.model_version is not None
                    else registry.delete_alias(environment)
                )
            )
        if (after.app_version, after.app_config) != (before.app_version, before.app_config):
            registry.set_app(environment, after.app_version, after.app_config)
            undo.append(
                lambda: (
                    registry.set_app(environment, before.app_version, before.app_config)
                    if before.app_version is not None
                    else registry.delete_app(environment)
                )
            )
        registry.record_event(event)
    except Exception as error:
        stuck = []
        for step in reversed(undo):
            try:
                step()
            except Exception as undo_error:  # noqa: BLE001  report every step that could not be undone
                stuck.append(str(undo_error))
        if stuck:
            raise DeploymentError(
                f"{action} of {environment} failed half-way ({error}) and could not be undone ({'; '.join(stuck)}). "
                f"It ran {before.describe()}; check it with `status` and run the command again"
            ) from error
        raise DeploymentError(
            f"{action} of {environment} failed ({error}); nothing moved: it still runs {before.describe()}"
        ) from error
    return event


def checkout_app(settings: Settings) -> tuple[str, dict]:
    """The app version of this checkout (or image) and the app config it holds."""
    return app_version(settings), read_yaml(app_config_path(settings.root))


def deploy_checkout(settings: Settings, registry: ModelRegistry, environment: str) -> EnvironmentEvent | None:
    """Record that `environment` runs this checkout's app version and app config; its model stays."""
    known_environment(settings, registry, environment)
    version, app_config = checkout_app(settings)
    return move(registry, environment, "deploy", created_by(settings), app_version=version, app_config=app_config)


def deploy(
    settings: Settings, registry: ModelRegistry, environment: str, target: Deployment, source: str = ""
) -> EnvironmentEvent | None:
    """Make `environment` run exactly `target` (a component config's versions)."""
    known_environment(settings, registry, environment)
    check_model_version(registry, target.model_version)
    return move(registry, environment, "deploy", created_by(settings), source, **target.as_dict())


def promote(settings: Settings, registry: ModelRegistry, source: str) -> tuple[str, EnvironmentEvent | None]:
    """Move `source`'s model, app version and app config to the environment it promotes to, as one step."""
    known_environment(settings, registry, source)
    target = promotes_to(settings, registry, source)
    if target is None:
        raise DeploymentError(f"{source} is the end of the promotion chain {list(settings.app.environments)}")
    promoted = registry.deployment(source)
    if promoted.model_version is None:
        raise DeploymentError(f"{source} serves no model yet, so there is nothing to promote: retrain it first")
    return target, move(registry, target, "promote", created_by(settings), source, **promoted.as_dict())


def approve(settings: Settings, registry: ModelRegistry, environment: str, version: int) -> EnvironmentEvent | None:
    """Make `environment` serve `version`, a challenger retrained there that beat its champion and waits for a person
    (the environment's auto_promote is false)."""
    known_environment(settings, registry, environment)
    check_model_version(registry, version)
    found = registry.version(version)
    if found.environment != environment:
        raise DeploymentError(
            f"v{version} was trained in {found.environment or 'no recorded environment'}, not {environment}: to move "
            f"a model between environments, promote the environment it serves (promote --from ENV)"
        )
    return move(registry, environment, "approve", created_by(settings), model_version=version)


def rollback(
    settings: Settings, registry: ModelRegistry, environment: str, to_version: int | None = None
) -> EnvironmentEvent | None:
    """Put `environment` back as it was before its last change, or make it serve model `to_version`."""
    known_environment(settings, registry, environment)
    current = registry.deployment(environment)
    if to_version is not None:
        check_model_version(registry, to_version)
        return move(registry, environment, "rollback", created_by(settings), model_version=to_version)
    last = next(iter(registry.events(environment, limit=1)), None)
    if last is None or last.after != current:
        raise DeploymentError(
            f"the history holds no change of {environment} that led to what it runs now ({current.describe()}); "
            "name the model version to go back to with --to-version N"
        )
    if last.before.model_version is None:
        raise DeploymentError(
            f"before its last change ({last.action} at {last.at:%Y-%m-%d %H:%M}), {environment} served no model; "
            "name the model version to go back to with --to-version N"
        )
    return move(registry, environment, "rollback", created_by(settings), **last.before.as_dict())


def check_model_version(registry: ModelRegistry, version: int | None) -> None:
    if version is None:
        raise DeploymentError("a model version is needed: an environment cannot be deployed to serve no model")
    found = registry.version(version)
    if found is None:
        known = sorted(v.version for v in registry.versions())  # read all only to say which exist
        raise DeploymentError(f"there is no model version v{version}; the versions are {known}")
    if not found.passed:
        raise DeploymentError(f"v{version} failed the quality gate when it was trained, so no environment may serve it")
