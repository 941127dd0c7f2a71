"""The hooks: the pre-generation hook refuses bad answers, and bad data, with a reason a person can act on; the
data the app starts with is read, typed and split as the answers say."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from .conftest import TEMPLATE, house_sales, support_tickets, write_csv

sys.path.insert(0, str(TEMPLATE / "hooks"))
import training_data  # noqa: E402  (the hooks' own module, beside them)

BAD_ANSWERS = [
    ({"app_name": "Bad-Name"}, "app_name 'Bad-Name' must be a lowercase Python identifier"),
    ({"app_name": "class"}, "app_name 'class' must be a lowercase Python identifier"),
    ({"target": " "}, "target must name the column to predict"),
    ({"target": "Category"}, "target 'Category' is not a column of dataset_1.csv"),
    ({"time_column": "When"}, "time_column 'When' is not a column of dataset_1.csv, dataset_2.csv"),
    ({"data_source": "bigquery", "gcp_project": ""}, "data_source bigquery needs a gcp_project"),
    ({"gcp_project": "My Project"}, "gcp_project 'My Project' is not a Google Cloud project id"),
    ({"bigquery_dataset": "2024-data"}, "bigquery_dataset '2024-data' may hold only letters, digits and _"),
    ({"python_version": "3.9"}, "python_version '3.9' must be 3.11 or newer"),
    ({"python_version": "3.99"}, "python_version '3.99' has no base image pinned in this template"),
    ({"model_name": "my model"}, "model_name 'my model' must start with a letter or digit"),
]


@pytest.mark.parametrize(
    ("answers", "reason"), BAD_ANSWERS, ids=[next(iter(a)) + "=" + repr(next(iter(a.values()))) for a, _ in BAD_ANSWERS]
)
def test_bad_answers_stop_generation_with_the_reason(cookies, capfd, answers, reason):
    result = cookies.bake(extra_context=answers)

    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not result.project_path.exists()
    assert reason in capfd.readouterr().err


def test_the_cookiecutter_command_refuses_a_bad_app_name_in_one_line(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "app_name=Bad-Name", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )

    assert finished.returncode != 0
    reasons = [line for line in finished.stderr.splitlines() if line.startswith("ERROR:")]
    assert reasons == [
        "ERROR: app_name 'Bad-Name' must be a lowercase Python identifier "
        "(letters, digits and _, starting with a letter), e.g. bookkeeping_retrain"
    ]
    assert list(tmp_path.iterdir()) == []


def bad_files(folder):
    """CSV files that cannot make an app, each with the answers that meet it and the reason it is refused for."""
    houses = house_sales(folder / "houses.csv", rows=120)
    lines = houses.read_text().splitlines()
    (folder / "ragged.csv").write_text("\n".join([*lines[:3], lines[3] + ",extra", *lines[4:]]) + "\n")
    (folder / "latin1.csv").write_bytes("place,price\nK\u00f6ln,1\n".encode("latin-1") * 60)
    write_csv(folder / "twice.csv", ["price", "rooms", "price"], [[1, 2, 3]] * 60)
    write_csv(folder / "one_class.csv", ["kind", "size"], [["a", n] for n in range(60)])
    write_csv(folder / "few.csv", ["kind", "size"], [["a" if n % 2 else "b", n] for n in range(30)])
    regression = {"problem_type": "regression", "target": "sale_price"}
    return [
        ({"training_data": str(folder / "missing.csv")}, "missing.csv does not exist"),
        ({"training_data": str(houses), "target": "nope"}, "target 'nope' is not a column of houses.csv; its columns"),
        ({"training_data": str(houses), "target": "neighbourhood", "problem_type": "regression"},
         "regression needs a numeric target, but 'neighbourhood' in houses.csv holds string values"),
        ({"training_data": str(houses), **regression, "time_column": "sold"}, "time_column 'sold' is not a column"),
        ({"training_data": str(houses), **regression, "time_column": "description"},
         "time_column 'description' must hold dates, timestamps or numbers"),
        ({"training_data": str(folder / "ragged.csv"), **regression},
         "ragged.csv line 4 has 9 fields where the header has 8"),
        ({"training_data": str(folder / "latin1.csv"), "target": "price"}, "latin1.csv is not UTF-8 text"),
        ({"training_data": str(folder / "twice.csv"), "target": "rooms"}, "names column(s) ['price'] more than once"),
        ({"training_data": str(folder / "one_class.csv"), "target": "kind"},
         "classification needs at least two classes, but every labelled row of one_class.csv has 'kind' = 'a'"),
        ({"training_data": str(folder / "few.csv"), "target": "kind"},
         "few.csv has 30 rows with a 'kind' value; at least 50"),
    ]  # fmt: skip


BAD_FILE_IDS = ["missing", "target", "regression-text", "time-missing", "time-text", "ragged", "latin-1", "twice",
                "one-class", "few-rows"]  # fmt: skip


@pytest.mark.parametrize("case", range(len(BAD_FILE_IDS)), ids=BAD_FILE_IDS)
def test_training_data_that_cannot_make_an_app_stops_generation_saying_why(cookies, capfd, tmp_path, case):
    answers, reason = bad_files(tmp_path)[case]

    result = cookies.bake(extra_context=answers)

    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not result.project_path.exists()
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR: ") and "hook" not in line]
    assert len(errors) == 1 and reason in errors[0], errors


def test_a_relative_training_data_path_is_read_from_where_cookiecutter_runs(tmp_path):
    house_sales(tmp_path / "houses.csv", rows=100)
    finished = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "-o", "out", "training_data=houses.csv",
         "target=sale_price", "problem_type=regression"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip

    assert finished.returncode == 0, finished.stderr
    first_load = tmp_path / "out" / "bookkeeping_retrain" / "data" / "dataset_1.csv"
    assert first_load.read_text().startswith("Unnamed: 0,neighbourhood")  # named as the app reads it


def test_a_local_checkout_named_by_a_relative_path_bakes_as_the_readme_says(tmp_path):
    checkout = tmp_path / "retrain-template"
    shutil.copytree(TEMPLATE, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "build", "__pycache__"))
    finished = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "retrain-template", "--no-input", "-o", "out"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (tmp_path / "out" / "bookkeeping_retrain" / "data" / "dataset_1.csv").is_file()


def types_of(*paths, target, problem_type="classification", time_column="", time_format=""):
    return training_data.profile(list(paths), target, problem_type, time_column, time_format)


def test_column_types_are_read_as_the_app_reads_them(tmp_path):
    header = ["n", "price", "ok", "day", "moment", "code", "blank", "note"]
    rows = [
        [1, "3", "true", "2024-01-31", "2024-01-31 10:00:00", "007", "", "a"],
        [2, "-1.5e3", "no", "2024-02-29", "2024-01-31T10:00:00+01:00", "12", "NA", "b"],
        [3, "NA", "Yes", "", "null", "x1", " ", "c"],
    ]

    profile = types_of(write_csv(tmp_path / "types.csv", header, rows * 20), target="note")

    assert profile.types == {"n": "integer", "price": "float", "ok": "boolean", "day": "date", "moment": "timestamp",
                             "code": "string", "blank": "string", "note": "string"}  # fmt: skip
    assert profile.labelled_rows == 60 and profile.problems == []


def test_a_nameless_column_gets_the_name_pandas_gives_it(tmp_path):
    profile = types_of(house_sales(tmp_path / "houses.csv", rows=60), target="sale_price", problem_type="regression")

    assert profile.columns[0] == "Unnamed: 0" and profile.types["Unnamed: 0"] == "integer"


def read(path):
    with path.open(newline="") as file:
        return list(csv.reader(file))


def monthly_sales(path, months: list[str], per_month: int = 20):
    """Rows with a month written as people write it, in a scrambled order, and a label."""
    rows = [[month, number % 7, "high" if number % 3 else "low"] for month in months for number in range(per_month)]
    return write_csv(path, ["month", "units", "demand"], rows[::2] + rows[1::2])


def test_a_time_column_written_as_month_and_year_is_read_as_dates_and_the_loads_keep_its_order(tmp_path):
    months = ["Nov-2017", "Dec-2017", "Jan-2018", "Feb-2018", "Mar-2018", "Apr-2018"]
    sales = monthly_sales(tmp_path / "sales.csv", months)

    profile = types_of(sales, target="demand", time_column="month")
    training_data.split_into_loads(sales, tmp_path / "1.csv", tmp_path / "2.csv", profile, "demand", "month")

    assert profile.problems == [] and profile.types["month"] == "date" and profile.time_format == "%b-%Y"
    first_months = {row[0] for row in read(tmp_path / "1.csv")[1:]}
    later_months = {row[0] for row in read(tmp_path / "2.csv")[1:]}
    assert first_months < set(months[:4]) | {"Apr-2018"} and "Nov-2017" in first_months and "Apr-2018" in later_months


@pytest.mark.parametrize(
    ("months", "time_format", "reason"),
    [
        (
            ["01/02/2023", "02/03/2023", "04/05/2023"],
            "",
            "time_column 'month' holds dates such as '01/02/2023' that read two ways (%d/%m/%Y: 2023-02-01, "
            "%m/%d/%Y: 2023-01-02); answer time_format",
        ),
        (
            ["Jan-2018", "Feb-2018", "Spring-2018"],
            "",
            "time_column 'month' must hold dates, timestamps or numbers to order the rows by, but a date format cannot "
            "read its value 'Spring-2018'; answer time_format",
        ),
        (
            ["01/02/2023", "13/02/2023", "2023/02/14"],
            "%d/%m/%Y",
            "but time_format '%d/%m/%Y' cannot read its value '2023/02/14'",
        ),
    ],
    ids=["ambiguous", "unreadable", "not-in-the-given-format"],
)
def test_a_time_column_no_format_settles_is_refused_naming_a_value(tmp_path, months, time_format, reason):
    profile = types_of(monthly_sales(tmp_path / "sales.csv", months), target="demand", time_column="month",
                       time_format=time_format)  # fmt: skip

    assert len(profile.problems) == 1 and reason in profile.problems[0], profile.problems


def test_a_time_format_answer_settles_dates_that_read_two_ways(tmp_path):
    # Day first: 5 January, 2 March, 1 April. Month first, the other way round: 4 January, 3 February, 1 May.
    sales = monthly_sales(tmp_path / "sales.csv", ["01/04/2023", "02/03/2023", "05/01/2023"])

    profile = types_of(sales, target="demand", time_column="month", time_format="%d/%m/%Y")
    training_data.split_into_loads(sales, tmp_path / "1.csv", tmp_path / "2.csv", profile, "demand", "month")

    assert profile.problems == [] and profile.types["month"] == "date"
    first, later = ([row[0] for row in read(tmp_path / name)[1:]] for name in ("1.csv", "2.csv"))
    assert first.count("05/01/2023") == 20 and later.count("01/04/2023") == 20


def test_the_hooks_read_time_columns_by_the_apps_own_list_of_formats():
    formats = training_data.app_time_formats()

    assert "%b-%Y" in formats and "%d/%m/%Y" in formats and "%m/%d/%Y" in formats


def test_with_a_time_column_the_first_load_holds_the_oldest_rows(tmp_path):
    tickets = support_tickets(tmp_path / "tickets.csv")
    profile = types_of(tickets, target="team", time_column="opened_on")

    training_data.split_into_loads(tickets, tmp_path / "1.csv", tmp_path / "2.csv", profile, "team", "opened_on")

    first, later = read(tmp_path / "1.csv"), read(tmp_path / "2.csv")
    assert first[0] == later[0] == read(tickets)[0]
    assert len(first) - 1 == round(0.6 * 900) and len(first) + len(later) - 2 == 900
    assert max(row[0] for row in first[1:]) <= min(row[0] for row in later[1:])


def test_without_a_time_column_the_rows_are_shuffled_the_same_way_every_time_and_unlabelled_ones_left_out(tmp_path):
    houses = house_sales(tmp_path / "houses.csv", rows=200)
    lines = houses.read_text().splitlines()
    unlabelled = houses.with_name("unlabelled.csv")
    unlabelled.write_text("\n".join([lines[0], *(line.rsplit(",", 1)[0] + ",NA" for line in lines[1:11]), *lines[11:]]))
    profile = types_of(unlabelled, target="sale_price", problem_type="regression")

    loads = {n: (tmp_path / f"1{n}.csv", tmp_path / f"2{n}.csv") for n in "ab"}

    left_out = [training_data.split_into_loads(unlabelled, *loads[n], profile, "sale_price") for n in "ab"]

    assert left_out == [10, 10] and profile.labelled_rows == 190
    assert [read(path) for path in loads["a"]] == [read(path) for path in loads["b"]]
    first_numbers = [int(row[0]) for row in read(tmp_path / "1a.csv")[1:]]
    assert first_numbers != sorted(first_numbers) and min(first_numbers) > 10  # shuffled; the unlabelled are gone


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), TEMPLATE / "hooks" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the answers are only read when the hook runs as a script
    return module


def test_the_hooks_are_valid_python_before_they_are_rendered():
    for hook in ("pre_gen_project.py", "post_gen_project.py"):
        assert "{{ cookiecutter" in load_hook(hook).ANSWERS_JSON


def test_the_answer_checks_pass_the_default_answers_and_give_each_bad_answer_its_reason():
    problems = load_hook("pre_gen_project.py").problems
    # The answers cookiecutter.json gives when no one answers, rendered as cookiecutter renders them.
    defaults = dict(prompt_for_config(generate_context(str(TEMPLATE / "cookiecutter.json")), no_input=True))

    assert problems(defaults) == []
    for answers, reason in BAD_ANSWERS:
        if "is not a column" not in reason:  # the data's checks, not the answers'
            assert any(reason in found for found in problems({**defaults, **answers})), (answers, reason)
