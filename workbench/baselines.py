"""Classical baselines that every technique is measured against.

A TF-IDF + logistic-regression pipeline from scikit-learn, fitted on the ``train`` split of a
``datasets.DatasetDict`` and scored on ``test`` with :func:`workbench.evaluation.evaluate_predictions`.
On the embedded fine-food reviews it reaches about 0.80 accuracy in a couple of seconds on 2 cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench._validation import check_float, check_int, check_type
from workbench.errors import DataError, ParameterError
from workbench.evaluation import evaluate_predictions

__all__ = ["BaselineComparison", "BaselineResult", "NORMALIZATION_COLUMNS", "compare_baselines", "normalization_baselines",
           "tfidf_logreg"]

NORMALIZATION_COLUMNS = ["normalization", "vocabulary_size", "accuracy", "macro_f1", "ci_low", "ci_high",
                         "fit_seconds"]


@dataclass
class BaselineResult:
    """A fitted baseline and its scores on the evaluation split.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"tfidf_logreg"``.
    metrics : dict
        :func:`~workbench.evaluation.evaluate_predictions` output (JSON-serialisable).
    y_true, y_pred : numpy.ndarray
        Gold and predicted label ids on the evaluation split.
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline; ``pipeline.predict(list_of_texts)`` gives label ids.
    fit_seconds : float
        Wall-clock seconds spent fitting.
    """

    name: str
    metrics: dict[str, Any]
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    pipeline: Any = field(repr=False)
    fit_seconds: float


def _apply_each(texts: Any, fn: Callable[[str], str]) -> list[str]:
    # Module level (not a lambda) so the fitted pipeline stays picklable.
    return [fn(text) for text in texts]


def _check_splits(dataset: Any, func: str, splits: tuple[str, ...], text_column: str,
                  label_column: str) -> list[str]:
    """Check splits and columns; return the label names of the ClassLabel column."""
    check_type("dataset", dataset, func, Mapping, fix="Pass a datasets.DatasetDict (see workbench.data).")
    missing = [split for split in splits if split not in dataset]
    if missing:
        raise DataError(f"The 'dataset' parameter of {func} must have the splits {list(splits)}. "
                        f"Got splits {list(dataset)} instead (missing {missing}). Split it with "
                        "workbench.data or Dataset.train_test_split.")
    for split in splits:
        columns = dataset[split].column_names
        absent = [column for column in (text_column, label_column) if column not in columns]
        if absent:
            raise DataError(f"The {split!r} split given to {func} must have the columns "
                            f"{[text_column, label_column]}. Got columns {columns} instead (missing "
                            f"{absent}). Rename them with Dataset.rename_column.")
        if len(dataset[split]) == 0:
            raise DataError(f"The {split!r} split given to {func} must be non-empty. Got 0 rows instead.")
    names = getattr(dataset[splits[0]].features[label_column], "names", None)
    if names is None:
        raise DataError(f"The {label_column!r} column given to {func} must be a datasets.ClassLabel. "
                        f"Got {dataset[splits[0]].features[label_column]!r} instead. Convert it with "
                        f"Dataset.class_encode_column({label_column!r}).")
    return list(names)


def _check_ngram_range(ngram_range: Any, func: str) -> tuple[int, int]:
    ok = (isinstance(ngram_range, (tuple, list)) and len(ngram_range) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) for n in ngram_range)
          and 1 <= ngram_range[0] <= ngram_range[1])
    if not ok:
        raise ParameterError(f"The 'ngram_range' parameter of {func} must be a pair (low, high) of ints "
                             f"with 1 <= low <= high. Got {ngram_range!r} instead. Use (1, 2) for words "
                             "and word pairs.")
    return int(ngram_range[0]), int(ngram_range[1])


def tfidf_logreg(dataset: Any, *, max_features: int = 50_000, ngram_range: tuple[int, int] = (1, 2),
                 C: float = 1.0, seed: int = 0, preprocess: Callable[[str], str] | None = None,
                 eval_split: str = "test", text_column: str = "text", label_column: str = "label",
                 lowercase: bool = True) -> BaselineResult:
    """Fit TF-IDF + logistic regression on ``train`` and score it on ``eval_split``.

    scikit-learn does the work: ``Pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression)``.
    ``preprocess``, when given, runs on each text as the pipeline's first step, so it also applies
    to texts passed to ``result.pipeline.predict`` later (used to measure normalization effects).

    Parameters
    ----------
    dataset : datasets.DatasetDict
        With splits ``train`` and ``eval_split``; a text column and a ``ClassLabel`` label column.
    max_features : int
        Vocabulary size cap of the vectorizer.
    ngram_range : (int, int)
        Word n-gram range.
    C : float
        Inverse regularization strength, > 0.
    seed : int
        ``random_state`` of the classifier and of the bootstrap intervals.
    preprocess : callable, optional
        ``str -> str`` applied to each text before vectorizing.
    eval_split : str
        Split to score, ``"test"`` by default (``"validation"`` while tuning).
    text_column, label_column : str
        Column names.
    lowercase : bool
        The vectorizer's own lower-casing; turn it off to measure a normalization that decides it.

    Returns
    -------
    BaselineResult

    Examples
    --------
    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    >>> rows = {"text": ["awful", "great", "awful stuff", "great stuff"], "label": [0, 1, 0, 1]}
    >>> split = Dataset.from_dict(rows, features=features)
    >>> result = tfidf_logreg(DatasetDict(train=split, test=split), C=10.0)
    >>> result.metrics["accuracy"]
    1.0
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    func = "tfidf_logreg"
    check_int("max_features", max_features, func, low=1)
    ngram_range = _check_ngram_range(ngram_range, func)
    check_float("C", C, func, low=0, low_open=True, fix="Use 1.0 (smaller means stronger regularization).")
    check_int("seed", seed, func, low=0)
    if preprocess is not None and not callable(preprocess):
        raise ParameterError(f"The 'preprocess' parameter of {func} must be a callable str -> str or None. "
                             f"Got {preprocess!r} instead.")
    label_names = _check_splits(dataset, func, ("train", eval_split), text_column, label_column)
    train, evaluation = dataset["train"], dataset[eval_split]
    y_train = np.asarray(train[label_column])
    if len(np.unique(y_train)) < 2:
        raise DataError(f"The 'train' split given to {func} must hold at least 2 classes. "
                        f"Got only {np.unique(y_train).tolist()} instead.")

    steps = [] if preprocess is None else [("preprocess", FunctionTransformer(_apply_each, kw_args={"fn": preprocess}))]
    steps += [("tfidf", TfidfVectorizer(sublinear_tf=True, max_features=max_features, ngram_range=ngram_range,
                                         lowercase=lowercase)),
              ("logreg", LogisticRegression(C=C, max_iter=1000, random_state=seed))]
    pipeline = Pipeline(steps)
    start = time.perf_counter()
    pipeline.fit(list(train[text_column]), y_train)
    fit_seconds = time.perf_counter() - start

    y_true = np.asarray(evaluation[label_column])
    y_pred = pipeline.predict(list(evaluation[text_column]))
    metrics = evaluate_predictions(y_true, y_pred, label_names=label_names, seed=seed)
    return BaselineResult(name="tfidf_logreg", metrics=metrics, y_true=y_true, y_pred=y_pred,
                          pipeline=pipeline, fit_seconds=fit_seconds)


