"""Features, training and scoring. Pure: DataFrames in, a fitted scikit-learn pipeline out.

Knows nothing of Flask, Celery, MLflow or BigQuery.
"""

from .ensemble import AveragedModels
from .features import ColumnRoles, build_preprocessor, infer_roles
from .prediction import predict_scores, predict_table, prediction_columns, prediction_records, used_columns
from .record_scorer import RecordScorer
from .scores import greater_is_better, score
from .training import SearchBudget, TrainedModel, split_features, stratify_by, train_model

__all__ = [
    "AveragedModels",
    "ColumnRoles",
    "RecordScorer",
    "SearchBudget",
    "TrainedModel",
    "build_preprocessor",
    "greater_is_better",
    "infer_roles",
    "predict_scores",
    "predict_table",
    "prediction_columns",
    "prediction_records",
    "score",
    "split_features",
    "stratify_by",
    "train_model",
    "used_columns",
]
