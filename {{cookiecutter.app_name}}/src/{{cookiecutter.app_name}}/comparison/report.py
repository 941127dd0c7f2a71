"""The challenger report: what a challenger's model would change, against the champion it would replace.

Both models predict the same held-out rows of the challenger environment's data, rows neither trained on (the rows both
holdout rules hold out, as a retrain compares them). The report gives both scores; the score of each class
(classification) or range of the target (regression); where the errors moved; the rows they disagree on; what a
prediction costs each; how the challenger's training rows drifted from the champion's; and what the gate would decide.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from ..config import FixFirstError, Settings
from ..datastore import TableMissingError, open_datastore
from ..engines.local import LocalTable
from ..ml import score, split_features
from ..ml.cost import pipeline_cost, trees
from ..ml.holdout import Holdout
from ..ml.prediction import column_roles
from ..monitoring.drift import drift, drifted_share
from ..pipeline import compared_rows, decide, holdout_rule
from ..registry import ModelRegistry, ModelVersion

TARGET_RANGES = 5  # a regression's held-out rows, cut into this many ranges of the target with as many rows each
CLOSE_SHARE = 0.1  # two regression predictions agree when closer than this share of the target's standard deviation
EXAMPLE_ROWS = 10
DRIFT_ROWS = 100_000  # a sample of more training rows shows their distribution as well


class ComparisonError(FixFirstError):
    """There is no model to compare; the message says which is missing."""


@dataclass(frozen=True)
class Side:
    """One of the two models: which version, where it serves, and what it scored and costs on the compared rows."""

    version: int
    environment: str
    score: float | None = None
    predict_ms_per_1000_rows: float | None = None  # measured here, on one thread, on the compared rows
    trees: int | None = None
    training_rows: int | None = None


@dataclass
class ComparisonReport:
    environment: str  # the challenger (or, for an environment of the chain, the one whose newest version it is)
    compared_with: str  # the environment whose champion the challenger would replace
    problem_type: str
    score_type: str
    challenger: Side
    champion: Side | None = None  # None: there is no champion yet, and the gate asks only for min_score
    rows: int = 0  # the held-out rows both models predicted
    rows_hash: str = ""
    compared_on: str = ""  # why those rows are fair to both
    gate_passes: bool = False
    gate_reason: str = ""
    breakdown_score: str = ""  # what `breakdown` measures: f1 of each class, or the error in each range of the target
    breakdown: list[dict[str, Any]] = field(default_factory=list)  # group, rows, champion, challenger, difference
    disagreements: int = 0  # rows on which the two predict differently
    disagreement_pairs: list[dict[str, Any]] = field(default_factory=list)  # where they disagree, and who was right
    confusion_changes: list[dict[str, Any]] = field(default_factory=list)  # true class, predicted class, both counts
    drift: list[dict[str, Any]] = field(default_factory=list)  # of each tested column
    drift_share: float | None = None
    drift_rows: tuple[int, int] = (0, 0)  # the champion's and the challenger's training rows compared
    examples: list[dict[str, Any]] = field(default_factory=list)  # rows they disagree on: never in a public comment
    notes: list[str] = field(default_factory=list)

    @property
    def difference(self) -> float | None:
        """The challenger's score less the champion's."""
        if self.champion is None or self.champion.score is None or self.challenger.score is None:
            return None
        return self.challenger.score - self.champion.score

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference": self.difference}


def versions_to_compare(settings: Settings, registry: ModelRegistry) -> tuple[str, int | None, int]:
    """The environment whose champion is compared, that champion's version (None if it has none), and the
    challenger's version: for a challenger environment, the newest version it serves or trained since it was created;
    for an environment of the chain, the newest version trained in it."""
    environment = settings.environment
    source = registry.challengers().get(environment)
    # A challenger made again (a pull request's next push) starts afresh: what its earlier self trained is not its own.
    since = registry.challenger_created(environment) if source else None
    trained_here = [
        version.version
        for version in registry.versions()
        if version.environment == environment and (since is None or version.created >= since)
    ]
    candidates = trained_here if source is None else [*trained_here, registry.champion_version(environment)]
    candidates = [version for version in candidates if version is not None]
    if not candidates:
        what = "serves no model and has trained none" if source else "has trained no model"
        raise ComparisonError(
            f"{environment} {what}: there is nothing to compare; retrain it first "
            f"(python local_retrain.py --environment {environment})"
        )
    compared_with = source or environment
    return compared_with, registry.champion_version(compared_with), max(candidates)


def compare(settings: Settings, registry: ModelRegistry) -> ComparisonReport:
    """The challenger report of the settings' environment (see the module's docstring)."""
    app = settings.app
    compared_with, champion_version, challenger_version = versions_to_compare(settings, registry)
    challenger, champion = registry.version(challenger_version), None
    report = ComparisonReport(
        settings.environment,
        compared_with,
        app.problem_type,
        app.score_type,
        Side(challenger.version, settings.environment, training_rows=challenger.training_rows),
    )
    if champion_version is not None:
        champion = registry.version(champion_version)
        report.champion = Side(champion.version, compared_with, training_rows=champion.training_rows)
    if champion_version == challenger_version:
        if compared_with == settings.environment:
            note = f"v{challenger_version}, the newest version trained in {compared_with}, is its champion already"
        else:
            note = f"{settings.environment} runs v{challenger_version}, the champion of {compared_with} itself"
        report.notes.append(f"{note}: this change leaves the model as it is")
        report.gate_reason = "the same model"
        return report

    table = LocalTable(open_datastore(settings).read())
    if challenger.holdout:
        challenger_rule = Holdout.from_json(challenger.holdout)
    else:  # a version from before rules were recorded: taken to hold out what a retrain would
        challenger_rule = holdout_rule(table.frame, settings)
    rules, report.compared_on = compared_rows(challenger_rule, table, champion)
    report.rows, report.rows_hash = table.held_out_by(rules)
    if not report.rows:
        raise ComparisonError(f"the data of {settings.environment} holds no row that {report.compared_on}")
    features, truth = split_features(table.frame[table.mask(rules)], app.target)
    challenger_model = registry.load(challenger_version)
    report.challenger = measured(report.challenger, challenger_model, features, truth, app.score_type)
    challenger_says = np.asarray(challenger_model.predict(features))
    if champion is None:
        report.notes.append(f"{compared_with} serves no model yet: the gate asks only for min_score")
        champion_model = champion_says = None
    else:
        champion_model = registry.load(champion_version)
        report.champion = measured(report.champion, champion_model, features, truth, app.score_type)
        champion_says = np.asarray(champion_model.predict(features))
    decision = decide(
        report.challenger.score,
        report.champion.score if report.champion else None,
        app.score_type,
        app.min_score,
        app.min_improvement,
    )
    report.gate_passes, report.gate_reason = decision.passed, decision.reason
    if champion_says is None:
        return report

    truth_values = truth.to_numpy()
    differ = disagreeing(report, truth_values, champion_says, challenger_says)
    report.disagreements = int(differ.sum())
    if app.problem_type == "classification":
        by_class(report, truth_values, champion_says, challenger_says)
    else:
        by_range(report, truth_values, champion_says, challenger_says, differ)
    report.examples = examples(features, truth, champion_says, challenger_says, differ)
    training_drift(settings, report, table, champion, challenger_rule, column_roles(champion_model))
    return report


def measured(side: Side, model, features: pd.DataFrame, truth: pd.Series, score_type: str) -> Side:
    """`side` with its model's score on these rows and what its predictions cost."""
    try:
        cost, walked = pipeline_cost(model, features), trees(model)
    except (AttributeError, KeyError):  # a version from before packaged LightGBM pipelines: no trees to count
        cost, walked = None, None
    return Side(
        side.version, side.environment, score(model, features, truth, score_type), cost, walked, side.training_rows
    )


