"""Shared helpers: bake the template with answers, and run commands in a baked app's own venv."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))

from dev.app_venv import app_python  # noqa: E402

BIGQUERY_ANSWERS = {"data_source": "bigquery", "gcp_project": "acme-analytics"}
VARIANTS = {
    "classification-duckdb": {},
    "classification-bigquery": BIGQUERY_ANSWERS,
    "regression-duckdb": {"problem_type": "regression", "target": "Amount"},
    "regression-bigquery": {"problem_type": "regression", "target": "Amount", **BIGQUERY_ANSWERS},
}


@pytest.fixture
def bake(cookies):
    """Bake with `answers` and return the app folder, failing with the hook's message if baking failed."""

    def bake_with(**answers: str) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, result.exception
        assert result.exit_code == 0
        return Path(result.project_path)

    return bake_with


# A bound for a hung run, not a speed goal: the default app's own unit suite took 14 minutes on a 2-core machine one
# day and over 20 the next (benchmarks measure speed, `--durations` shows where it goes).
RUN_IN_APP_TIMEOUT_SECONDS = 2400


def run_in_app(app: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python args...` in the app folder with its own venv, as a person would after installing it."""
    return subprocess.run([str(app_python(app)), *args], cwd=app, capture_output=True, text=True, env=env,
                          timeout=RUN_IN_APP_TIMEOUT_SECONDS)  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def house_sales(path: Path, rows: int = 1500, seed: int = 1) -> Path:
    """Made-up house sales, shaped unlike the demo: a regression target, no date, R's nameless row-number column,
    numbers with gaps written as NA, a yes/no column and a sentence per house. Price follows area, rooms and place."""
    rng = random.Random(seed)
    places = {"Old Town": 1.4, "Riverside": 1.2, "Hillcrest": 1.0, "Docklands": 0.9, "Meadows": 0.8, "Northfield": 0.7}
    table = []
    for number in range(1, rows + 1):
        place = rng.choice(list(places))
        area = round(rng.uniform(35, 220), 1)
        rooms = max(1, min(8, round(area / 30 + rng.gauss(0, 0.7))))
        garden = rng.random() < 0.4
        price = (2200 * area + 9000 * rooms + 25000 * garden) * places[place] * rng.uniform(0.9, 1.1)
        described = f"{'sunny' if rng.random() < 0.5 else 'quiet'} {rooms} room home in {place}"
        table.append([number, place, rooms if rng.random() > 0.05 else "NA", area, "yes" if garden else "no",
                      rng.randint(1900, 2024), described, round(price, -2)])  # fmt: skip
    header = ["", "neighbourhood", "rooms", "floor_area_m2", "garden", "built", "description", "sale_price"]
    return write_csv(path, header, table)


def monthly_orders(path: Path, rows: int = 800, seed: int = 3) -> Path:
    """Made-up orders, unsorted, with the month each was placed written as people write it (Jan-2018): a multiclass
    target that shifts with the season, and whole-number columns."""
    rng = random.Random(seed)
    months = [f"{name}-{year}" for year in (2017, 2018) for name in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                                                     "Aug", "Sep", "Oct", "Nov", "Dec")]  # fmt: skip
    table = []
    for _ in range(rows):
        month = rng.randrange(len(months))
        warm, channel = month % 12 in range(4, 9), rng.choice(["web", "shop"])
        product = {(True, "web"): "fan", (True, "shop"): "ice", (False, "web"): "heater", (False, "shop"): "tea"}
        table.append([months[month], rng.randint(1, 12), channel,
                      product[warm, channel] if rng.random() < 0.9 else "umbrella"])  # fmt: skip
    return write_csv(path, ["month", "items", "channel", "product"], table)


def support_tickets(path: Path, rows: int = 900, seed: int = 2) -> Path:
    """Made-up support tickets, unsorted, with the day each was opened: a multiclass target and a time column."""
    rng = random.Random(seed)
    teams = {"billing": ["invoice", "refund", "charge"], "technical": ["error", "crash", "login"],
             "sales": ["price", "upgrade", "quote"]}  # fmt: skip
    table = []
    for _ in range(rows):
        team = rng.choice(list(teams))
        opened = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        words = " ".join(rng.sample(teams[team], 2) + rng.sample(["please", "help", "urgent", "today"], 2))
        table.append([opened.isoformat(), rng.choice(["email", "phone", "chat"]), words, rng.randint(1, 5), team])
    return write_csv(path, ["opened_on", "channel", "message", "priority", "team"], table)
