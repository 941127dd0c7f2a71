"""config/component_config.yml: the versions an environment ran when the code was committed.

The git hook writes it from the selected environment, so that git records with every commit which model version
and app version (with its app config) the code was tested with; CD deploys exactly what it lists.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..config import APP_NAME, ConfigError, Settings
from ..registry import Deployment

COMPONENT_CONFIG = Path("config/component_config.yml")
HEADER = (
    "# The versions environment [{environment}] ran when this was written: CD deploys exactly these.\n"
    "# Written by the pre-commit hook (python .git_hooks/pre-commit); do not edit by hand.\n"
)


def as_mapping(settings: Settings, environment: str, deployment: Deployment) -> dict[str, Any]:
    """The file's content for `environment` running `deployment`."""
    model = {"type": "model", "name": settings.app.model_name, "version": deployment.model_version}
    app = {
        "type": "app",
        "name": APP_NAME,
        "version": deployment.app_version,
        "app_config": deployment.app_config,
    }
    return {"environment": environment, "components": [{"component": model}, {"component": app}]}


def render(mapping: dict[str, Any]) -> str:
    return HEADER.format(environment=mapping["environment"]) + yaml.safe_dump(mapping, sort_keys=False)


def read(path: Path) -> dict[str, Any] | None:
    """The file's content, None if there is no file; a ConfigError if it is not a component config."""
    if not path.is_file():
        return None
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name} is not valid YAML: {error}") from error
    if not isinstance(content, dict) or not isinstance(content.get("components"), list):
        raise ConfigError(f"{path.name} must hold 'environment' and a list of 'components'; rewrite it with the hook")
    return content


def read_committed(root: Path) -> dict[str, Any]:
    """The app's component config, which must exist: CI deploys and copies what it lists."""
    listed = read(root / COMPONENT_CONFIG)
    if listed is None:
        raise ConfigError(f"there is no {COMPONENT_CONFIG}: write it with `python .git_hooks/pre-commit`")
    return listed


def deployment_of(mapping: dict[str, Any], settings: Settings) -> Deployment:
    """The model and app versions a component config lists, checked against this app."""
    found = {}
    for entry in mapping["components"]:
        component = entry.get("component", {}) if isinstance(entry, dict) else {}
        found[component.get("type")] = component
    model, app = found.get("model"), found.get("app")
    if model is None or app is None:
        raise ConfigError(f"{COMPONENT_CONFIG} must list a model and an app component; rewrite it with the hook")
    if model.get("name") != settings.app.model_name:
        raise ConfigError(
            f"{COMPONENT_CONFIG} lists model {model.get('name')!r}, but this app's model is {settings.app.model_name!r}"
        )
    if not isinstance(model.get("version"), int):
        raise ConfigError(f"{COMPONENT_CONFIG} lists no model version: {model.get('version')!r}")
    return Deployment(model["version"], app.get("version"), app.get("app_config") or {})


def write(path: Path, mapping: dict[str, Any]) -> None:
    """Replace the file in one step: a reader sees the old content or the new, never half of it."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as temp:
        temp.write(render(mapping))
    os.replace(temp.name, path)


def difference(committed: dict[str, Any] | None, live: dict[str, Any]) -> str:
    """What would change in the file, as a unified diff."""
    old = yaml.safe_dump(committed, sort_keys=False).splitlines() if committed else []
    new = yaml.safe_dump(live, sort_keys=False).splitlines()
    source = str(COMPONENT_CONFIG) if committed else "(no file yet)"
    return "\n".join(difflib.unified_diff(old, new, source, f"[{live['environment']}]", lineterm=""))
