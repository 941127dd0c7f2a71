"""A retrain's rows spread over a Dask cluster: read partition by partition from the data store, never whole into one
process. Each row is indexed by its hash, which decides the same holdouts, data hash and test-row hash as a local
retrain's (engines/local.py); the rows are shuffled by it too, so that no worker holds one class or one period alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd

from ..config import Settings
from ..ml import TrainedModel, split_features
from ..ml.dask_training import train_on_cluster
from ..ml.row_hash import digest, row_hashes
from ..ml.scores import predictions_to_score, score_predicted
from ..packaged_model import EXAMPLE_ROWS
from .local import Rules, search_budget

PARTITION_ROWS = 250_000  # at most, per partition: a few hundred MB in a worker's memory
PARTITIONS_PER_WORKER = 2  # at least: every worker holds rows to train on


class DaskTable:
    engine = "dask"

    def __init__(self, store, folder: Path, client, settings: Settings):
        self.client, self.settings = client, settings
        workers = len(client.scheduler_info()["workers"])
        rows = store.count()
        per_partition = max(1, min(PARTITION_ROWS, math.ceil(rows / (PARTITIONS_PER_WORKER * workers))))
        readers = store.partitions(folder, per_partition)
        meta = store.head(1).iloc[:0].set_index(pd.Index([], dtype="uint64"))
        read = dd.from_map(read_indexed, readers, meta=meta)
        partitions = max(PARTITIONS_PER_WORKER * workers, len(readers))
        self.frame = read.shuffle(on=read.index, npartitions=partitions, shuffle_method="tasks")
        self.frame = client.persist(self.frame)
        hashes = self.frame.index.compute().to_numpy()
        self.meta = meta  # the table's columns and types, without rows
        self.rows, self.columns, self.data_hash = len(hashes), list(meta.columns), digest(np.sort(hashes))
        self.workers = sum(1 for held in client.has_what().values() if held)  # those holding partitions
        self.training: dd.DataFrame | None = None
        self.training_rows = 0

    def rule_frame(self, settings: Settings) -> pd.DataFrame:
        """What a holdout rule is made from: the time column's values, or (a rule by hash) only the column names."""
        time_column = settings.app.time_column
        if time_column and time_column in self.columns:
            return self.frame[[time_column]].compute().reset_index(drop=True)
        return self.meta

    def split(self, holdout) -> tuple[int, int]:
        self.training = self.frame.map_partitions(rows_held_out, (holdout,), False)
        self.training_rows = int(self.training.map_partitions(len).compute().sum())
        return self.training_rows, self.rows - self.training_rows

    def train(self, settings: Settings, progress: Callable[[float], None] | None = None) -> TrainedModel:
        app = settings.app
        return train_on_cluster(
            self.training,
            self.training_rows,
            app.target,
            app.problem_type,
            app.score_type,
            search_budget(app),
            app.random_seed,
            self.client,
            feature_overrides=asdict(app.features),
            time_column=app.time_column,
            progress=progress,
        )

    def held_out_by(self, rules: Rules) -> tuple[int, str]:
        hashes = self.frame.map_partitions(hashes_held_out, rules, meta=pd.Series(dtype="uint64")).compute()
        return len(hashes), digest(np.sort(hashes.to_numpy()))

    def score(self, model, rules: Rules, target: str, score_type: str) -> float:
        """The model's score on the rows every rule holds out: predicted where the rows are, scored here."""
        classes = list(model.classes_) if score_type == "roc_auc" else None
        columns = [f"probability_{position}" for position in range(len(classes))] if classes else ["predicted"]
        meta = pd.DataFrame(
            {
                "truth": self.meta[target],
                **{column: pd.Series(dtype=float if classes else object) for column in columns},
            }
        )
        [shared] = self.client.scatter([model], broadcast=True)  # sent to each worker once, not with every partition
        found = self.frame.map_partitions(predicted_held_out, rules, shared, target, score_type, meta=meta).compute()
        predicted = found[columns].to_numpy()
        return score_predicted(found["truth"], predicted if classes else predicted[:, 0], score_type, classes)

    def example(self, target: str) -> pd.DataFrame:
        head = self.training.head(EXAMPLE_ROWS, npartitions=-1).reset_index(drop=True)
        return split_features(head, target)[0]


def read_indexed(reader: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A partition, each row indexed by its hash."""
    partition = reader()
    return partition.set_index(pd.Index(row_hashes(partition), dtype="uint64"))


def held_out(partition: pd.DataFrame, rules: Rules) -> np.ndarray:
    frame = partition.reset_index(drop=True)
    return np.logical_and.reduce([rule.mask(frame) for rule in rules])


def rows_held_out(partition: pd.DataFrame, rules: Rules, keep: bool) -> pd.DataFrame:
    return partition[held_out(partition, rules) == keep]


def hashes_held_out(partition: pd.DataFrame, rules: Rules) -> pd.Series:
    return pd.Series(partition.index[held_out(partition, rules)].to_numpy(), dtype="uint64")


def predicted_held_out(partition: pd.DataFrame, rules: Rules, model, target: str, score_type: str) -> pd.DataFrame:
    features, truth = split_features(partition[held_out(partition, rules)].reset_index(drop=True), target)
    predicted = predictions_to_score(model, features, score_type).reshape(len(features), -1)
    columns = (
        [f"probability_{position}" for position in range(predicted.shape[1])]
        if score_type == "roc_auc"
        else ["predicted"]
    )
    return pd.DataFrame({"truth": truth, **dict(zip(columns, predicted.T, strict=True))})
