"""Objectives that really train and report every epoch so pruners can stop a trial early:
the shared template (seeds per trial, reuse of repeated configurations, the best model kept) and
:class:`MLPObjective` (scikit-learn's ``MLPClassifier``, a fast proxy); the tiny transformer's is in
:mod:`workbench.sweeps.transformer`."""


import contextlib
import functools
import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna

from workbench._distributed import broadcast_from_main, process_group
from workbench._validation import check_choice, check_int, check_type
from workbench.errors import (
    DataError,
    ParameterError,
    first_line,
)
from workbench.sweeps.artifacts import _artifact_store, save_model_artifact
from workbench.sweeps.factories import QUALITY_METRICS, _check_objectives, directions_of
from workbench.sweeps.spaces import SearchSpace


def TrialPruningCallback(trial: optuna.Trial, *, metric: str = "accuracy"):  # noqa: N802 (a class to callers)
    """A ``transformers.TrainerCallback`` that reports each epoch's validation metric to ``trial``.

    After every evaluation it calls ``trial.report(value, epoch)`` and, when the study's pruner says so,
    raises :class:`optuna.TrialPruned` out of ``Trainer.train`` (``fine_tune`` still removes its
    temporary checkpoints: that happens in a ``finally``). Multi-objective trials are not pruned
    (Optuna does not support it) but their epochs are still counted. The epochs trained so far are kept
    as the steps of the trial's reports. Under ``torchrun`` / ``accelerate launch`` every rank adds the
    callback, rank 0 with the trial and the others with ``None`` (or an Optuna ``TorchDistributedTrial``
    on every rank): rank 0's pruning decision is broadcast, so all ranks stop together (:func:`report_epoch`).

    >>> callback = TrialPruningCallback(trial, metric="macro_f1")  # doctest: +SKIP
    >>> fine_tune(model, tok, data, config, callbacks=[callback])  # doctest: +SKIP
    """
    check_choice("metric", metric, "TrialPruningCallback", QUALITY_METRICS)
    return _pruning_callback_class()(trial, metric)


@functools.cache
def _pruning_callback_class():
    from transformers import (
        TrainerCallback,  # lazy: an MLP-only worker never imports transformers
    )

    class _TrialPruningCallback(TrainerCallback):
        def __init__(self, trial, metric):
            self.trial, self.metric = trial, metric

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(f"eval_{self.metric}")
            if value is not None:
                report_epoch(self.trial, float(value), int(round(state.epoch or 0)))

    return _TrialPruningCallback


def report_epoch(trial: optuna.Trial | None, value: float, epoch: int, *, count: bool = True) -> None:
    """Report ``value`` after ``epoch`` epochs and raise ``TrialPruned`` if the pruner says so.

    The reported steps count the epochs a trial trained; multi-objective trials, which Optuna does not
    let report, keep the count in the user attribute ``epochs`` instead (unless ``count`` is False: a
    replayed configuration trains nothing). ``trial=None`` (a re-score outside any study) does nothing.

    When one trial spans the ranks of a ``torchrun`` / ``accelerate launch`` run (DDP training), rank 0
    holds the trial (other ranks may pass ``None``): it reports and asks the pruner, and its decision is
    broadcast (:func:`workbench._distributed.broadcast_from_main`), so every rank stops at the same
    evaluation instead of leaving the others waiting in a collective. An Optuna
    ``TorchDistributedTrial``, which broadcasts by itself on every call, is used as it is on every rank.
    """
    dist = process_group()
    if dist is None or _is_torch_distributed_trial(trial):
        _report_and_prune(trial, value, epoch, count=count)
        return
    reason = None
    if dist.get_rank() == 0:
        try:
            _report_and_prune(trial, value, epoch, count=count)
        except optuna.TrialPruned as pruned:
            reason = str(pruned)
    reason = broadcast_from_main(reason)
    if reason is not None:
        raise optuna.TrialPruned(reason)


def _is_torch_distributed_trial(trial) -> bool:
    return type(trial).__name__ == "TorchDistributedTrial"


