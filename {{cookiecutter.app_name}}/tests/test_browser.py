"""The page in a real browser: headless Chromium, driven by Playwright, against the whole running app.

Chromium comes from the system (`apt-get install chromium`; CHROMIUM_PATH points elsewhere): Playwright's own
browser download is not needed. Screenshots of the finished journeys are saved in artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import redis

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.comparison import compare
from {{ cookiecutter.app_name }}.comparison.shadow import shadow_report
from {{ cookiecutter.app_name }}.config import environment_config_path, load_settings
from {{ cookiecutter.app_name }}.datastore import open_datastore, read_csv
from {{ cookiecutter.app_name }}.environments import approve, create_challenger
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.monitoring.prediction_log import waiting_key
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import open_registry

from .conftest import sensor_app
from .support.data import APP_ROOT, DATA, sensor_rows

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = APP_ROOT / "artifacts"
RETRAIN_TIMEOUT_MS = 600_000
# What the versions chart (Chart.js) plots: its labels, each dataset's values, and its score axis's title.
CHART_DATA = """() => {
  const chart = Chart.getChart("versions-chart");
  return {labels: chart.data.labels, data: chart.data.datasets.map((set) => set.data),
          axis: chart.options.scales.y.title.text};
}"""
# What a chart of the monitoring view plots: its labels, and each dataset's values and colours.
PLOTTED = """(canvas) => {
  const chart = Chart.getChart(canvas);
  return {labels: chart.data.labels, data: chart.data.datasets.map((set) => set.data),
          colours: chart.data.datasets.map((set) => set.backgroundColor)};
}"""


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        browser.close()


def test_predict_and_train_from_the_page(page, app_client, tmp_path):
    from playwright.sync_api import expect

    target = load_settings(root=APP_ROOT).app.target
    later = read_csv(DATA / "dataset_2.csv")
    to_predict, corrected = tmp_path / "to_predict.csv", tmp_path / "corrected.csv"
    later.drop(columns=[target]).head(50).to_csv(to_predict, index=False)
    later.to_csv(corrected, index=False)

    page.goto(f"{app_client.url}/?api_key={app_client.api_key}")
    versions = page.locator("#versions tbody tr")
    expect(versions.first).to_be_visible()
    versions_before = versions.count()

    page.set_input_files("#predict-form input[type=file]", str(to_predict))
    with page.expect_download() as downloading:
        page.click("#predict-form button")
    predictions = pd.read_csv(downloading.value.path(), dtype=str)
    assert len(predictions) == 50 and f"predicted_{target}" in predictions.columns
    expect(page.locator("#predict-status")).to_contain_text("downloaded")

    page.set_input_files("#train-form input[type=file]", str(corrected))
    page.click("#train-form button")
    expect(page.locator("#train-status")).to_have_text(re.compile(r"^(Promoted|Kept)"), timeout=RETRAIN_TIMEOUT_MS)
    expect(page.locator("#train-bar")).to_have_attribute("style", re.compile(r"width: 100%"))
    expect(versions).to_have_count(versions_before + 1)
    # The chart shows what the gate compared: each version's score and the champion's on the same rows, on an axis
    # that says which way is better.
    newest = app_client.models()["versions"][0]
    shown = [v for v in reversed(app_client.models()["versions"]) if v["score_type"] == newest["score_type"]]
    chart = page.evaluate(CHART_DATA)
    assert chart["labels"][-1].startswith(f"v{newest['version']}") and len(chart["labels"]) == len(shown)
    assert chart["data"] == [[v["score"] for v in shown], [v["champion_score"] for v in shown]]
    direction = "higher is better" if newest["greater_is_better"] else "lower is better"
    assert chart["axis"] == f"{newest['score_type']} ({direction})"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_journey.png"), full_page=True)


def test_the_monitoring_view_shows_drift_the_champion_on_new_labels_and_a_model_waiting_for_approval(
    page, tmp_path, monkeypatch, request
):
    """Production (auto_promote: false) of an app made for other data than the app's own: shifted predictions, a
    report, then an upload that starts a retrain whose better model waits until a person approves it on the page."""
    from playwright.sync_api import expect

    settings = sensor_app(tmp_path, monkeypatch, request, monitor_schedule=None,
                          retrain_when={"new_rows": 500}).for_environment("production")  # fmt: skip
    store, registry = open_datastore(settings), open_registry(settings)
    store.create(open_datastore(settings, "integration").schema())
    store.append(sensor_rows(120, seed=20))
    approve(settings, registry, "production", retrain(settings).challenger_version)  # v1, on few rows
    more = tmp_path / "more_readings.csv"
    sensor_rows(900, seed=21).to_csv(more, index=False)

    with local_stack(settings, free_port(), log_folder=tmp_path) as stack:
        app = AppClient(stack.url, settings.api_key)
        for start in range(0, 300, 50):
            app.predict_records(
                sensor_rows(50, seed=22 + start, shifted=True).drop(columns=["status"]).to_dict("records")
            )
        waiting = redis.Redis.from_url(stack.redis_url)
        deadline = time.monotonic() + 30  # each web process sends its log every few seconds
        while waiting.llen(waiting_key("production")) < 300:
            assert time.monotonic() < deadline, "the web processes did not send their prediction log to Redis"
            time.sleep(0.2)
        monkeypatch.setenv("REDIS_URL", stack.redis_url)
        assert main(["monitor", "--environment", "production"]) == 0

        page.goto(f"{stack.url}/?api_key={settings.api_key}")
        page.set_input_files("#train-form input[type=file]", str(more))
        page.click("#train-form button")
        expect(page.locator("#train-status")).to_contain_text("waits for approval", timeout=RETRAIN_TIMEOUT_MS)
        page.wait_for_function("() => Chart.getChart('labelled-chart').data.labels.length > 0")  # then it refreshes
        drift = page.evaluate(PLOTTED, "drift-chart")
        labelled = page.evaluate(PLOTTED, "labelled-chart")
        report = app.monitoring()["reports"][-1]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitoring_view.png"), full_page=True)
        page.get_by_role("button", name="Approve v2").click()
        expect(page.locator("#versions-status")).to_contain_text("v2 approved")

        models = app.models()
        assert models["serving"]["production"] == 2
    # Drift: a bar per tested column, red where it drifted as the report says, and longer than any that did not.
    assert drift["labels"] == [column["column"] for column in report["drift"]]
    bars = dict(zip(drift["labels"], drift["data"][0], strict=True))
    red = {label for label, colour in zip(drift["labels"], drift["colours"][0], strict=True) if colour == "#b00020"}
    assert red == {column["column"] for column in report["drift"] if column["drifted"]} >= {"temperature", "site"}
    assert min(bars[label] for label in red) > max(bars[label] for label in set(bars) - red)
    # The champion's score on the 900 new rows, beside the score v1 was registered with.
    [label] = labelled["labels"]
    assert label.endswith(" v1: more_readings.csv") and label.startswith(report["checked_at"][:4])  # when, on what
    assert labelled["data"][1] == [registry.version(1).score]
    assert 0 < labelled["data"][0][0] <= 1
    headers = page.locator("#versions thead th").all_inner_texts()
    newest, cells = models["versions"][0], page.locator("#versions tbody tr").first.locator("td")
    assert cells.nth(headers.index("trigger")).inner_text() == "new_rows"
    # What each prediction costs: the version's trees, and its milliseconds per 1,000 rows.
    assert cells.nth(headers.index("trees")).inner_text() == str(newest["trees"]) != "0"
    shown_cost = float(cells.nth(headers.index("ms per 1,000 rows")).inner_text())
    assert shown_cost == pytest.approx(newest["predict_ms_per_1000_rows"], abs=0.051) and shown_cost > 0


def test_a_challenger_that_shadows_integration_shows_both_reports_on_its_page(page, tmp_path, monkeypatch, request):
    """Challenger pr-3 of an app made for other data, retrained on more rows and shadowing integration: its page shows
    the challenger report and the shadow report as the commands make them; integration's page shows neither."""
    from playwright.sync_api import expect

    settings = sensor_app(tmp_path, monkeypatch, request, monitor_schedule=None)
    open_datastore(settings).append(sensor_rows(150, seed=30))
    retrain(settings)
    create_challenger(settings, "pr-3", "integration")
    open_datastore(settings, "pr-3").append(sensor_rows(600, seed=31))
    retrain(settings.for_environment("pr-3"))
    config = environment_config_path(settings.root, "pr-3")
    config.write_text(config.read_text() + "shadow_of: integration\nshadow_share: 1.0\n")
    shadow_settings = settings.for_environment("pr-3")
    asked = sensor_rows(40, seed=32).drop(columns=["status"])

    with (
        local_stack(shadow_settings, free_port(), log_folder=tmp_path) as shadow,  # first: it records where it answers
        local_stack(settings, free_port()) as production,
    ):
        app = AppClient(production.url, settings.api_key)
        for start in range(0, 40, 4):
            app.predict_records(asked.iloc[start : start + 4].to_dict("records"))
        waiting, deadline = redis.Redis.from_url(production.redis_url), time.monotonic() + 60
        while waiting.llen(waiting_key("integration")) < 40:  # each row once, with the shadow's answer
            assert time.monotonic() < deadline, "production did not log the shadow's answers"
            time.sleep(0.2)
        monkeypatch.setenv("REDIS_URL", production.redis_url)
        assert main(["monitor", "--environment", "integration"]) == 0  # the log into the journal
        registry = open_registry(settings)
        compared = compare(shadow_settings, registry)
        shadowed = shadow_report(shadow_settings, registry)

        page.goto(f"{shadow.url}/?api_key={settings.api_key}")
        expect(page.locator("#comparison")).to_be_visible()
        summary = page.locator("#comparison-summary").inner_text()
        tables = page.locator("#comparison-tables caption").all_inner_texts()
        shadow_summary = page.locator("#shadow-summary").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "comparison_view.png"), full_page=True)
        page.goto(f"{production.url}/?api_key={settings.api_key}")
        expect(page.locator("#versions tbody tr").first).to_be_visible()
        production_shows = page.locator("#comparison").is_visible()

    assert summary.startswith(f"v{compared.challenger.version} of pr-3 against v{compared.champion.version}, the "
                              f"champion of integration, on the same {compared.rows} held-out rows")  # fmt: skip
    assert f"they disagree on {compared.disagreements} rows" in summary
    assert ("would promote" if compared.gate_passes else "would not promote") in summary
    assert tables[:2] == ["The two models", "f1 of each class"]
    assert shadowed.requests == 10 and shadowed.rows == 40
    assert f"{shadowed.requests} requests ({shadowed.rows} rows) so far" in shadow_summary
    assert f"they agree {shadowed.agreement * 100:.1f}%" in shadow_summary
    assert not production_shows
