"""Environments: the promotion chain from app config (integration -> uat -> production), and challengers.

An environment is kept in step across three places: its data (a DuckDB table or BigQuery dataset), its registry
alias (the model version it serves) and its config/environment_<name>.yml. A challenger is a copy of all three taken
from any environment, for one person or one pull request; it promotes to the environment it was copied from.
Which challengers exist is recorded in the registry, which every laptop and CI job shares.
"""

from .chain import EnvironmentInfo, environments, promotes_to
from .challengers import ChallengerError, create_challenger, delete_environment

__all__ = [
    "ChallengerError",
    "EnvironmentInfo",
    "create_challenger",
    "delete_environment",
    "environments",
    "promotes_to",
]
