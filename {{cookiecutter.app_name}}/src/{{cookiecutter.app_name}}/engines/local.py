"""A retrain's rows in the worker's own memory: one pandas frame, read whole, trained on by the search as it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..config import AppConfig, Settings
from ..ml import SearchBudget, TrainedModel, score, split_features, train_model
from ..ml.holdout import Holdout
from ..ml.row_hash import digest, row_hashes
from ..packaged_model import EXAMPLE_ROWS

Rules = tuple[Holdout, ...]  # rows are test rows when every rule holds them out


def canonical_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows in an order that depends only on their content, and each row's hash in that order.

    Backends return rows in whatever order they like; training, and so the scores, must not depend on it.
    """
    hashes = row_hashes(frame)
    order = np.argsort(hashes, kind="stable")
    return frame.iloc[order].reset_index(drop=True), hashes[order]


def search_budget(app: AppConfig) -> SearchBudget:
    return SearchBudget(
        max_seconds=app.max_minutes_to_train * 60,
        patience=app.max_models_with_no_score_change,
        workers=app.number_of_train_workers,
        folds=app.validation_folds,
        max_predict_ms_per_1000_rows=app.max_predict_ms_per_1000_rows,
    )


def train_challenger(rows: pd.DataFrame, settings: Settings, progress: Callable[[float], None] | None = None):
    """A model of `rows` as app config asks for it: target, problem type, score, training budget, column roles."""
    app = settings.app
    return train_model(
        rows,
        app.target,
        app.problem_type,
        app.score_type,
        search_budget(app),
        seed=app.random_seed,
        feature_overrides=asdict(app.features),
        time_column=app.time_column,
        progress=progress,
    )


class LocalTable:
    """The table read whole into this process, in canonical order."""

    engine = "local"

    def __init__(self, frame: pd.DataFrame):
        self.frame, self.hashes = canonical_order(frame)
        self.columns, self.rows, self.data_hash = list(self.frame.columns), len(self.frame), digest(self.hashes)
        self.training: pd.DataFrame | None = None
        self._masks: dict[Rules, np.ndarray] = {}

    def rule_frame(self, settings: Settings) -> pd.DataFrame:
        return self.frame

    def mask(self, rules: Rules) -> np.ndarray:
        if rules not in self._masks:
            self._masks[rules] = np.logical_and.reduce([rule.mask(self.frame) for rule in rules])
        return self._masks[rules]

    def split(self, holdout: Holdout) -> tuple[int, int]:
        """Set the training rows: those `holdout` does not hold out. How many are trained on, and held out."""
        held_out = self.mask((holdout,))
        self.training = self.frame[~held_out]
        return len(self.training), int(held_out.sum())

    def train(self, settings: Settings, progress: Callable[[float], None] | None = None) -> TrainedModel:
        return train_challenger(self.training, settings, progress)

    def held_out_by(self, rules: Rules) -> tuple[int, str]:
        """How many rows every rule holds out, and the hash of those rows."""
        mask = self.mask(rules)
        return int(mask.sum()), digest(self.hashes[mask])

    def score(self, model, rules: Rules, target: str, score_type: str) -> float:
        features, truth = split_features(self.frame[self.mask(rules)], target)
        return score(model, features, truth, score_type)

    def example(self, target: str) -> pd.DataFrame:
        return split_features(self.training.head(EXAMPLE_ROWS), target)[0]
