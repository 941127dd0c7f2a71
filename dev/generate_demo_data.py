"""Write the demo bookkeeping data into the app template's data/ folder.

dataset_1.csv is one year of card and bank transactions labelled with tax categories.
dataset_2.csv is the following half year, after the business changed suppliers and the
bank feed changed how it words descriptions: a model trained on dataset_1 alone scores
clearly lower on it, which is what makes retraining worth watching.

Deterministic: the same seed writes byte-identical files.
    python dev/generate_demo_data.py [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

APP_DATA = Path(__file__).resolve().parents[1] / "{{cookiecutter.app_name}}" / "data"
COLUMNS = ["Transaction_Id", "Date", "Description", "Supplier", "Amount", "VAT", "Payment_Method", "Account_Name"]


@dataclass(frozen=True)
class Category:
    name: str
    suppliers: tuple[str, ...]  # used throughout
    new_suppliers: tuple[str, ...]  # appear only in the later period
    items: tuple[str, ...]  # how purchases were described at first
    new_items: tuple[str, ...]  # how the later bank feed words them
    median_amount: float
    vat_rate: float
    payment_methods: tuple[str, ...]


CATEGORIES = (
    Category(
        "Office Supplies",
        ("Viking Direct", "Staples", "Ryman"),
        ("Office Depot", "Paperstone"),
        ("printer paper", "toner cartridge", "ring binders", "desk stationery", "envelopes"),
        ("stationery restock", "ink refill", "filing supplies"),
        45,
        0.20,
        ("Card", "Card", "Direct Debit"),
    ),
    Category(
        "Travel",
        ("Trainline", "British Airways", "Uber"),
        ("Eurostar", "Bolt", "Avanti West Coast"),
        ("train ticket", "flight to client", "taxi to meeting", "rail fare"),
        ("journey booking", "ride fare", "return trip"),
        120,
        0.0,
        ("Card", "Card", "Expense Claim"),
    ),
    Category(
        "Meals & Entertainment",
        ("Pret A Manger", "Nando's", "Wagamama"),
        ("Dishoom", "Leon"),
        ("client lunch", "team dinner", "coffee meeting", "working lunch"),
        ("hospitality", "food and drink", "team social"),
        60,
        0.20,
        ("Card", "Expense Claim"),
    ),
    Category(
        "Software Subscriptions",
        ("Microsoft", "Adobe", "Atlassian"),
        ("Notion Labs", "Figma", "Slack"),
        ("monthly licence", "annual subscription", "software licence renewal"),
        ("SaaS plan", "seat upgrade", "workspace billing"),
        80,
        0.20,
        ("Card", "Direct Debit"),
    ),
    Category(
        "Telephone & Internet",
        ("BT Business", "Vodafone"),
        ("Virgin Media Business", "Three"),
        ("broadband bill", "mobile phone contract", "phone line rental"),
        ("connectivity charge", "data plan", "fibre service"),
        70,
        0.20,
        ("Direct Debit",),
    ),
    Category(
        "Rent",
        ("Regus", "Landsec"),
        ("WeWork", "Workspace Group"),
        ("office rent", "quarterly rent", "desk space rent"),
        ("coworking membership", "premises licence fee"),
        1800,
        0.20,
        ("Bank Transfer", "Direct Debit"),
    ),
    Category(
        "Utilities",
        ("British Gas", "Thames Water"),
        ("Octopus Energy", "Ecotricity"),
        ("electricity bill", "gas bill", "water rates"),
        ("energy usage", "utility statement"),
        160,
        0.05,
        ("Direct Debit",),
    ),
    Category(
        "Insurance",
        ("Hiscox", "Aviva"),
        ("Simply Business", "Zurich"),
        ("professional indemnity insurance", "public liability cover", "contents insurance"),
        ("policy premium", "cover renewal"),
        95,
        0.0,
        ("Direct Debit", "Card"),
    ),
    Category(
        "Professional Fees",
        ("Smith & Co Accountants", "Harper Legal"),
        ("Crowe Advisory", "Blake Morgan"),
        ("accountancy fees", "legal advice", "payroll bureau fee"),
        ("advisory retainer", "compliance review"),
        450,
        0.20,
        ("Bank Transfer",),
    ),
    Category(
        "Advertising & Marketing",
        ("Google Ads", "Facebook Ads", "Vistaprint"),
        ("LinkedIn Ads", "Mailchimp"),
        ("online advertising", "business cards", "ad campaign", "flyers printing"),
        ("promoted posts", "email campaign", "paid social"),
        250,
        0.20,
        ("Card",),
    ),
    Category(
        "Motor Expenses",
        ("Shell", "BP", "Kwik Fit"),
        ("Esso", "Halfords Autocentre", "Pod Point"),
        ("fuel", "diesel", "tyre replacement", "car service"),
        ("charging session", "vehicle maintenance", "forecourt purchase"),
        65,
        0.20,
        ("Card", "Expense Claim"),
    ),
    Category(
        "Bank Charges",
        ("Barclays", "HSBC"),
        ("Starling Bank", "Tide"),
        ("account fee", "transaction charges", "overdraft interest"),
        ("service charge", "monthly plan fee"),
        15,
        0.0,
        ("Direct Debit",),
    ),
    Category(
        "Equipment",
        ("Dell", "Apple", "Currys"),
        ("Lenovo", "Scan Computers"),
        ("laptop", "monitor", "keyboard and mouse", "office chair"),
        ("workstation", "display", "peripherals"),
        650,
        0.20,
        ("Card", "Bank Transfer"),
    ),
    Category(
        "Training",
        ("Udemy", "Pluralsight"),
        ("Coursera", "O'Reilly Media"),
        ("online course", "training workshop", "certification exam"),
        ("learning platform", "upskilling programme"),
        180,
        0.20,
        ("Card", "Expense Claim"),
    ),
    Category(
        "Postage & Delivery",
        ("Royal Mail", "DHL"),
        ("Evri", "DPD"),
        ("postage stamps", "parcel delivery", "courier"),
        ("shipping label", "tracked parcel"),
        12,
        0.0,
        ("Card",),
    ),
    Category(
        "Repairs & Maintenance",
        ("Pimlico Plumbers", "Rentokil"),
        ("Checkatrade Pro", "Mitie"),
        ("boiler repair", "pest control", "electrical repair"),
        ("facilities callout", "site maintenance"),
        210,
        0.20,
        ("Bank Transfer", "Card"),
    ),
)

# Bank-feed phrasing carries no category signal: rows like these must be learnt from the other columns.
GENERIC_DESCRIPTIONS = ("card payment", "direct debit", "online payment", "invoice payment", "POS purchase")


def transaction(rng: random.Random, day: date, later_period: bool) -> dict[str, object]:
    category = rng.choice(CATEGORIES)
    if later_period and rng.random() < 0.65:
        supplier = rng.choice(category.new_suppliers)
    else:
        supplier = rng.choice(category.suppliers)
    if rng.random() < 0.12:
        description = rng.choice(GENERIC_DESCRIPTIONS)
    elif later_period and rng.random() < 0.7:
        description = f"{rng.choice(category.new_items)} {rng.randint(100, 999)}"
    else:
        description = f"{supplier} {rng.choice(category.items)}"
    amount = round(category.median_amount * rng.lognormvariate(0, 0.45), 2)
    vat = round(amount * category.vat_rate / (1 + category.vat_rate), 2)
    label = category.name
    if rng.random() < 0.03:  # bookkeepers disagree now and then
        label = rng.choice(CATEGORIES).name
    return {
        "Date": day.isoformat(),
        "Description": description,
        "Supplier": supplier,
        "Amount": f"{amount:.2f}",
        "VAT": f"{vat:.2f}",
        "Payment_Method": rng.choice(category.payment_methods),
        "Account_Name": label,
    }


def period(rng: random.Random, start: date, days: int, rows: int, later_period: bool, first_id: int) -> list[dict]:
    dated = sorted(start + timedelta(days=rng.randrange(days)) for _ in range(rows))
    return [
        {"Transaction_Id": f"TX{first_id + i:07d}", **transaction(rng, day, later_period)}
        for i, day in enumerate(dated)
    ]


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows-1", type=int, default=3000, help="rows in dataset_1.csv (the earlier year)")
    parser.add_argument("--rows-2", type=int, default=2000, help="rows in dataset_2.csv (the later half year)")
    parser.add_argument("--out", type=Path, default=APP_DATA)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    first = period(rng, date(2023, 1, 1), 365, args.rows_1, later_period=False, first_id=1)
    second = period(rng, date(2024, 1, 1), 182, args.rows_2, later_period=True, first_id=args.rows_1 + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "dataset_1.csv", first)
    write(args.out / "dataset_2.csv", second)
    print(f"wrote {len(first)} rows to dataset_1.csv and {len(second)} rows to dataset_2.csv in {args.out}")


if __name__ == "__main__":
    main()
