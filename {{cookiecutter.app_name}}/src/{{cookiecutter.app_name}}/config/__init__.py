"""App config, environment config and the environment variables that override them.

App config (config/app_config.yml) travels with the code. Environment config (config/environment_<name>.yml) stays
with an environment. Secrets and locations come from environment variables, so the same files work on a laptop and
in a cluster. This package is the only part that reads them; the rest of the app is handed typed values:

errors.py      what a person must put right first, and how messages name things
app_config.py  the two config files, read and checked; environment names
variables.py   every environment variable, declared; the only reader (and changer) of the process environment
settings.py    all three resolved for one process and the environment it works on: load_settings()
"""

from .app_config import (
    CLASSIFICATION_SCORES,
    LOGICAL_TYPES,
    REGRESSION_SCORES,
    AppConfig,
    EnvironmentConfig,
    FeatureOverrides,
    RetrainWhen,
    app_config_path,
    check_environment_name,
    cron_fields,
    environment_config_path,
    is_pull_request,
    load_app_config,
    load_environment_config,
    read_yaml,
)
from .errors import ConfigError, FixFirstError, names_list
from .settings import (
    APP_NAME,
    DEFAULT_ENVIRONMENT,
    SELECTED_ENVIRONMENT_FILE,
    Settings,
    cluster_service_url,
    load_settings,
)
from .variables import (
    FALSE_WORDS,
    TRUE_WORDS,
    Variables,
    boolean_word,
    bound_registry_waits,
    child_environment,
    read_variables,
    switch_off_mlflow_telemetry,
)

__all__ = [
    "APP_NAME",
    "CLASSIFICATION_SCORES",
    "DEFAULT_ENVIRONMENT",
    "FALSE_WORDS",
    "LOGICAL_TYPES",
    "REGRESSION_SCORES",
    "SELECTED_ENVIRONMENT_FILE",
    "TRUE_WORDS",
    "AppConfig",
    "ConfigError",
    "EnvironmentConfig",
    "FeatureOverrides",
    "FixFirstError",
    "RetrainWhen",
    "Settings",
    "Variables",
    "app_config_path",
    "boolean_word",
    "bound_registry_waits",
    "check_environment_name",
    "cluster_service_url",
    "child_environment",
    "cron_fields",
    "environment_config_path",
    "is_pull_request",
    "load_app_config",
    "load_environment_config",
    "load_settings",
    "names_list",
    "read_variables",
    "read_yaml",
    "switch_off_mlflow_telemetry",
]
