"""Train a model: preprocessing fitted once, a time-boxed Optuna search over LightGBM, an ensemble of the best few
settings, each refitted on every row: the best validation score among the models whose predictions fit the
predict-cost budget.

How settings are compared depends on the rows: with a time column, on the newest rows (the model will meet rows
newer than it learnt from); else by k-fold cross-validation while the rows are few enough for it (every row is
validated on once, so small tables give steady scores), or on one random share of a large table. Plain LightGBM at
learning rate 0.05 comes first. Every setting is trained with early stopping on the validation rows, and then takes
the number of boosting rounds that scores best there within the budget (the fewest, of rounds that score alike): early
stopping watches the log loss, which keeps falling long after a score that counts right answers has settled, and
every round costs each prediction a tree per class. The ensemble is picked greedily from the best settings'
validation predictions (adding, with repeats, whichever setting improves the average most while the whole still fits
the budget), then each picked setting is refitted on all rows with the rounds it was validated with, never more.

Up to `workers` trials run at once, and each is told to the search in the order it was asked: for a given seed and
data the search asks for the same parameters in the same order however fast each trial runs, so the result is
deterministic unless the wall-clock budget cuts the search short or a model's measured predict cost is what decides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from scipy.special import expit, softmax
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

from .cost import batch, ms_per_1000_rows, pipeline_cost, trees
from .ensemble import AveragedModels
from .features import ColumnRoles, build_preprocessor, categorical_positions, infer_roles
from .scores import greater_is_better, score_outputs

Progress = Callable[[float], None]  # fraction of the search done, 0..1
VALIDATION_FRACTION = 0.15  # of a large table, or the newest rows of a table with a time column
MOST_ROWS_TO_CROSS_VALIDATE = 10_000  # more rows give steady scores on one share, and k fits would cost k times
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 30
ROUND_CHOICES = 16  # rounds (spaced geometrically up to all that were grown) at which each setting is scored
SAME_SCORE = 0.001  # validation scores within 0.1 % of each other are alike: the model with fewer trees is taken
NOTABLE_GAIN = 0.003  # a better validation score by less than 0.3 % does not restart the search's patience
ENSEMBLE_CANDIDATES = 10  # the best settings the ensemble is picked from
ENSEMBLE_PICKS = 20
SHRINK_TRIES = 4  # for a refitted model over the predict budget
TIMED_TRIAL_ROWS = 1000  # a trial's cost per round is measured on this many validation rows, and this many rounds
TIMED_ROUNDS = 100
# A fit takes one thread per this many rows: on small tables a second thread gains little (0.66 s a fit at 50k rows
# against 0.41) and, beside any busy process, costs five to tenfold, LightGBM's threads waiting on each other
# (local/benchmark_threads.py; docs/benchmarks.md).
ROWS_PER_THREAD = 50_000
# Every setting adds an L2 penalty of at least 1 to each leaf's weight (XGBoost's default; LightGBM's is 0). Without
# it, leaves of rows a multiclass model already predicts with near certainty take huge values and the model collapses:
# on a public 16-class table LightGBM's defaults scored f1 0.89 at 25 rounds and 0.21 at 100, on the very rows they
# trained on. (A floor on a leaf's hessian sum holds it too, but stops rare classes from being learnt at all.)
MIN_L2 = 1.0
# Tried first: plain LightGBM at learning rate 0.05 (what any pick must at least match), and a quick, cheap setting.
FIRST_PARAMS = (
    {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 1.0, "subsample": 1.0,
     "reg_lambda": MIN_L2},
    {"learning_rate": 0.15, "num_leaves": 31, "min_child_samples": 10, "colsample_bytree": 0.8, "subsample": 0.9,
     "reg_lambda": 1.0},
)  # fmt: skip

optuna.logging.set_verbosity(optuna.logging.WARNING)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchBudget:
    max_seconds: float
    patience: int  # stop after this many trials without a better validation score
    workers: int = 1
    max_trials: int = 200
    folds: int = 5  # of the cross-validation of a small table without a time column; 1: one validation share
    max_predict_ms_per_1000_rows: float | None = None  # what predicting 1,000 rows on one thread may cost; None: any


@dataclass
class TrainedModel:
    model: Pipeline
    roles: ColumnRoles
    validation_score: float  # of the ensemble, on the validation rows
    params: dict[str, Any]  # the best setting's, with its rounds and the ensemble's size
    trials: int
    seconds: float
    stopped_because: str
    trees: int = 0  # that a prediction walks through: every class's, of every member
    predict_ms_per_1000_rows: float = 0.0  # measured on the validation rows, on one thread, preprocessing included
    history: list[float] = field(default_factory=list)  # each trial's validation score, in order


@dataclass
class Trial:
    params: dict[str, Any]
    score: float  # on the validation rows, at `rounds`
    predictions: np.ndarray  # on the validation rows at `rounds`: class probabilities, or values
    rounds: int  # of boosting: the fewest that score best within the predict budget
    cost_ms: float  # of the model (not the preprocessing) predicting 1,000 rows on one thread, at `rounds`
    seconds: float


@dataclass(frozen=True)
class Fold:
    """One validation split, with the labels a model of it learns and is early-stopped on."""

    fit: np.ndarray  # positions of the rows it learns from
    valid: np.ndarray  # and of the rows it is scored on
    watched: np.ndarray  # the validation rows early stopping watches
    fit_labels: np.ndarray
    watched_labels: np.ndarray
    classes: np.ndarray | None  # the classes its fit rows hold (their codes among all classes), in the model's order

    @classmethod
    def of(cls, fit: np.ndarray, valid: np.ndarray, labels: np.ndarray, classify: bool) -> Fold:
        """Classes are numbered 0..k-1 among the fit rows' own k: LightGBM 4.7's LGBMClassifier leaves the labels of
        eval_y as they are, so any other numbers (a class the fit rows lack) got early stopping a wrong log loss.
        Early stopping watches the validation rows of those classes: a class the model cannot know (new in the newest
        rows, or rare) costs every round alike and drowned the rest. Its rows still count in the score."""
        if not classify:
            return cls(fit, valid, valid, labels[fit], labels[valid], None)
        classes = np.unique(labels[fit])
        known = np.isin(labels[valid], classes)
        watched = valid[known] if known.any() else valid
        watched_labels = np.searchsorted(classes, labels[watched]).clip(0, len(classes) - 1)
        return cls(fit, valid, watched, np.searchsorted(classes, labels[fit]), watched_labels, classes)


def split_features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]


def stratify_by(truth: pd.Series, problem_type: str, share: float) -> pd.Series | None:
    """Stratify a classification split when every class has two rows to share out and the share can hold them all."""
    counts = truth.value_counts()
    if problem_type == "classification" and counts.min() >= 2 and len(truth) * share >= len(counts):
        return truth
    return None


def validation_splits(
    features: pd.DataFrame, truth: pd.Series, problem_type: str, seed: int, folds: int, time_column: str | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) pairs, as positions: the newest rows with a time column; else k folds of a small
    table, or one random share of a large one (stratified for classification where the classes allow)."""
    rows = np.arange(len(features))
    if time_column is not None and time_column in features.columns:
        newest = features[time_column].rank(method="first", na_option="top") > len(features) * (1 - VALIDATION_FRACTION)
        if 0 < newest.sum() < len(features):
            return [(rows[~newest.to_numpy()], rows[newest.to_numpy()])]
    if folds > 1 and 2 * folds <= len(features) <= MOST_ROWS_TO_CROSS_VALIDATE:
        stratified = problem_type == "classification" and truth.value_counts().min() >= folds
        splitter = StratifiedKFold if stratified else KFold
        return list(splitter(folds, shuffle=True, random_state=seed).split(rows, truth if stratified else None))
    fit, valid = train_test_split(
        rows,
        test_size=VALIDATION_FRACTION,
        random_state=seed,
        stratify=stratify_by(truth, problem_type, VALIDATION_FRACTION),
    )
    return [(np.sort(fit), np.sort(valid))]


