"""Environments: the promotion chain from app config (integration -> uat -> production), and challengers.

An environment is kept in step across four places: its data (a DuckDB table or BigQuery dataset), its registry
alias (the model version it serves), the app version it runs with that version's app config (a record beside the
alias), and its config/environment_<name>.yml. A challenger is a copy of all four taken from any environment, for one
person or one pull request; it promotes to the environment it was copied from. Every change of what an environment
runs is recorded in the registry's history, which every laptop and CI job shares.
"""

from .chain import EnvironmentInfo, environments, promotes_to
from .challengers import ChallengerError, create_challenger, delete_environment
from .deployments import DeploymentError, approve, deploy, deploy_checkout, promote, rollback

__all__ = [
    "ChallengerError",
    "DeploymentError",
    "EnvironmentInfo",
    "approve",
    "create_challenger",
    "delete_environment",
    "deploy",
    "deploy_checkout",
    "environments",
    "promote",
    "promotes_to",
    "rollback",
]
