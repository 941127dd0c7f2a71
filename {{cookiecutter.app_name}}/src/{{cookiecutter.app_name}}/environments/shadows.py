"""Shadow environments: one that answers a share of another's prediction requests, unseen, recorded in the registry
so that the other's web processes learn where to mirror them (web/shadow.py)."""

from __future__ import annotations

from ..config import FixFirstError, Settings
from ..registry import ModelRegistry, Shadow
from .chain import environments


class ShadowError(FixFirstError):
    """An environment's shadow_of names no environment it can shadow."""


def record_shadow(settings: Settings, registry: ModelRegistry, url: str) -> Shadow | None:
    """Record that the settings' environment shadows the one its config's shadow_of names, answering at `url`; or,
    when its config names none, that it shadows nothing (any earlier record goes)."""
    config, name = settings.environment_config, settings.environment
    if config.shadow_of is None:
        registry.forget_shadow(name)
        return None
    known = [info.name for info in environments(settings, registry)]
    if config.shadow_of == name or config.shadow_of not in known:
        raise ShadowError(
            f"config/environment_{name}.yml: shadow_of is {config.shadow_of!r}; expected another environment, one of "
            f"{[environment for environment in known if environment != name]}"
        )
    shadow = Shadow(name, config.shadow_of, config.shadow_share, url)
    registry.record_shadow(shadow)
    return shadow
