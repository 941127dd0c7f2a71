"""Which environments exist and where each one promotes to."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ..registry import ModelRegistry


@dataclass(frozen=True)
class EnvironmentInfo:
    name: str
    promotes_to: str | None  # None for the last environment of the chain
    challenger_of: str | None = None  # for a challenger: the environment it was copied from


def environments(settings: Settings, registry: ModelRegistry) -> list[EnvironmentInfo]:
    """The chain in promotion order, then the challengers by name."""
    chain = settings.app.environments
    found = [EnvironmentInfo(name, chain[i + 1] if i + 1 < len(chain) else None) for i, name in enumerate(chain)]
    for name, source in sorted(registry.challengers().items()):
        found.append(EnvironmentInfo(name, source, challenger_of=source))
    return found


def promotes_to(settings: Settings, registry: ModelRegistry, environment: str) -> str | None:
    for info in environments(settings, registry):
        if info.name == environment:
            return info.promotes_to
    return None
