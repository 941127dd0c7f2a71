"""Several fitted models of the same rows as one: their predictions averaged with weights."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if


def _members_classify(ensemble: AveragedModels) -> bool:
    return hasattr(ensemble.members[0][1], "predict_proba")


class AveragedModels(BaseEstimator):
    """Class probabilities (classifiers) or values (regressors) of fitted models, averaged with weights summing to 1.

    It is made of members fitted already; `fit` refits each of them on other rows.
    """

    def __init__(self, members: list[tuple[float, Any]]):
        self.members = members

    def fit(self, features, truth, **fit_params) -> AveragedModels:
        for _, model in self.members:
            model.fit(features, truth, **fit_params)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return self.members[0][1].classes_

    @available_if(_members_classify)
    def predict_proba(self, features) -> np.ndarray:
        return sum(weight * model.predict_proba(features) for weight, model in self.members)

    def predict(self, features) -> np.ndarray:
        if _members_classify(self):
            return self.classes_[self.predict_proba(features).argmax(axis=1)]
        return sum(weight * model.predict(features) for weight, model in self.members)