def disagreeing(report: ComparisonReport, truth, champion_says, challenger_says) -> np.ndarray:
    """Where the two predictions differ: another class, or values further apart than CLOSE_SHARE of the spread."""
    if report.problem_type == "classification":
        return champion_says != challenger_says
    spread = max(float(np.std(truth)), np.finfo(float).eps)
    return np.abs(champion_says.astype(float) - challenger_says.astype(float)) > CLOSE_SHARE * spread


def by_class(report: ComparisonReport, truth, champion_says, challenger_says) -> None:
    """F1 of each class present in the rows, the disagreements by pair of classes, and the confusion's changes."""
    classes, rows = np.unique(truth.astype(str), return_counts=True)
    truth, champion_says, challenger_says = truth.astype(str), champion_says.astype(str), challenger_says.astype(str)

    def f1(said) -> np.ndarray:
        return metrics.f1_score(truth, said, labels=classes, average=None, zero_division=0)

    report.breakdown_score = "f1"
    report.breakdown = sorted(
        (
            group(label, count, before, after)
            for label, count, before, after in zip(classes, rows, f1(champion_says), f1(challenger_says), strict=True)
        ),
        key=lambda row: (-row["rows"], row["group"]),
    )
    said = pd.DataFrame({"champion": champion_says, "challenger": challenger_says, "truth": truth})
    apart = said[said["champion"] != said["challenger"]]
    pairs = apart.assign(
        champion_right=apart["champion"] == apart["truth"], challenger_right=apart["challenger"] == apart["truth"]
    ).groupby(["champion", "challenger"])
    report.disagreement_pairs = [
        {
            "champion": champion,
            "challenger": challenger,
            "rows": len(rows),
            "champion_right": int(rows["champion_right"].sum()),
            "challenger_right": int(rows["challenger_right"].sum()),
        }
        for (champion, challenger), rows in pairs
    ]
    report.disagreement_pairs.sort(key=lambda pair: (-pair["rows"], pair["champion"], pair["challenger"]))

    def mistakes(said) -> pd.Series:
        wrong = truth != said
        return pd.Series(list(zip(truth[wrong], said[wrong], strict=True)), dtype=object).value_counts()

    before, after = mistakes(champion_says), mistakes(challenger_says)
    cells = before.index.union(after.index)
    before, after = before.reindex(cells, fill_value=0), after.reindex(cells, fill_value=0)
    report.confusion_changes = sorted(
        (
            {
                "truth": cell[0],
                "predicted": cell[1],
                "champion": int(before[cell]),
                "challenger": int(after[cell]),
                "change": int(after[cell] - before[cell]),
            }
            for cell in cells
            if after[cell] != before[cell]
        ),
        key=lambda change: (-abs(change["change"]), change["truth"], change["predicted"]),
    )