def train_model(*args: Any, **kwargs: Any) -> TrainedModel:
    """Search as `Search` is given (its arguments), and the model it trained."""
    return Search(*args, **kwargs).run()


class Search:
    """One time-boxed search over LightGBM settings on one table. The rows are prepared once (preprocessing fitted,
    labels encoded, validation splits and the predict budget left for the model); then `run` evaluates settings as
    the search asks for them, records each, picks the ensemble and refits it within the predict budget."""

    def __init__(
        self,
        frame: pd.DataFrame,
        target: str,
        problem_type: str,
        score_type: str,
        budget: SearchBudget,
        seed: int,
        feature_overrides: Mapping[str, Sequence[str]] | None = None,
        progress: Progress | None = None,
        time_column: str | None = None,
    ):
        self.started = time.monotonic()
        self.problem_type, self.score_type, self.seed = problem_type, score_type, seed
        self.budget, self.progress = budget, progress
        # The model takes every column but the target; its preprocessing drops the ignored ones itself,
        # so callers can pass rows exactly as they are stored or uploaded.
        features, truth = split_features(frame, target)
        self.roles = infer_roles(frame, target, feature_overrides)
        self.preprocessor = build_preprocessor(self.roles).fit(features)
        self.matrix = self.preprocessor.transform(features)
        self.categories = categorical_positions(self.roles)
        self.classes: np.ndarray | None = None
        labels = truth.to_numpy(dtype="float64") if problem_type == "regression" else truth.to_numpy(dtype=object)
        self.final_labels = labels
        if problem_type == "classification":
            # Integer labels, which each fold numbers again among the classes it holds (Fold.of).
            encoder = LabelEncoder().fit(truth)
            self.classes, labels = encoder.classes_, encoder.transform(truth)
        self.labels = labels
        self.splits = validation_splits(features, truth, problem_type, seed, budget.folds, time_column)
        self.folds = [Fold.of(fit, valid, labels, self.classes is not None) for fit, valid in self.splits]
        self.validated = np.concatenate([valid for _, valid in self.splits])
        self.threads = training_threads(len(labels)) if budget.workers == 1 else 1
        self.codes = np.arange(len(self.classes)) if self.classes is not None else None
        self.refit_share = len(labels) / max(1, np.mean([len(fit) for fit, _ in self.splits]))
        timed_rows = np.sort(self.validated)[batch(len(self.validated))]  # what predict costs are measured on
        self.timed_features = features.iloc[timed_rows]
        self.timed_matrix = self.matrix[timed_rows[:TIMED_TRIAL_ROWS]]
        self.limit = budget.max_predict_ms_per_1000_rows
        # What the preprocessing costs every prediction, whichever model follows it; the models share what is left.
        self.features_ms = self.model_budget = None
        if self.limit is not None:
            self.features_ms = ms_per_1000_rows(
                lambda: self.preprocessor.transform(self.timed_features), len(self.timed_features)
            )
            self.model_budget = self.limit - self.features_ms
        self.direction = "maximize" if greater_is_better(score_type) else "minimize"
        self.trials: list[Trial] = []
        self.best: Trial | None = None
        self.search_over = threading.Event()
        self.since_better, self.stopped_because, self.done = 0, "max trials", 0.0
        self.study = optuna.create_study(direction=self.direction, sampler=optuna.samplers.TPESampler(seed=seed))
        for params in FIRST_PARAMS:
            self.study.enqueue_trial(params)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def time_is_up(self) -> bool:
        # The refits come after the search, within the budget: keep time for the best setting's, twice over.
        best = self.best
        refit_seconds = 2 * best.seconds / len(self.splits) * self.refit_share if best else 0.0
        return time.monotonic() - self.started + refit_seconds >= self.budget.max_seconds

    def measure(self, predictions: np.ndarray) -> float:
        return score_outputs(self.labels[self.validated], predictions[self.validated], self.score_type, self.codes)

    def evaluate(self, params: dict[str, Any]) -> Trial:
        """Fit on each split's fit rows, early-stopped on its validation rows; then take the rounds that score best
        within the budget."""
        trial_started = time.monotonic()
        estimators = []
        for fold in self.folds:
            estimator = make_estimator(self.problem_type, params, self.seed, self.threads, MAX_ROUNDS)
            estimator.fit(
                self.matrix[fold.fit],
                fold.fit_labels,
                eval_X=(self.matrix[fold.watched],),
                eval_y=(fold.watched_labels,),
                categorical_feature=self.categories,
                callbacks=[
                    lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False),
                    stop_when(lambda: self.search_over.is_set() or self.time_is_up()),
                ],
            )
            estimators.append(estimator)
        round_ms = 0.0
        if self.model_budget is not None:  # each round costs about the same (later ones less): measured on a few
            # On one thread, as served; that is `threads` whenever other workers train beside this one (see run).
            booster = estimators[0].booster_
            timed = min(booster.current_iteration(), TIMED_ROUNDS)
            some = ms_per_1000_rows(
                lambda: booster.predict(self.timed_matrix, raw_score=True, num_iteration=timed, num_threads=1),
                TIMED_TRIAL_ROWS,
            )
            round_ms = some / timed
        choices = {
            rounds: (self.measure(outputs), outputs)
            for rounds, outputs in outputs_by_rounds(
                estimators, self.folds, self.matrix, len(self.labels), self.classes, self.threads
            )
        }
        rounds = fewest_best_rounds(choices, self.better, round_ms, self.model_budget)
        score, outputs = choices[rounds]
        return Trial(params, score, outputs, rounds, rounds * round_ms, time.monotonic() - trial_started)

    def settings_to_try(self) -> Iterator[tuple[optuna.trial.Trial, dict[str, Any]]]:
        while True:
            asked = self.study.ask()
            yield asked, suggest(asked)

    def record(self, asked: optuna.trial.Trial, trial: Trial) -> bool:
        """Tell the search how a trial scored; whether the search is over."""
        budget = self.budget
        self.study.tell(asked, trial.score)
        self.trials.append(trial)
        if self.best is None:
            self.best = trial
        elif self.better(trial.score, self.best.score):
            # Patience restarts only for a gain worth the wait: on a table the search has all but
            # exhausted, settings keep winning by hairs that no ensemble or test would notice.
            worth_waiting = abs(trial.score - self.best.score) > NOTABLE_GAIN * abs(self.best.score)
            self.best, self.since_better = trial, 0 if worth_waiting else self.since_better + 1
        else:
            self.since_better += 1
        elapsed = (time.monotonic() - self.started) / budget.max_seconds
        self.done = min(1.0, max(self.done, self.since_better / budget.patience, elapsed))
        if self.progress:
            self.progress(self.done)
        if self.since_better >= budget.patience:
            self.stopped_because = f"no better score in {budget.patience} models"
        elif self.time_is_up():
            self.stopped_because = f"time budget of {budget.max_seconds:.0f} s"
        else:
            return False
        return True

    def refit(self, index: int, rounds: int | None = None):
        """The `index`-th trial's setting fitted on every row, on the real labels (the model then predicts them, and
        its classes_ are in the encoder's order), with its validated rounds or `rounds`."""
        trial = self.trials[index]
        estimator = make_estimator(self.problem_type, trial.params, self.seed, self.threads, rounds or trial.rounds)
        return estimator.fit(self.matrix, self.final_labels, categorical_feature=self.categories)

    def within_budget(
        self, weights: dict[int, float], members: dict[int, Any]
    ) -> tuple[Pipeline, dict[int, float], dict[int, Any], float]:
        """The refitted ensemble with its weights, members and predict cost. The refits learnt from more rows than the
        validated models, and timings vary: one over the budget sheds its least-weighted member, or rounds, until it
        fits (or has one round left)."""
        members = dict(members)
        model = assemble(self.preprocessor, weights, members)
        predict_ms = pipeline_cost(model, self.timed_features)
        for _ in range(SHRINK_TRIES):
            if self.limit is None or predict_ms <= self.limit:
                break
            if len(weights) > 1:
                weights = without_least(weights)
            else:
                [index] = weights
                rounds = members[index].n_estimators
                share = (self.limit - self.features_ms) / max(predict_ms - self.features_ms, 1e-9)
                if rounds == 1 or share <= 0:
                    break
                members[index] = self.refit(index, max(1, min(rounds - 1, int(rounds * share * 0.9))))
            model = assemble(self.preprocessor, weights, members)
            predict_ms = pipeline_cost(model, self.timed_features)
        return model, weights, members, predict_ms

    def run(self) -> TrainedModel:
        workers = self.budget.workers
        # One worker trains in this thread: LightGBM's OpenMP team must live in one thread only, since idle teams
        # left behind in other threads spin and slowed later fits tenfold here. Several workers train one thread each.
        with ThreadPoolExecutor(max_workers=workers) if workers > 1 else InThisThread() as pool:
            try:
                run_in_order(self.settings_to_try(), self.evaluate, self.record, pool, workers, self.budget.max_trials)
            finally:
                # Trials after the one that ended the search (or after an error) stop at once and are not heard: the
                # search's result must not depend on how far they got.
                self.search_over.set()
            weights, validation_score = pick_ensemble(self.trials, self.measure, self.better, self.model_budget)
            # Refitted by the same workers, side by side: LightGBM on all cores in this thread, after the workers'
            # threads have used it, ran four times slower here.
            members = dict(zip(weights, pool.map(self.refit, weights), strict=True))
            model, weights, members, predict_ms = self.within_budget(weights, members)
        chosen, chosen_rounds = self.trials[next(iter(weights))], members[next(iter(weights))].n_estimators
        logger.info(
            "search stopped (%s) after %d models; ensemble of %d, %d trees, %.1f ms per 1,000 rows; validation %s %.4f",
            self.stopped_because,
            len(self.trials),
            len(weights),
            trees(model),
            predict_ms,
            self.score_type,
            validation_score,
        )
        return TrainedModel(
            model=model,
            roles=self.roles,
            validation_score=validation_score,
            params={**chosen.params, "n_estimators": chosen_rounds, "ensemble_members": len(weights)},
            trials=len(self.trials),
            seconds=time.monotonic() - self.started,
            stopped_because=self.stopped_because,
            trees=trees(model),
            predict_ms_per_1000_rows=round(predict_ms, 2),
            history=[trial.score for trial in self.trials],
        )


