"""Data drift: do the inputs the model is asked about now look like the rows it learnt from? Per column, then overall.

Each column gets the test Evidently applies by default, computed with SciPy: with at most 1,000 reference rows, a
two-sample Kolmogorov-Smirnov test for numbers and a chi-squared test for categories (drifted when p < 0.05); with
more, where any difference becomes significant, the Wasserstein distance in units of the reference's standard
deviation for numbers and the Jensen-Shannon distance for categories (drifted at 0.1 or more). A number column with
at most 5 different values is tested as categories. Free text and dates are not tested: a date moves on by itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

SMALL_REFERENCE_ROWS = 1000
P_VALUE = 0.05
DISTANCE = 0.1
FEW_VALUES = 5
MISSING = "(missing)"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    test: str  # ks, chi2, wasserstein or jensen_shannon
    statistic: float  # the p-value of a test, or the distance
    threshold: float
    drifted: bool

    def to_dict(self) -> dict:
        return asdict(self)


def column_drift(column: str, reference: pd.Series, current: pd.Series, role: str) -> ColumnDrift | None:
    """How `column` moved from `reference` to `current`; None for a role that is not tested, or no values."""
    if role not in ("numeric", "categorical"):
        return None
    small = len(reference) <= SMALL_REFERENCE_ROWS
    if role == "numeric":
        reference_numbers, current_numbers = as_numbers(reference), as_numbers(current)
        if reference_numbers.size and current_numbers.size and np.unique(reference_numbers).size > FEW_VALUES:
            if small:
                p_value = float(stats.ks_2samp(reference_numbers, current_numbers).pvalue)
                return ColumnDrift(column, "ks", p_value, P_VALUE, p_value < P_VALUE)
            spread = max(float(np.std(reference_numbers)), np.finfo(float).eps)
            moved = float(stats.wasserstein_distance(reference_numbers, current_numbers)) / spread
            return ColumnDrift(column, "wasserstein", moved, DISTANCE, moved >= DISTANCE)
    reference_counts, current_counts = category_counts(reference, current)
    if small:
        p_value = float(stats.chi2_contingency(np.vstack([reference_counts, current_counts])).pvalue)
        return ColumnDrift(column, "chi2", p_value, P_VALUE, p_value < P_VALUE)
    moved = float(distance.jensenshannon(reference_counts, current_counts))
    return ColumnDrift(column, "jensen_shannon", moved, DISTANCE, moved >= DISTANCE)


def as_numbers(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    return numbers[np.isfinite(numbers)]


def category_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """How often each value occurs in either, over the values of both (a missing value is a value too)."""

    def words(values: pd.Series) -> pd.Series:
        # Text on both sides: a logged 1 arrives from JSON as a number, the table's may be the text "1".
        return values.astype("string").fillna(MISSING)

    reference_counts, current_counts = words(reference).value_counts(), words(current).value_counts()
    values = reference_counts.index.union(current_counts.index)
    return (
        reference_counts.reindex(values, fill_value=0).to_numpy(),
        current_counts.reindex(values, fill_value=0).to_numpy(),
    )


def drift(reference: pd.DataFrame, current: pd.DataFrame, roles: dict[str, str]) -> list[ColumnDrift]:
    """Each tested column's drift, for the columns both frames have."""
    found = []
    for column, role in roles.items():
        if column in reference.columns and column in current.columns:
            result = column_drift(column, reference[column], current[column], role)
            if result is not None:
                found.append(result)
    return found


def drifted_share(columns: list[ColumnDrift]) -> float | None:
    return sum(column.drifted for column in columns) / len(columns) if columns else None