def _report_and_prune(trial, value: float, epoch: int, *, count: bool) -> None:
    if trial is None:
        return
    study = getattr(trial, "study", None)  # a FixedTrial (replaying parameters) has no study
    if study is not None and len(study.directions) > 1:
        if count:
            trial.set_user_attr("epochs", epoch)
        return
    trial.report(value, epoch)
    if trial.should_prune():
        reason = f"pruned after epoch {epoch} at {value:.4f}"
        trial.set_user_attr("reason", reason)
        raise optuna.TrialPruned(reason)


class _Objective:
    """Template of a trial: sample, train with per-epoch reports, measure, return the objective values.

    Shared by both objectives: ``seeds_per_trial`` training seeds per trial for a noisy objective
    (the value is their mean, ``value_std`` their spread; the pruner sees the first seed's epochs),
    repeated configurations of a study answered from a cache instead of trained again (``reused``
    trials, zero epochs; the objective is deterministic for a given seed), the study's best model so
    far kept as an Optuna artifact when ``artifact_store`` is given (``artifact_id``), and
    :meth:`fit_predict` to re-score a configuration on fresh seeds.
    """

    model_name = ""
    uses_torch = False

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 3, seed: int = 0, threads: int = 1, latency_repeats: int = 20,
                 seeds_per_trial: int = 1, reuse: bool = True, artifact_store=None) -> None:
        func = type(self).__name__
        check_type("space", space, func, SearchSpace, fix="Build it with load_space or default_space.")
        if space.model != self.model_name:
            raise ParameterError(f"The 'space' parameter of {func} must be a {self.model_name!r} space. Got a "
                                 f"{space.model!r} space instead. Use load_space(..., model={self.model_name!r}).")
        for split in ("train", "validation"):
            if split not in dataset or len(dataset[split]) == 0:
                raise DataError(f"The 'dataset' parameter of {func} needs a non-empty {split!r} split. Got "
                                f"{ {k: len(v) for k, v in dataset.items()} } instead. Use workbench.load_dataset.")
        self.dataset, self.space = dataset, space
        self.objectives = _check_objectives(objectives, func)
        self.metric = self.objectives[0]
        self.epochs = check_int("epochs", epochs, func, low=1)
        self.seed = check_int("seed", seed, func, low=0)
        self.threads = check_int("threads", threads, func, low=1)
        self.latency_repeats = check_int("latency_repeats", latency_repeats, func, low=1)
        self.seeds_per_trial = check_int("seeds_per_trial", seeds_per_trial, func, low=1, high=100)
        self.reuse = bool(reuse)
        self.artifact_store = _artifact_store(artifact_store, func)
        self._cache: dict[tuple, dict[str, Any]] = {}
        self._best: dict[str, tuple[float, int, Any]] = {}
        self.n_reused = 0

    @property
    def directions(self) -> list[str]:
        return directions_of(self.objectives)

    def settings(self) -> dict[str, Any]:
        """What, besides the data and the space, decides a trial's value (the study fingerprint's part)."""
        return {"objective": type(self).__name__, "objectives": list(self.objectives), "epochs": self.epochs,
                "seed": self.seed, "seeds_per_trial": self.seeds_per_trial}

    def fingerprint(self) -> dict[str, str]:
        """Data hash, space, objective settings and package version, as short strings to compare.

        :func:`~workbench.sweeps.run_sweep` stores it in the study's user attributes and refuses a worker
        or a re-run whose fingerprint differs (the two would fill one study with incomparable trials).
        """
        from workbench import __version__

        splits = {name: [list(map(str, self.dataset[name]["text"])), list(map(int, self.dataset[name]["label"]))]
                  for name in ("train", "validation")}
        return {"data": _digest(splits), "space": _digest([sorted((k, repr(v)) for k, v in self.space.params.items()),
                                                           sorted((k, repr(v)) for k, v in self.space.fixed.items())]),
                "objective": json.dumps(self.settings(), sort_keys=True), "version": __version__}

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        params = self.space.suggest(trial)
        study = getattr(trial, "study", None)  # a FixedTrial (replaying parameters) has none: nothing to reuse
        key = None if study is None or not self.reuse else \
            (study.study_name, tuple(sorted((k, repr(v)) for k, v in params.items())))
        try:
            if key in self._cache:
                measures = self._replay(trial, self._cache[key])
            else:
                measures, model = self._train_seeds(trial, params)
                if key is not None:
                    self._cache[key] = measures
                self._keep_if_best(trial, measures, model)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            # Optuna marks the trial FAIL and keeps only a log line: the reason goes with the trial.
            trial.set_user_attr("reason", f"{type(error).__name__}: {first_line(error)}")
            raise
        for key_, value in measures.items():
            trial.set_user_attr(key_, value)
        values = tuple(float(measures[name]) for name in self.objectives)
        return values[0] if len(values) == 1 else values

    def _train_seeds(self, trial, params) -> tuple[dict[str, Any], Any]:
        runs = []
        with _thread_limit(self.threads, torch=self.uses_torch):
            for offset in range(self.seeds_per_trial):  # the pruner judges the first seed's epochs
                runs.append(self.train(trial if offset == 0 else None, params, seed=self.seed + offset))
        measures = dict(runs[0][0])
        if len(runs) > 1:
            for name in ("accuracy", "macro_f1"):
                values = [run[name] for run, _ in runs]
                measures[name], measures[f"{name}_std"] = float(np.mean(values)), float(np.std(values, ddof=1))
            measures["epochs"] = int(sum(run["epochs"] for run, _ in runs))
        measures["value_std"] = measures.get(f"{self.metric}_std", 0.0)
        return measures, runs[0][1]

    def _replay(self, trial, cached: Mapping[str, Any]) -> dict[str, Any]:
        """A configuration this study already trained: its epoch curve again (the pruner may still stop
        it), no training, zero epochs consumed."""
        self.n_reused += 1
        trial.set_user_attr("reused", True)
        trial.set_user_attr("epochs", 0)
        for epoch, value in enumerate(cached["curve"], start=1):
            report_epoch(trial, value, epoch, count=False)
        return {**cached, "epochs": 0, "reused": True}

    def _keep_if_best(self, trial, measures, model) -> None:
        """Hold the best model this worker trained for each study, for :meth:`save_best`."""
        if self.artifact_store is None or getattr(trial, "study", None) is None or len(self.directions) > 1:
            return
        value, name = float(measures[self.metric]), trial.study.study_name
        if name not in self._best or value > self._best[name][0]:
            self._best[name] = (value, trial.number, model)

    def save_best(self, study) -> str | None:
        """Upload the study's best trial's model as an Optuna artifact if this worker trained it.

        The artifact belongs to the study (a finished trial cannot be updated); the study's user attributes
        ``artifact_id`` and ``artifact_trial`` name it and its trial. One model per study, not per trial:
        a sweep keeps its winner, not every candidate. Returns the id, or None.
        """
        held = self._best.pop(study.study_name, None)
        if held is None:
            return None
        best = _best_complete(study)
        if best is None or best.number != held[1]:
            return None
        artifact_id = save_model_artifact(held[2], study, self.artifact_store, name=f"trial-{best.number}")
        study.set_user_attr("artifact_id", artifact_id)
        study.set_user_attr("artifact_trial", best.number)
        return artifact_id

    def fit_predict(self, params: Mapping[str, Any], *, seed: int) -> dict[str, np.ndarray]:
        """Train ``params`` for every epoch with training seed ``seed`` (no pruning) and predict labels.

        Returns ``{"validation": labels, "test": labels}`` (``test`` only when the data has that split):
        what re-scores a configuration on fresh training seeds.
        """
        check_int("seed", seed, "fit_predict", low=0)
        with _thread_limit(self.threads, torch=self.uses_torch):
            _, model = self.train(None, dict(params), seed=seed)
        return {split: self.predict(model, split) for split in ("validation", "test") if split in self.dataset}

    def train(self, trial: optuna.Trial | None, params: dict[str, Any], *, seed: int) -> tuple[dict, Any]:
        raise NotImplementedError

    def predict(self, model, split: str) -> np.ndarray:
        raise NotImplementedError