def fewest_best_rounds(
    choices: Mapping[int, tuple[float, Any]],
    better: Callable[[float, float], bool],
    round_ms: float,
    budget: float | None,
) -> int:
    """Of the rounds scored (rounds -> score, outputs), the fewest that score as well as the best within the budget
    (`round_ms` a round; None: any), or the fewest of all when none fits."""
    affordable = [r for r in choices if budget is None or r * round_ms <= budget] or [min(choices)]
    top = max((choices[r][0] for r in affordable), key=lambda value: value if better(1, 0) else -value)
    return min(r for r in affordable if abs(choices[r][0] - top) <= SAME_SCORE * abs(top))


def assemble(preprocessor, weights: dict[int, float], members: dict[int, Any]) -> Pipeline:
    """The preprocessing, then the members with these weights (one member alone, as it is)."""
    picked = [(weight, members[index]) for index, weight in weights.items()]
    estimator = AveragedModels(picked) if len(picked) > 1 else picked[0][1]
    return Pipeline([("features", preprocessor), ("model", estimator)])


def without_least(weights: dict[int, float]) -> dict[int, float]:
    """The ensemble's weights without its least-weighted member, the others scaled back to a sum of 1."""
    least = min(weights, key=weights.get)
    total = sum(weight for index, weight in weights.items() if index != least)
    return {index: weight / total for index, weight in weights.items() if index != least}


