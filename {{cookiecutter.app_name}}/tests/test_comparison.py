"""The challenger report (`compare`): a challenger's model against the champion it would replace, on the rows a
retrain compares them on, with what changes by class (or range of the target), and what it costs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.comparison import COMMENT_LIMIT, MARKER, ComparisonReport, compare, markdown
from {{ cookiecutter.app_name }}.comparison.report import Side
from {{ cookiecutter.app_name }}.config import Settings
from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.environments import create_challenger, delete_environment
from {{ cookiecutter.app_name }}.pipeline import RetrainReport, retrain
from {{ cookiecutter.app_name }}.registry import ENVIRONMENT_TAG, open_registry
from {{ cookiecutter.app_name }}.web import create_app

from .support.data import a_small_model, data_rows, table_schema
from .test_environments import trained_environment

pytestmark = pytest.mark.unit
KEY = {"X-API-Key": "test-key"}


def challenger_retrained(settings: Settings) -> RetrainReport:
    """Integration serving v1 (600 rows of the first load); challenger pr-7 copied from it, given rows that arrive
    later, and retrained: the retrain's report, which compared its model with v1 as the challenger report must."""
    trained_environment(settings, "integration")
    create_challenger(settings, "pr-7", "integration")
    open_datastore(settings, "pr-7").append(data_rows("dataset_2.csv", 600))
    return retrain(settings.for_environment("pr-7"))


def without_timings(report: dict) -> dict:
    """A report as JSON, less what a second measurement of the predict cost would change."""
    sides = {side: {**report[side], "predict_ms_per_1000_rows": None} for side in ("challenger", "champion")}
    return {**report, **sides}


def test_a_challenger_s_model_and_the_champion_are_scored_on_the_rows_its_retrain_compared_them_on(own_root, capsys):
    settings = own_root
    trained = challenger_retrained(settings)

    report = compare(settings.for_environment("pr-7"), open_registry(settings))

    assert (report.compared_with, report.champion.version, report.challenger.version) == (
        "integration",
        trained.champion_version,
        trained.challenger_version,
    )
    assert (report.rows, report.rows_hash) == (trained.test_rows, trained.test_rows_hash)
    assert report.challenger.score == pytest.approx(trained.challenger_score)
    assert report.champion.score == pytest.approx(trained.champion_score)
    assert report.gate_passes == trained.passed
    assert sum(group["rows"] for group in report.breakdown) == report.rows  # every compared row in one class or range
    assert sum(pair["rows"] for pair in report.disagreement_pairs) == report.disagreements
    assert len(report.examples) == min(10, report.disagreements)
    if report.problem_type == "classification":
        assert all(row["champion says"] != row["challenger says"] for row in report.examples)
        changed = sum(abs(change["change"]) for change in report.confusion_changes)
        assert changed <= 2 * report.disagreements  # only rows they disagree on can move a mistake
    assert report.champion.trees and report.challenger.trees and report.challenger.predict_ms_per_1000_rows > 0
    assert report.drift and report.drift_rows[1] == trained.training_rows

    assert main(["compare", "--environment", "pr-7"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(MARKER)
    assert f"{report.champion.score:.4f}" in shown and f"{report.challenger.score:.4f}" in shown
    assert f"They disagree on **{report.disagreements:,}**" in shown
    assert main(["compare", "--environment", "pr-7", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_hash"] == report.rows_hash

    # The challenger's page shows the same report; integration's, of the chain, has nothing to compare.
    web = dataclasses.replace(settings, api_key="test-key")
    page = create_app(web.for_environment("pr-7")).test_client().get("/comparison", headers=KEY)
    assert page.status_code == 200 and page.json["shadow"] is None
    assert without_timings(page.json["challenger"]) == without_timings(json.loads(json.dumps(report.to_dict())))
    assert create_app(web).test_client().get("/comparison", headers=KEY).status_code == 404


def test_a_challenger_made_again_compares_what_it_runs_not_what_its_earlier_self_trained(own_root, capsys):
    settings, registry = own_root, open_registry(own_root)
    open_datastore(settings, "integration").create(table_schema())
    champion = registry.register(*a_small_model(), {ENVIRONMENT_TAG: "integration"}, {}, {})
    registry.set_alias("integration", champion)
    create_challenger(settings, "pr-7", "integration")
    registry.register(*a_small_model(), {ENVIRONMENT_TAG: "pr-7"}, {}, {})  # what its retrain made
    delete_environment(settings, "pr-7")
    create_challenger(settings, "pr-7", "integration")  # the pull request's next push

    assert main(["compare", "--environment", "pr-7"]) == 0  # whatever the gate would decide

    shown = capsys.readouterr().out
    assert f"challenger v{champion} (pr-7)" in shown
    assert "this change leaves the model as it is" in shown


def test_an_environment_that_trained_nothing_has_nothing_to_compare(settings, capsys):
    assert main(["compare", "--environment", "uat"]) == 2

    assert "uat has trained no model: there is nothing to compare" in capsys.readouterr().err


def test_a_report_longer_than_a_comment_holds_is_cut_at_a_line_with_a_note():
    rows = [
        {"group": f"class {n} " + "x" * 2000, "rows": 1, "champion": 0.5, "challenger": 0.6, "difference": 0.1}
        for n in range(40)
    ]
    report = ComparisonReport(
        "pr-7",
        "production",
        "classification",
        "f1_weighted",
        Side(2, "pr-7", 0.9),
        Side(1, "production", 0.8),
        rows=40,
        breakdown=rows,
    )

    whole, comment = markdown(report, public=True), markdown(report, public=True, limit=COMMENT_LIMIT)

    assert len(whole) > COMMENT_LIMIT >= len(comment)
    assert comment.startswith(MARKER)
    kept, note = comment.split("\n\n**Cut here**", 1)
    assert whole.startswith(kept + "\n")  # whole lines only
    assert f"the whole report has {len(whole):,} characters" in note
