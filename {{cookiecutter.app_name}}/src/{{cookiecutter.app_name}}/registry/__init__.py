"""The MLflow model registry every environment shares: model versions, what each environment runs, the challengers
(model_registry.py), and the history of every change to them (audit_trail.py). Promotion, rollback and deploy change
several of these at once, all or nothing: environments/deployments.py.
"""

from .audit_trail import EnvironmentEvent
from .model_registry import ModelRegistry, ModelVersion, ServedAs, open_registry
from .records import (
    APP_TAG,
    CHALLENGER_TAG,
    ENVIRONMENT_TAG,
    HISTORY_EXPERIMENT,
    SHADOW_TAG,
    Deployment,
    RegistryError,
    Shadow,
)

__all__ = [
    "APP_TAG",
    "CHALLENGER_TAG",
    "ENVIRONMENT_TAG",
    "HISTORY_EXPERIMENT",
    "SHADOW_TAG",
    "Deployment",
    "EnvironmentEvent",
    "ModelRegistry",
    "ModelVersion",
    "RegistryError",
    "ServedAs",
    "Shadow",
    "open_registry",
]