def outputs_by_rounds(
    estimators: list,
    folds: list[Fold],
    matrix,
    rows: int,
    classes: np.ndarray | None,
    threads: int,
) -> Iterator[tuple[int, np.ndarray]]:
    """(rounds, validation outputs) at ROUND_CHOICES numbers of rounds up to all that were grown: each split's model
    predicts its validation rows (class probabilities, or values) with its first `rounds` rounds.

    The raw scores of the rounds between two choices are added to those before: one pass over all the trees. Every
    prediction names its `threads`, those of the models training beside it: LightGBM keeps one process-wide thread
    count, and a predict that resets it while another thread trains crashed the process here.
    """
    grown = max(estimator.booster_.current_iteration() for estimator in estimators)
    # A raw score per class; one for values, or for two classes (the second's log-odds).
    raw = [
        np.zeros((len(fold.valid), 1 if classes is None or len(fold.classes) == 2 else len(fold.classes)))
        for fold in folds
    ]
    previous = 0
    for rounds in np.unique(np.geomspace(1, grown, ROUND_CHOICES).round().astype(int)):
        outputs = np.zeros((rows, len(classes)) if classes is not None else rows)
        for estimator, fold, scores in zip(estimators, folds, raw, strict=True):
            booster, valid = estimator.booster_, fold.valid
            start, end = min(previous, booster.current_iteration()), min(rounds, booster.current_iteration())
            if end > start:  # a model that stopped sooner has no more rounds to add
                step = booster.predict(
                    matrix[valid], raw_score=True, start_iteration=start, num_iteration=end - start, num_threads=threads
                )
                scores += step.reshape(len(valid), -1)
            if classes is None:
                outputs[valid] = scores[:, 0]
            else:  # a class the fold's fit rows lacked gets probability 0
                outputs[np.ix_(valid, fold.classes)] = probabilities(scores)
        previous = rounds
        yield int(rounds), outputs