def normalization_baselines(dataset: Any, *, presets: Mapping[str, Mapping[str, bool]] | None = None,
                            seed: int = 0, **tfidf_options: Any):
    """Refit :func:`tfidf_logreg` once per text normalization preset and compare them.

    The vectorizer's own lower-casing is switched off so that each preset alone decides the text the
    model sees. Vocabulary size is counted on the normalized training split.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        With ``train`` and ``test`` splits.
    presets : mapping, optional
        Name -> :func:`workbench.text.normalize_text` options; default
        :data:`workbench.text.NORMALIZATIONS`.
    seed : int
        Passed to every fit.
    **tfidf_options
        Further :func:`tfidf_logreg` options (``max_features``, ``C``, ...).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`NORMALIZATION_COLUMNS`, one row per preset.

    Examples
    --------
    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    >>> split = Dataset.from_dict({"text": ["Awful", "GREAT", "awful", "great"], "label": [0, 1, 0, 1]},
    ...                           features=features)
    >>> frame = normalization_baselines(DatasetDict(train=split, test=split), C=10.0)
    >>> frame.set_index("normalization").loc[["none", "lowercase"], "vocabulary_size"].tolist()
    [4, 2]
    """
    import functools

    import pandas as pd

    from workbench.text import NORMALIZATIONS, normalize_text, normalize_texts, vocabulary_size

    presets = NORMALIZATIONS if presets is None else presets
    if not presets:
        raise ParameterError("The 'presets' parameter of normalization_baselines must name at least one "
                             "normalization. Got an empty mapping instead. Use workbench.text.NORMALIZATIONS.")
    train_texts = list(dataset["train"][tfidf_options.get("text_column", "text")]) if "train" in dataset else []
    from workbench._progress import progress_bar

    rows = []
    for name, options in progress_bar(list(presets.items()), desc="normalization presets", unit="fit", leave=False,
                                      disable=len(presets) < 2):
        result = tfidf_logreg(dataset, seed=seed, lowercase=False,
                              preprocess=functools.partial(normalize_text, **options), **tfidf_options)
        low, high = result.metrics["ci95"]
        rows.append({"normalization": name, "vocabulary_size": vocabulary_size(normalize_texts(train_texts, **options)),
                     "accuracy": result.metrics["accuracy"], "macro_f1": result.metrics["macro_f1"],
                     "ci_low": low, "ci_high": high, "fit_seconds": result.fit_seconds})
    return pd.DataFrame(rows, columns=NORMALIZATION_COLUMNS)


@dataclass
class BaselineComparison:
    """The data notebook's two questions, answered on test after choosing on validation.

    ``verdict``: does the fine-tune pay off over TF-IDF + logistic regression (nothing selected)?
    ``verdicts["normalization"]``: does the normalization preset chosen on validation pay off over
    none, for TF-IDF? Both in one Holm family of two. ``scores`` is the tidy test metrics table.
    """

    tfidf: BaselineResult
    finetuned_pred: np.ndarray = field(repr=False)
    finetuned_metrics: dict[str, Any]
    normalization_choice: str
    verdict: dict[str, Any]
    verdicts: dict[str, dict[str, Any]]
    comparisons: Any = field(repr=False)  # pandas.DataFrame, workbench.verdicts.comparison_frame
    scores: Any = field(repr=False)  # pandas.DataFrame, workbench.evaluation.metrics_table


def compare_baselines(dataset: Any, finetuned: Any, *, model_name: str, metric: str = "accuracy",
                      tfidf: BaselineResult | None = None, seed: int = 0, n_resamples: int = 1000) -> BaselineComparison:
    """Score the fine-tune against TF-IDF, and the normalization chosen on validation against none, on test.

    The normalization preset is chosen with :func:`workbench.verdicts.choose_on_validation` on
    :func:`normalization_baselines` scored on the ``validation`` split (ties: the smaller vocabulary);
    the test split only reports. Both test comparisons are paired by example
    (:func:`workbench.verdicts.compare_predictions`) and Holm-corrected together.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        ``train``, ``validation`` and ``test`` splits.
    finetuned : workbench.training.TrainResult
        The fine-tuned model (its ``predict_labels`` scores the test split).
    model_name : str
        How the report names the fine-tuned model.
    metric : {"accuracy", "macro_f1"}
    tfidf : BaselineResult, optional
        An already fitted :func:`tfidf_logreg` (no normalization) scored on test; fitted here otherwise.
    seed, n_resamples : int
        Seeds of the fits and bootstraps, and resamples per bootstrap.

    Examples
    --------
    >>> compare_baselines(data, run, model_name="minilm").verdict["answer"]  # doctest: +SKIP
    'pays off'
    """
    import functools

    import pandas as pd

    from workbench.evaluation import metrics_table
    from workbench.text import NORMALIZATIONS, normalize_text
    from workbench.verdicts import compare_predictions, comparison_frame, holm, make_verdict

    func = "compare_baselines"
    check_type("model_name", model_name, func, str)
    tfidf = tfidf if tfidf is not None else tfidf_logreg(dataset, seed=seed)
    label_names = list(dataset["train"].features["label"].names)
    finetuned_pred = np.asarray(finetuned.predict_labels(dataset["test"]["text"]))
    finetuned_metrics = evaluate_predictions(tfidf.y_true, finetuned_pred, label_names=label_names,
                                             n_resamples=n_resamples, seed=seed)
    validation = normalization_baselines(dataset, seed=seed, eval_split="validation")
    choice = _choose_normalization(validation, metric)
    if choice == "none":
        normalized_pred = tfidf.y_pred
    else:
        normalized_pred = tfidf_logreg(dataset, seed=seed, lowercase=False,
                                       preprocess=functools.partial(normalize_text, **NORMALIZATIONS[choice])).y_pred
    options = {"metric": metric, "n_resamples": n_resamples, "seed": seed}
    comparisons = {"finetune": compare_predictions(tfidf.y_true, finetuned_pred, tfidf.y_pred, **options),
                   "normalization": compare_predictions(tfidf.y_true, normalized_pred, tfidf.y_pred, **options)}
    adjusted = holm({name: c["p_value"] for name, c in comparisons.items()})
    verdict = make_verdict(
        question=f"Does a short fine-tune of {model_name} pay off over TF-IDF + logistic regression?",
        choice=model_name, baseline="tfidf_logreg", comparison=comparisons["finetune"], n_comparisons=2,
        p_adjusted=adjusted["finetune"], selected_on=None,
        # Parameters, not seconds: the figures of a report repeat exactly for the same parameters and seed.
        cost={"parameters": {"candidate": sum(p.numel() for p in finetuned.model.parameters()),
                             "baseline": _pipeline_parameters(tfidf.pipeline)}})
    vocabulary = validation.set_index("normalization")["vocabulary_size"]
    normalization = make_verdict(
        question="Does the text normalization chosen on validation pay off for TF-IDF?",
        choice=choice, baseline="none", comparison=comparisons["normalization"], n_comparisons=2,
        p_adjusted=adjusted["normalization"],
        cost={"vocabulary_size": {"candidate": int(vocabulary[choice]), "baseline": int(vocabulary["none"])}})
    scores = metrics_table({"tfidf_logreg": tfidf.metrics, model_name: finetuned_metrics})
    frame = comparison_frame({f"{model_name} vs tfidf_logreg": comparisons["finetune"],
                              f"{choice} vs none (tfidf)": comparisons["normalization"]})
    return BaselineComparison(tfidf=tfidf, finetuned_pred=finetuned_pred, finetuned_metrics=finetuned_metrics,
                              normalization_choice=choice, verdict=verdict,
                              verdicts={"finetune": verdict, "normalization": normalization},
                              comparisons=frame, scores=pd.DataFrame(scores))


def _pipeline_parameters(pipeline) -> int:
    """Weights of the fitted logistic regression (coefficients and intercepts)."""
    logreg = pipeline.named_steps["logreg"]
    return int(logreg.coef_.size + logreg.intercept_.size)


def _choose_normalization(validation, metric: str) -> str:
    from workbench.verdicts import choose_on_validation

    table = validation.rename(columns={"normalization": "candidate"})
    return choose_on_validation(table[["candidate", metric, "vocabulary_size"]], metric=metric, cost="vocabulary_size")