def _best_complete(study):
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda t: (sign * t.values[0], -t.number)) if complete else None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class MLPObjective(_Objective):
    """A fast proxy objective: scikit-learn's ``MLPClassifier`` on TF-IDF features, one pass per epoch.

    Real training (Adam, minibatches, ``partial_fit`` once per epoch) in milliseconds rather than
    seconds, so strategy comparisons and benchmarks can afford hundreds of trials on 2 CPU cores.
    Its parameters mirror the transformer's where they can: ``num_layers``, ``hidden_size``,
    ``activation``, ``learning_rate``, ``batch_size`` and ``weight_decay`` (the L2 ``alpha``).

    Parameters
    ----------
    dataset, space, objectives, epochs, seed, threads, latency_repeats
        As for :class:`TransformerObjective` (``space`` of model ``"mlp"``; no ``flops``).
    max_features : int
        Vocabulary of the TF-IDF features, fitted once on the training split.

    Examples
    --------
    >>> objective = MLPObjective(data, default_space("mlp", "default", grid=True), epochs=5)  # doctest: +SKIP
    >>> frame = compare_strategies(objective)  # doctest: +SKIP
    """

    model_name = "mlp"

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 8, max_features: int = 1000, seed: int = 0, threads: int = 1,
                 latency_repeats: int = 20, **options) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats, **options)
        if "flops" in self.objectives:
            raise ParameterError("The 'objectives' parameter of MLPObjective may not include 'flops' (defined for "
                                 "tiny transformers only). Use n_params or latency_ms.")
        check_int("max_features", max_features, "MLPObjective", low=10)
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(max_features=max_features, sublinear_tf=True)
        self.max_features = max_features
        self.x_train = vectorizer.fit_transform(dataset["train"]["text"]).toarray().astype(np.float32)
        self.x_valid = vectorizer.transform(dataset["validation"]["text"]).toarray().astype(np.float32)
        self.features = {"train": self.x_train, "validation": self.x_valid}
        if "test" in dataset:
            self.features["test"] = vectorizer.transform(dataset["test"]["text"]).toarray().astype(np.float32)
        self.y_train = np.asarray(dataset["train"]["label"])
        self.y_valid = np.asarray(dataset["validation"]["label"])
        self.classes = np.arange(len(dataset["train"].features["label"].names))

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_features": self.max_features}

    def train(self, trial, params, *, seed):
        from sklearn.neural_network import MLPClassifier

        from workbench.evaluation import classification_metrics

        model = MLPClassifier(hidden_layer_sizes=(params.get("hidden_size", 64),) * params.get("num_layers", 1),
                              activation=params.get("activation", "relu"), alpha=params.get("weight_decay", 1e-4),
                              learning_rate_init=params.get("learning_rate", 1e-3),
                              batch_size=params.get("batch_size", 32), random_state=seed)
        best: dict[str, float] = {}
        curve = []
        for epoch in range(1, self.epochs + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: one pass is not meant to converge
                model.partial_fit(self.x_train, self.y_train, classes=self.classes)
            metrics = classification_metrics(self.y_valid, model.predict(self.x_valid))
            if not best or metrics[self.metric] > best[self.metric]:
                best = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
            curve.append(float(metrics[self.metric]))
            report_epoch(trial, curve[-1], epoch)
        best["epochs"] = self.epochs
        best["curve"] = curve
        best["n_params"] = float(sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_))
        if "latency_ms" in self.objectives:
            from workbench.evaluation import measure_latency

            one = self.x_valid[:1]
            best["latency_ms"] = float(measure_latency(lambda: model.predict(one), warmup=3,
                                                       repeats=self.latency_repeats)["p50_ms"])
        return best, model

    def predict(self, model, split):
        return model.predict(self.features[split])


@contextlib.contextmanager
def _thread_limit(threads: int, *, torch: bool):
    """Cap BLAS/OpenMP threads (threadpoolctl) and, for torch models, torch's, then restore them."""
    from threadpoolctl import threadpool_limits

    if not torch:
        with threadpool_limits(threads):
            yield
        return
    import torch as torch_module

    before = torch_module.get_num_threads()
    try:
        with threadpool_limits(threads):
            torch_module.set_num_threads(threads)
            yield
    finally:
        torch_module.set_num_threads(before)