def probabilities(raw: np.ndarray) -> np.ndarray:
    """Raw scores as class probabilities: one column (two classes) or one per class."""
    if raw.shape[1] == 1:
        positive = expit(raw[:, 0])
        return np.column_stack([1 - positive, positive])
    return softmax(raw, axis=1)


def run_in_order(
    upcoming: Iterator[tuple[Any, dict[str, Any]]],
    evaluate: Callable[..., Trial],
    record: Callable[[Any, Trial], bool],
    pool: Executor,
    workers: int,
    max_trials: int,
) -> None:
    """Run the upcoming (asked, params) trials on `workers` at once, and `record` each in the order it
    was asked until `record` says the search is over.

    Each trial is asked for as soon as the one 2 x workers - 1 places before it is recorded, and started when a
    worker is free: a worker need not wait for an older, slower trial to end, and yet every trial is asked knowing
    the same earlier ones, so for a seed and data the search asks for the same settings however fast each runs.
    """
    ahead = 2 * workers - 1
    waiting: deque[tuple[int, Any, dict[str, Any]]] = deque()
    started: dict[int, tuple[Any, Future[Trial]]] = {}
    recorded = 0

    def ask_ahead() -> None:
        asked = recorded + len(started) + len(waiting)
        for index in range(asked, min(max_trials, recorded + ahead)):
            waiting.append((index, *next(upcoming)))

    ask_ahead()
    while True:
        busy = sum(not future.done() for _, future in started.values())
        while waiting and busy < workers:
            index, question, params = waiting.popleft()
            started[index] = (question, pool.submit(evaluate, params))
            busy += 1
        if recorded not in started:
            return  # every trial allowed has been recorded
        wait([future for _, future in started.values() if not future.done()], return_when=FIRST_COMPLETED)
        while recorded in started and started[recorded][1].done():
            question, future = started.pop(recorded)
            recorded += 1
            if record(question, future.result()):
                return
            ask_ahead()


