"""The shadow report: how a shadow environment answered the requests mirrored to it, beside what production answered.

It reads the shadowed environment's prediction log, where each mirrored request is kept with both answers
(web/shadow.py): the requests and rows seen, how often the two predicted the same (for a regression: values closer
than CLOSE_SHARE of the spread of production's predictions), what each predicted, how long each took, and, for the
rows whose true value has since been loaded into the shadowed environment's data, both models' scores on them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import FixFirstError, Settings
from ..datastore import TableMissingError, conform, open_datastore, open_journal
from ..ml.row_hash import row_hashes
from ..ml.scores import score_predictions
from ..registry import ModelRegistry
from .report import CLOSE_SHARE

DISTRIBUTION_ROWS = 20  # the most frequent classes shown, or quantiles of a number


class ShadowReportError(FixFirstError):
    """The environment shadows nothing."""


@dataclass
class ShadowReport:
    environment: str  # the shadow
    shadow_of: str
    share: float
    problem_type: str
    score_type: str
    requests: int = 0  # mirrored requests it answered, as logged
    rows: int = 0
    agreed_rows: int = 0
    versions: dict[str, list[int]] = field(default_factory=dict)  # production's and the shadow's model versions seen
    distribution: list[dict[str, Any]] = field(default_factory=list)  # what each predicted
    # p50 and p99 in ms: production's per request, the shadow's per row of its batches
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    labelled_rows: int = 0  # shadowed rows whose true value has been loaded since
    scores: dict[str, float] = field(default_factory=dict)  # production's and the shadow's on them
    notes: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        return self.agreed_rows / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agreement": self.agreement}


def shadowed_rows(settings: Settings, shadowed: str, shadow: str) -> pd.DataFrame:
    """Each row production answered and mirrored to `shadow`: inputs, both predicted values and versions, and how
    long each took (production: ms for its request; the shadow: ms per row of its batch)."""
    logged, predicted = open_journal(settings, "predictions", shadowed).read(), f"predicted_{settings.app.target}"
    rows = []
    for at, version, record in zip(logged["logged_at"], logged["model_version"], logged["record"], strict=True):
        entry = json.loads(record)
        theirs = entry.get("shadow", {})
        if theirs.get("environment") != shadow:
            continue
        rows.append(
            {
                "inputs": entry["inputs"],
                "production": entry["output"][predicted],
                "shadow": theirs["output"][predicted],
                "production_version": int(version),
                "shadow_version": theirs["model_version"],
                "production_ms": entry["ms"],
                "shadow_ms_per_row": theirs["ms_per_row"],
                "request": (str(at), int(version), entry["ms"]),  # the rows of one request share these
            }
        )
    return pd.DataFrame(rows)


def agrees(production: pd.Series, shadow: pd.Series, problem_type: str) -> np.ndarray:
    """Whether each row's two predictions agree: the same class, or numbers closer than CLOSE_SHARE of the spread of
    production's predictions."""
    if problem_type == "classification":
        return (production.astype(str) == shadow.astype(str)).to_numpy()
    values, theirs = production.astype(float).to_numpy(), shadow.astype(float).to_numpy()
    spread = max(float(np.std(values)), np.finfo(float).eps)
    return np.abs(values - theirs) <= CLOSE_SHARE * spread


def shadow_report(settings: Settings, registry: ModelRegistry) -> ShadowReport:
    """The shadow report of the settings' environment (see the module's docstring)."""
    app, name = settings.app, settings.environment
    shadow = next((found for found in registry.shadows() if found.name == name), None)
    if shadow is None:
        raise ShadowReportError(
            f"{name} shadows no environment: set shadow_of in config/environment_{name}.yml and start or deploy it"
        )
    report = ShadowReport(name, shadow.shadow_of, shadow.share, app.problem_type, app.score_type)
    rows = shadowed_rows(settings, shadow.shadow_of, name)
    if rows.empty:
        report.notes.append(
            f"no mirrored request is in {shadow.shadow_of}'s prediction log yet (the worker moves them there on "
            "monitor_schedule, and `monitor` does)"
        )
        return report
    report.requests, report.rows = rows["request"].nunique(), len(rows)
    report.agreed_rows = int(agrees(rows["production"], rows["shadow"], app.problem_type).sum())
    report.versions = {
        "production": sorted(rows["production_version"].unique().tolist()),
        "shadow": sorted(rows["shadow_version"].unique().tolist()),
    }
    report.distribution = distribution(rows, app.problem_type)
    per_request = rows.drop_duplicates("request")["production_ms"]
    report.latency_ms = {"production": percentiles(per_request), "shadow": percentiles(rows["shadow_ms_per_row"])}
    labelled_scores(settings, report, rows, shadow.shadow_of)
    return report


def percentiles(values: pd.Series) -> dict[str, float]:
    return {"p50": float(values.quantile(0.5)), "p99": float(values.quantile(0.99))}


def distribution(rows: pd.DataFrame, problem_type: str) -> list[dict[str, Any]]:
    """Each model's predictions: rows per class (the most frequent), or quantiles of the numbers."""
    if problem_type == "classification":
        counts = pd.DataFrame({side: rows[side].astype(str).value_counts() for side in ("production", "shadow")})
        counts = counts.fillna(0).astype(int).sort_values("production", ascending=False).head(DISTRIBUTION_ROWS)
        return [{"value": value, **row} for value, row in counts.to_dict("index").items()]
    quantiles = (0.1, 0.25, 0.5, 0.75, 0.9)
    return [
        {"value": f"p{round(q * 100)}", **{side: float(rows[side].astype(float).quantile(q)) for side in
                                          ("production", "shadow")}}
        for q in quantiles
    ]  # fmt: skip


def labelled_scores(settings: Settings, report: ShadowReport, rows: pd.DataFrame, shadowed: str) -> None:
    """Both models' scores on the shadowed rows whose true value the shadowed environment's data holds now: matched by
    the hash of their inputs, typed as the table types them."""
    target = settings.app.target
    try:
        table = open_datastore(settings, shadowed).read()
    except TableMissingError as problem:
        report.notes.append(f"scores not measured: {problem}")
        return
    schema = {column: kind for column, kind in settings.app.schema.items() if column != target}
    features = [column for column in schema if column in table.columns]
    asked = conform(pd.DataFrame.from_records(list(rows["inputs"])), schema, ignore_extra=True,
                    time_formats=settings.app.time_formats)  # fmt: skip
    truth_of = dict(zip(row_hashes(table, features).tolist(), table[target].tolist(), strict=True))
    truth = [truth_of.get(value) for value in row_hashes(asked, features).tolist()]
    known = np.array([value is not None for value in truth])
    report.labelled_rows = int(known.sum())
    if not report.labelled_rows:
        return
    labelled = pd.Series([value for value in truth if value is not None])
    if report.score_type == "roc_auc":  # the log keeps each predicted class, not every class's probability
        report.score_type = "accuracy"
        report.notes.append("scores in accuracy: roc_auc needs every class's probability, which the log does not keep")
    for side in ("production", "shadow"):
        report.scores[side] = score_predictions(labelled, rows[side][known].to_numpy(), report.score_type)
