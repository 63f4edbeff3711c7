"""Objectives that really train and report every epoch so pruners can stop a trial early:
:class:`TransformerObjective` (HF ``Trainer`` through :func:`workbench.training.fine_tune`) and
:class:`MLPObjective` (scikit-learn's ``MLPClassifier``, a fast proxy)."""


import contextlib
import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna

from workbench._validation import check_choice, check_int, check_type
from workbench.errors import (
    DataError,
    ParameterError,
    first_line,
)
from workbench.sweeps.factories import QUALITY_METRICS, _check_objectives, directions_of
from workbench.sweeps.spaces import ARCHITECTURE_PARAMS, TRAINING_PARAMS, SearchSpace


def TrialPruningCallback(trial: optuna.Trial, *, metric: str = "accuracy"):  # noqa: N802 (a class to callers)
    """A ``transformers.TrainerCallback`` that reports each epoch's validation metric to ``trial``.

    After every evaluation it calls ``trial.report(value, epoch)`` and, when the study's pruner says so,
    raises :class:`optuna.TrialPruned` out of ``Trainer.train`` (``fine_tune`` still removes its
    temporary checkpoints: that happens in a ``finally``). Multi-objective trials are not pruned
    (Optuna does not support it) but their epochs are still counted. The epochs trained so far are kept
    as the steps of the trial's reports.

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


def report_epoch(trial: optuna.Trial, value: float, epoch: int) -> None:
    """Report ``value`` after ``epoch`` epochs and raise ``TrialPruned`` if the pruner says so.

    The reported steps count the epochs a trial trained; multi-objective trials, which Optuna does not
    let report, keep the count in the user attribute ``epochs`` instead.
    """
    study = getattr(trial, "study", None)  # a FixedTrial (replaying parameters) has no study
    if study is not None and len(study.directions) > 1:
        trial.set_user_attr("epochs", epoch)
        return
    trial.report(value, epoch)
    if trial.should_prune():
        reason = f"pruned after epoch {epoch} at {value:.4f}"
        trial.set_user_attr("reason", reason)
        raise optuna.TrialPruned(reason)


class _Objective:
    """Template of a trial: sample, train with per-epoch reports, measure, return the objective values."""

    model_name = ""
    uses_torch = False

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 3, seed: int = 0, threads: int = 1, latency_repeats: int = 20) -> None:
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

    @property
    def directions(self) -> list[str]:
        return directions_of(self.objectives)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        params = self.space.suggest(trial)
        try:
            with _thread_limit(self.threads, torch=self.uses_torch):
                measures = self.train(trial, params)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            # Optuna marks the trial FAIL and keeps only a log line: the reason goes with the trial.
            trial.set_user_attr("reason", f"{type(error).__name__}: {first_line(error)}")
            raise
        for key, value in measures.items():
            trial.set_user_attr(key, value)
        values = tuple(float(measures[name]) for name in self.objectives)
        return values[0] if len(values) == 1 else values

    def train(self, trial: optuna.Trial, params: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError


class TransformerObjective(_Objective):
    """Train a tiny transformer per trial with :func:`workbench.training.fine_tune` (HF ``Trainer``).

    Each trial builds ``load_model("tiny", ...)`` from the sampled architecture, fine-tunes it for
    ``epochs`` epochs with one evaluation per epoch (reported to the pruner through
    :func:`TrialPruningCallback`), keeps the best epoch, and records ``accuracy``, ``macro_f1``,
    ``n_params``, ``flops`` (forward FLOPs per token) and, when asked for, ``latency_ms``: the median
    of ``latency_repeats`` timed forward passes of one text of ``max_length`` tokens
    (:func:`workbench.evaluation.measure_latency`) on ``threads`` CPU threads.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        ``train`` and ``validation`` splits (``text``, ``label``).
    space : SearchSpace
        A ``tiny`` space (architecture and training parameters).
    objectives : sequence of str
        A quality metric (``accuracy`` or ``macro_f1``) optionally followed by costs
        (``latency_ms``, ``n_params``, ``flops``); more than one gives a multi-objective study.
    epochs : int
        Training epochs per trial: the resource pruners share out.
    tokenizer : tokenizer, optional
        Default: a 4,000-entry WordPiece vocabulary trained on the training texts (a small embedding
        keeps trials fast and the parameter count about the architecture).
    max_length : int
        Tokens per text, in training and in the latency measurement.
    threads : int
        CPU threads per trial. One is the default: on a shared 2-core machine, two torch threads
        fighting other processes made small models about ten times slower.

    Examples
    --------
    >>> objective = TransformerObjective(data, default_space("tiny", "default"),
    ...                                  objectives=("accuracy", "latency_ms"), epochs=2)  # doctest: +SKIP
    >>> run_sweep(objective, n_trials=8, sampler="nsga2").study.best_trials  # doctest: +SKIP
    """

    model_name = "tiny"
    uses_torch = True

    def __init__(self, dataset, space: SearchSpace, *, objectives: Sequence[str] | str = ("accuracy",),
                 epochs: int = 3, tokenizer=None, max_length: int = 64, seed: int = 0, threads: int = 1,
                 latency_repeats: int = 20) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats)
        self.max_length = check_int("max_length", max_length, "TransformerObjective", low=8, high=8192)
        if tokenizer is None:
            from workbench.tokenization import train_tokenizer

            tokenizer = train_tokenizer(dataset["train"]["text"], algorithm="wordpiece", vocab_size=4000,
                                        lowercase=True, seed=seed)
        self.tokenizer = tokenizer
        self.label_names = list(dataset["train"].features["label"].names)

    def train(self, trial, params):
        from workbench.models import (
            TinyTransformerConfig,
            count_parameters,
            flops_per_token,
            load_model,
        )
        from workbench.training import TrainConfig, fine_tune

        arch = {k: v for k, v in params.items() if k in ARCHITECTURE_PARAMS}
        config = TinyTransformerConfig(max_position_embeddings=self.max_length, **arch)
        model, _ = load_model("tiny", num_labels=len(self.label_names), tiny=config, tokenizer=self.tokenizer,
                              seed=self.seed)
        training = {k: v for k, v in params.items() if k in TRAINING_PARAMS}
        train_config = TrainConfig(num_epochs=float(self.epochs), max_length=self.max_length, seed=self.seed,
                                   metric_for_best_model=self.metric, logging_steps=50, progress=False,
                                   **training)
        result = fine_tune(model, self.tokenizer, self.dataset, train_config,
                           callbacks=[TrialPruningCallback(trial, metric=self.metric)])
        scores = result.history[result.history["metric"].isin(["eval_accuracy", "eval_macro_f1"])]
        scores = scores.pivot_table(index="step", columns="metric", values="value")
        best = scores.loc[scores[f"eval_{self.metric}"].idxmax()]
        measures = {"accuracy": float(best["eval_accuracy"]), "macro_f1": float(best["eval_macro_f1"]),
                    "n_params": float(count_parameters(result.model)["total"]),
                    "flops": flops_per_token(result.model, seq_len=self.max_length)["forward"],
                    "epochs": int(round(len(scores)))}
        if "latency_ms" in self.objectives:
            measures["latency_ms"] = self._latency(result.model)
        return measures

    def _latency(self, model) -> float:
        import torch

        from workbench.evaluation import measure_latency

        text = self.dataset["validation"]["text"][0]
        batch = self.tokenizer([text], padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        model.eval()
        with torch.inference_mode():
            stats = measure_latency(lambda: model(**batch), warmup=3, repeats=self.latency_repeats,
                                    threads=self.threads)
        return float(stats["p50_ms"])


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
                 latency_repeats: int = 20) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats)
        if "flops" in self.objectives:
            raise ParameterError("The 'objectives' parameter of MLPObjective may not include 'flops' (defined for "
                                 "tiny transformers only). Use n_params or latency_ms.")
        check_int("max_features", max_features, "MLPObjective", low=10)
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(max_features=max_features, sublinear_tf=True)
        self.x_train = vectorizer.fit_transform(dataset["train"]["text"]).toarray().astype(np.float32)
        self.x_valid = vectorizer.transform(dataset["validation"]["text"]).toarray().astype(np.float32)
        self.y_train = np.asarray(dataset["train"]["label"])
        self.y_valid = np.asarray(dataset["validation"]["label"])
        self.classes = np.arange(len(dataset["train"].features["label"].names))

    def train(self, trial, params):
        from sklearn.neural_network import MLPClassifier

        from workbench.evaluation import classification_metrics

        model = MLPClassifier(hidden_layer_sizes=(params.get("hidden_size", 64),) * params.get("num_layers", 1),
                              activation=params.get("activation", "relu"), alpha=params.get("weight_decay", 1e-4),
                              learning_rate_init=params.get("learning_rate", 1e-3),
                              batch_size=params.get("batch_size", 32), random_state=self.seed)
        best: dict[str, float] = {}
        for epoch in range(1, self.epochs + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: one pass is not meant to converge
                model.partial_fit(self.x_train, self.y_train, classes=self.classes)
            metrics = classification_metrics(self.y_valid, model.predict(self.x_valid))
            if not best or metrics[self.metric] > best[self.metric]:
                best = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
            report_epoch(trial, float(metrics[self.metric]), epoch)
        best["epochs"] = self.epochs
        best["n_params"] = float(sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_))
        if "latency_ms" in self.objectives:
            from workbench.evaluation import measure_latency

            one = self.x_valid[:1]
            best["latency_ms"] = float(measure_latency(lambda: model.predict(one), warmup=3,
                                                       repeats=self.latency_repeats)["p50_ms"])
        return best


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
