"""The page in a real browser: headless Chromium, driven by Playwright, against the whole running app.

Chromium comes from the system (`apt-get install chromium`; CHROMIUM_PATH points elsewhere): Playwright's own
browser download is not needed. A screenshot of the finished journey is saved in artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import read_csv

from .conftest import APP_ROOT, DATA

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