def by_range(report: ComparisonReport, truth, champion_says, challenger_says, differ: np.ndarray) -> None:
    """The error in each range of the target (mean absolute, or root mean squared where the score is rmse), and in
    each the rows the two disagree on and which was closer."""
    name = "rmse" if report.score_type == "rmse" else "mae"
    error = metrics.root_mean_squared_error if name == "rmse" else metrics.mean_absolute_error
    truth, champion_says, challenger_says = (
        np.asarray(values, dtype=float) for values in (truth, champion_says, challenger_says)
    )
    ranges = pd.qcut(truth, TARGET_RANGES, duplicates="drop") if np.unique(truth).size > 1 else None
    challenger_closer = np.abs(challenger_says - truth) < np.abs(champion_says - truth)
    report.breakdown_score = name
    groups = pd.Series(np.zeros(len(truth)) if ranges is None else ranges.codes)
    for code, positions in groups.groupby(groups).indices.items():
        interval = None if ranges is None else ranges.categories[code]
        label = "all" if interval is None else f"{interval.left:.4g} to {interval.right:.4g}"
        before = error(truth[positions], champion_says[positions])
        after = error(truth[positions], challenger_says[positions])
        report.breakdown.append(group(label, len(positions), before, after))
        apart = positions[differ[positions]]
        report.disagreement_pairs.append(
            {
                "range": label,
                "rows": len(apart),
                "challenger_closer": int(challenger_closer[apart].sum()),
                "champion_closer": int((~challenger_closer[apart]).sum()),
            }
        )


def group(label, rows: int, champion: float, challenger: float) -> dict[str, Any]:
    return {
        "group": str(label),
        "rows": int(rows),
        "champion": float(champion),
        "challenger": float(challenger),
        "difference": float(challenger - champion),
    }


def examples(features: pd.DataFrame, truth: pd.Series, champion_says, challenger_says, differ) -> list[dict[str, Any]]:
    """The first EXAMPLE_ROWS rows they disagree on, with the true value and both predictions, as JSON values."""
    rows = (
        features[differ]
        .head(EXAMPLE_ROWS)
        .assign(
            **{
                f"true {truth.name}": truth[differ].head(EXAMPLE_ROWS).to_numpy(),
                "champion says": champion_says[differ][:EXAMPLE_ROWS],
                "challenger says": challenger_says[differ][:EXAMPLE_ROWS],
            }
        )
    )
    return json.loads(rows.to_json(orient="records", date_format="iso"))


def training_drift(
    settings: Settings,
    report: ComparisonReport,
    table: LocalTable,
    champion: ModelVersion,
    challenger_rule: Holdout,
    roles: dict[str, str],
) -> None:
    """Drift of the challenger's training rows against the champion's: the rows of each environment's data that
    each one's rule does not hold out."""
    try:
        source = (
            table
            if report.compared_with == settings.environment
            else LocalTable(open_datastore(settings, report.compared_with).read())
        )
    except TableMissingError as problem:
        report.notes.append(f"drift not measured: {problem}")
        return
    if not champion.holdout:
        report.notes.append(f"drift not measured: champion v{champion.version} recorded no holdout rule")
        return
    reference = source.frame[~source.mask((Holdout.from_json(champion.holdout),))]
    current = table.frame[~table.mask((challenger_rule,))]
    reference, current = (
        rows.sample(DRIFT_ROWS, random_state=0) if len(rows) > DRIFT_ROWS else rows for rows in (reference, current)
    )
    columns = drift(reference, current, roles)
    report.drift, report.drift_share = [column.to_dict() for column in columns], drifted_share(columns)
    report.drift_rows = (len(reference), len(current))
