"""predict-table: the champion scores a whole table, a batch at a time, into a table of its own (on each backend)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.app_name }} import batch_scoring
from {{ cookiecutter.app_name }}.batch_scoring import BatchScoringError, score_table
from {{ cookiecutter.app_name }}.config import Settings
from {{ cookiecutter.app_name }}.datastore import DataStore, DataStoreError, open_datastore
from {{ cookiecutter.app_name }}.ml.prediction import predict_table
from {{ cookiecutter.app_name }}.ml.row_hash import row_hashes
from {{ cookiecutter.app_name }}.registry import ModelRegistry, open_registry

pytestmark = pytest.mark.unit


def quoted(settings, table: str) -> str:
    return f"`{table}`" if settings.app.data_source == "bigquery" else f'"{table}"'


def rows_of(settings, table: str) -> pd.DataFrame:
    """Every row of a table the data store can see, read back by a query."""
    batches = open_datastore(settings).batches(10_000, f"SELECT * FROM {quoted(settings, table)}")
    return pd.concat(batches, ignore_index=True)


@dataclasses.dataclass(frozen=True)
class Scoring:
    settings: Settings
    store: DataStore
    registry: ModelRegistry
    version: int


@pytest.fixture
def served(served_environment) -> Scoring:
    """The module's environment of 600 rows and its champion (v1); each test writes tables of its own names."""
    settings = served_environment.settings
    return Scoring(settings, served_environment.store, open_registry(settings), served_environment.version)


def on_engine(settings, engine: str):
    return dataclasses.replace(settings, app=dataclasses.replace(settings.app, training_engine=engine))


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_every_row_gets_its_id_the_champions_prediction_and_its_version(served, engine):
    settings, target = served.settings, served.settings.app.target

    scored = score_table(on_engine(settings, engine), served.registry)

    written, table = rows_of(settings, scored.table), served.store.read()
    assert (scored.rows, len(written), scored.engine) == (len(table), len(table), engine)
    assert scored.model_version == served.version and (written["model_version"] == served.version).all()
    # Without an id_column, a row's id is the hash its holdout gives it: every column but the target, by name.
    ids = [f"{value:016x}" for value in row_hashes(table, sorted(set(table.columns) - {target}))]
    assert set(written["row_id"]) == set(ids)
    # Each row's prediction is the one the champion makes in this process.
    expected = predict_table(served.registry.load(served.version), table, target).set_axis(ids)
    got = written.set_index("row_id").loc[ids]
    assert got[f"predicted_{target}".replace(" ", "_")].tolist() == expected[f"predicted_{target}"].tolist()
    probabilities = [column for column in got.columns if column.startswith("probability_")]
    assert len(probabilities) == len(expected.columns) - 1
    if probabilities:
        np.testing.assert_allclose(got[probabilities].sum(axis=1), 1.0, atol=1e-4)


def test_a_querys_rows_are_scored_into_the_table_named(served):
    query = f"SELECT * FROM {quoted(served.settings, served.store.table)} LIMIT 40"

    scored = score_table(served.settings, served.registry, query=query, output="first_forty")

    assert scored.table.endswith("first_forty") and scored.rows == 40
    assert len(rows_of(served.settings, scored.table)) == 40


def test_rows_the_model_cannot_read_or_an_output_over_the_training_table_are_refused_and_nothing_is_written(served):
    settings, store, rows = served.settings, served.store, served.store.count()
    one_column = f"SELECT {quoted(settings, settings.app.target)} FROM {quoted(settings, store.table)}"

    with pytest.raises(BatchScoringError, match=r"do not fit the model: missing column\(s\)"):
        score_table(settings, served.registry, query=one_column, output="never_written")
    with pytest.raises(DataStoreError, match="exists and was not written by this command"):
        score_table(settings, served.registry, output=store.table.split(".")[-1])  # the training table itself

    assert store.count() == rows
    never = store.batches(10, f"SELECT * FROM {quoted(settings, store.table_beside('never_written'))}")
    with pytest.raises(DataStoreError, match="does not exist"):
        next(never)


def test_a_scoring_that_fails_part_way_leaves_the_table_it_was_writing_as_it_was(served, monkeypatch):
    settings, store = served.settings, served.store
    query = f"SELECT * FROM {quoted(settings, store.table)} LIMIT 40"
    before = score_table(settings, served.registry, query=query, output="scored")
    four_times = " UNION ALL ".join([f"SELECT * FROM {quoted(settings, store.table)}"] * 4)  # more rows than a batch
    monkeypatch.setattr(batch_scoring, "BATCH_ROWS", 2048)  # the fewest rows DuckDB hands out at a time
    scorer = batch_scoring.Scorer.__call__
    calls = []

    def failing_on_the_second_batch(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise BatchScoringError("the second batch could not be scored")
        return scorer(self, rows)

    monkeypatch.setattr(batch_scoring.Scorer, "__call__", failing_on_the_second_batch)

    with pytest.raises(BatchScoringError, match="second batch"):
        score_table(settings, served.registry, query=four_times, output="scored")

    assert len(calls) == 2 and calls[0] <= 2048, "the rows are read a batch at a time"
    assert len(rows_of(settings, before.table)) == 40


def test_an_environment_no_model_serves_is_refused(settings, store, registry):
    with pytest.raises(BatchScoringError, match="no model serves integration yet"):
        score_table(settings, registry)