def pick_ensemble(
    trials: list[Trial], measure, better, model_budget: float | None = None
) -> tuple[dict[int, float], float]:
    """Weights of the trials whose averaged validation predictions score best, picked greedily with repeats from
    the best few (Caruana et al., 2004), starting from the best one alone; with a budget, from those that fit it, and
    adding a new member only while every member's predictions together still fit it."""

    def fits(members: set[int]) -> bool:
        return model_budget is None or sum(trials[i].cost_ms for i in members) <= model_budget

    ranked = sorted(range(len(trials)), key=lambda i: trials[i].score, reverse=better(1, 0))
    # When no model fits (the preprocessing alone may not), the cheapest is the nearest.
    ranked = [i for i in ranked if fits({i})] or [min(ranked, key=lambda i: trials[i].cost_ms)]
    ranked = ranked[:ENSEMBLE_CANDIDATES]
    picked = [ranked[0]]
    total, current = trials[ranked[0]].predictions.copy(), trials[ranked[0]].score
    for _ in range(ENSEMBLE_PICKS - 1):
        affordable = [i for i in ranked if i in picked or fits({*picked, i})]  # a repeat costs nothing more
        scores = {i: measure((total + trials[i].predictions) / (len(picked) + 1)) for i in affordable}
        candidate = affordable[0]
        for i in affordable:
            if better(scores[i], scores[candidate]):
                candidate = i
        if not better(scores[candidate], current):
            break
        picked.append(candidate)
        total += trials[candidate].predictions
        current = scores[candidate]
    weights = {index: picked.count(index) / len(picked) for index in dict.fromkeys(picked)}
    return weights, current


def stop_when(should_stop: Callable[[], bool]) -> Callable:
    """A LightGBM callback that ends training once `should_stop()`, keeping the trees grown so far.

    Without it one slow model on a large table could overrun the whole search budget.
    """

    def callback(env: lgb.callback.CallbackEnv) -> None:
        if should_stop():
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # after early stopping has had its say on this iteration
    return callback


class InThisThread(Executor):
    """Runs each task in the calling thread as it is submitted: the search's single worker."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to whoever asks for the result, as a thread pool would
            future.set_exception(error)
        return future


def suggest(trial: optuna.trial.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", MIN_L2, 30.0, log=True),
    }


def training_threads(rows: int) -> int:
    """LightGBM's threads for one worker's fits on `rows`: one per ROWS_PER_THREAD rows, up to the cores this process
    may use (joblib reads a container's CPU limit, which the machine's core count ignores)."""
    return max(1, min(joblib.cpu_count(), rows // ROWS_PER_THREAD))


def make_estimator(problem_type: str, params: Mapping[str, Any], seed: int, threads: int, rounds: int):
    estimator = lgb.LGBMClassifier if problem_type == "classification" else lgb.LGBMRegressor
    return estimator(**estimator_settings(params, seed, rounds), n_jobs=threads)


def estimator_settings(params: Mapping[str, Any], seed: int, rounds: int) -> dict[str, Any]:
    """A setting of the search as LightGBM's estimators take it, on one machine or on a Dask cluster."""
    return {
        **params,
        "n_estimators": rounds,
        "subsample_freq": 1,
        "random_state": seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }
