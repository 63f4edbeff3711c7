"""Does augmentation help a classifier? EDA's protocol, run (:func:`downstream_ablation`); the decision
from its predictions is :mod:`workbench.augmentation.decision`."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench._progress import progress_bar
from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.augmentation.learners import (
    LEARNERS,
    TransformerSettings,
    fit_and_predict,
)
from workbench.augmentation.recipes import _as_names, _outcome_of
from workbench.augmentation.run import (
    _check_n_jobs,
    _shared_workers,
    augment,
    variant_kinds,
)
from workbench.errors import ParameterError

RUN_COLUMNS: tuple[str, ...] = ("learner", "train_size", "requested_size", "augmenter", "alpha", "n_aug", "seed",
                                "n_train", "n_added", "train_seconds", "validation_score", "test_score", "status",
                                "reason")
BASELINE = "none"  # the augmenter name of the run without augmentation
COPIES = "copies"  # the augmenter name of the control: each text repeated n_aug times
FILTERED = "+filter"  # suffix of a recipe's cell trained on the variants the constraint filter keeps
PROTOCOLS: tuple[str, ...] = ("eda", "grid")
EDA_RECOMMENDED: tuple[tuple[int, float, int], ...] = ((500, 0.05, 16), (2000, 0.05, 8), (5000, 0.1, 4))
"""Wei & Zou (2019), Table 3, recommended parameters: (training examples, alpha, n_aug); 'more' uses the last."""

EDA_PAPER_GAINS: dict[str, float] = {"500": 3.0, "full": 0.8}
"""Average accuracy gain in points from EDA over five tasks, RNN and CNN (Wei & Zou 2019, Table 2)."""


@dataclass
class AblationResult:
    """What :func:`downstream_ablation` measured.

    Attributes
    ----------
    runs : pandas.DataFrame
        Columns :data:`RUN_COLUMNS`: one row per learner, training size, configuration and seed
        (``augmenter`` ``"none"`` is the baseline, ``"copies"`` the plain-copies control).
    predictions : dict
        ``(learner, train_size, augmenter, alpha, n_aug) -> {seed: {"validation": ids, "test": ids}}``.
    y_validation, y_test : numpy.ndarray
        Gold label ids of the two evaluation splits.
    """

    runs: pd.DataFrame
    predictions: dict
    y_validation: np.ndarray
    y_test: np.ndarray


def _as_sizes(value: str | Sequence[int | str], func: str) -> list[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    sizes = []
    for item in items:
        text = str(item).strip()
        if text.lower() in ("full", "all", "0"):
            sizes.append(0)
        elif text.isdigit() and int(text) >= 2:
            sizes.append(int(text))
        elif text:
            raise ParameterError(f"The 'train_sizes' parameter of {func} must list ints >= 2 or 'full'. Got "
                                 f"{item!r} in {value!r} instead.")
    if not sizes:
        raise ParameterError(f"The 'train_sizes' parameter of {func} must list at least one size. Got {value!r} "
                             f"instead.")
    return list(dict.fromkeys(sizes))


def _as_numbers(value: str | Sequence[float], name: str, func: str, kind: type, low: float,
                high: float | None) -> list:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        try:
            number = kind(str(item).strip()) if isinstance(item, str) else item
        except ValueError:
            raise ParameterError(f"The {name!r} parameter of {func} must list numbers. Got {item!r} in {value!r} "
                                 f"instead.") from None
        if kind is int:
            check_int(name, number, func, low=int(low), high=None if high is None else int(high))
        else:
            check_float(name, number, func, low=low, high=high)
        out.append(kind(number))
    if not out:
        raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got {value!r}.")
    return list(dict.fromkeys(out))


def eda_parameters(n_train: int) -> tuple[float, int]:
    """EDA's recommended ``(alpha, n_aug)`` for ``n_train`` training examples (Wei & Zou 2019, Table 3).

    The table's rows are 500, 2,000, 5,000 and more; a size takes the row nearest on a log scale
    (up to 1,000 the 500 row, up to about 3,160 the 2,000 row, then the 5,000 row).

    >>> [eda_parameters(n) for n in (500, 2000, 5000, 250, 40000)]
    [(0.05, 16), (0.05, 8), (0.1, 4), (0.05, 16), (0.1, 4)]
    """
    check_int("n_train", n_train, "eda_parameters", low=1)
    sizes = np.log([row[0] for row in EDA_RECOMMENDED])
    row = EDA_RECOMMENDED[int(np.argmin(np.abs(sizes - np.log(n_train)) + 1e-9 * np.arange(len(sizes))))]
    return row[1], row[2]


def _configs(protocol: str, size: int, alphas: list[float], n_augs: list[int]) -> list[tuple[float, int]]:
    """The (alpha, n_aug) pairs of one size: EDA's rule, or the grid (alpha 0 is the copies control, run anyway)."""
    if protocol == "eda":
        return [eda_parameters(size)]
    return [(a, k) for a in alphas if a > 0 for k in n_augs]


def downstream_ablation(dataset: Any, *, recipes: str | Sequence[str] = ("eda",),
                        train_sizes: str | Sequence[int | str] = (250, 500, 1000, "full"), protocol: str = "eda",
                        alphas: str | Sequence[float] = (0.1,), n_augs: str | Sequence[int] = (4,),
                        seeds: Sequence[int] = (0, 1, 2), learners: Sequence[str] = ("tfidf_logreg",),
                        transformer: TransformerSettings | None = None,
                        transformer_sizes: Sequence[int | str] | None = None, keep_unchanged: bool = False,
                        filter_threshold: float | None = None, filter_similarity: str = "tfidf",
                        filter_sizes: Sequence[int | str] | None = None,
                        n_jobs: int = 1, progress: bool = True, model: str | None = None,
                        translation_models: str | Sequence[str] | None = None,
                        nltk_data: str | os.PathLike | None = None,
                        vectors: str | os.PathLike | None = None) -> AblationResult:
    """Does augmentation help a classifier, by training-set size? EDA's protocol (Wei & Zou 2019).

    For each seed and training size, a stratified subsample of ``train`` (seeded) trains the baseline;
    the same subsample plus up to ``n_aug`` variants of each of its texts (labels copied) trains the
    augmented model, and the same subsample with each text repeated ``n_aug`` times trains the
    plain-copies control. Every model predicts the whole ``validation`` and ``test`` splits; the
    decision (choose on validation, compare on test, Holm over the grid) is
    :func:`workbench.augmentation.decision.ablation_table` and :func:`ablation_verdicts`.

    ``protocol="eda"`` takes alpha and n_aug from EDA's table for each size (:func:`eda_parameters`);
    ``"grid"`` crosses ``alphas`` and ``n_augs``. Variants that failed, that equal their source, or
    that repeat an earlier variant of the same source are not added (``keep_unchanged=True`` keeps the
    unchanged and repeated ones, as nlpaug returns them); ``n_added`` counts what was added. A text's
    variants depend only on (seed, its row in ``train``), so smaller ``n_aug`` reuse the first variants.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        ``train``, ``validation`` and ``test`` splits, ``text`` and ``label`` (ClassLabel) columns.
    recipes : str or sequence of str
        Augmenters to test.
    train_sizes : str or sequence
        Sizes (ints >= 2; ``"full"`` or 0 for the whole split); a size above the split is the split.
    protocol : {"eda", "grid"}
    alphas, n_augs : str or sequence
        The grid of ``protocol="grid"``.
    seeds : sequence of int
        One run per seed (subsample, augmentation and learner); 3 or more for the seed-level test.
    learners : sequence of {"tfidf_logreg", "transformer"}
    transformer : TransformerSettings, optional
        The transformer learner (a tiny encoder, 100 steps, by default).
    transformer_sizes : sequence, optional
        Sizes the transformer trains at (default every size): fine-tunes cost far more than fits.
    keep_unchanged : bool
        Add unchanged and repeated variants too.
    filter_threshold : float, optional
        With a value, every augmenting cell at ``filter_sizes`` (default every size) gets a twin,
        ``"<recipe>+filter"``, trained on the variants that pass the constraint filter
        (:func:`~workbench.augmentation.constraints.constraint_filter`: ``filter_similarity`` cosine >=
        the threshold, and the oracle, the TF-IDF learner fitted on the same subsample, gives the source's label).
    n_jobs : int
        Processes for augmenting and for the TF-IDF fits.
    model, translation_models, nltk_data, vectors
        Resources of the model and dictionary recipes (see :func:`compare_augmenters`).

    Returns
    -------
    AblationResult
        A configuration whose optional resource is missing has ``status = "skipped"`` and a reason
        saying how to get it; one whose augmenting or fitting broke has ``status = "failed"``.

    Examples
    --------
    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    >>> rows = {"text": [f"great tasty {i}" for i in range(20)] + [f"awful stale {i}" for i in range(20)],
    ...         "label": [1] * 20 + [0] * 20}
    >>> split = Dataset.from_dict(rows, features=features)
    >>> result = downstream_ablation(DatasetDict(train=split, validation=split, test=split), recipes="word_swap",
    ...                              train_sizes="10,full", seeds=[0, 1, 2], progress=False)
    >>> sorted(set(result.runs["augmenter"])), sorted(set(result.runs["n_aug"]))
    (['copies', 'none', 'word_swap'], [0, 16])
    """
    from workbench.baselines import _check_splits

    func = "downstream_ablation"
    label_names = _check_splits(dataset, func, ("train", "validation", "test"), "text", "label")
    recipes = _as_names(recipes, "recipes", func)
    sizes = _as_sizes(train_sizes, func)
    check_choice("protocol", protocol, func, PROTOCOLS)
    alphas = _as_numbers(alphas, "alphas", func, float, 0.0, 1.0)
    n_augs = _as_numbers(n_augs, "n_augs", func, int, 1, None)
    seeds = _as_numbers(list(seeds), "seeds", func, int, 0, None)
    learners = [check_choice("learners", name, func, LEARNERS) or name for name in learners]
    check_type("keep_unchanged", keep_unchanged, func, bool)
    n_jobs = _check_n_jobs(n_jobs, func)
    if filter_threshold is not None:
        check_float("filter_threshold", filter_threshold, func, low=-1.0, high=1.0)
        check_choice("filter_similarity", filter_similarity, func, ("tfidf", "minilm"))
    texts = list(dataset["train"]["text"])
    labels = np.asarray(dataset["train"]["label"])
    resolve = {size: len(texts) if size == 0 or size >= len(texts) else size for size in sizes}
    resolved = sorted(set(resolve.values()))
    requested = {value: key for key, value in resolve.items()}
    neural = set(resolved) if transformer_sizes is None else {resolve.get(s, s) for s in _as_sizes(transformer_sizes, func)}
    plan = {size: _configs(protocol, size, alphas, n_augs) for size in resolved}
    constraint = None if filter_threshold is None else {
        "threshold": float(filter_threshold), "similarity": filter_similarity,
        "sizes": set(resolved) if filter_sizes is None else {resolve.get(s, s) for s in _as_sizes(filter_sizes, func)}}
    resources = {"model": model, "translation_models": translation_models, "nltk_data": nltk_data, "vectors": vectors}
    evaluation = {split: list(dataset[split]["text"]) for split in ("validation", "test")}
    runs, fits = [], {}
    with _shared_workers(n_jobs) as pool:  # one set of workers for all seeds: their caches stay warm
        for seed in seeds:
            picks = {size: _pick(labels, size, seed) for size in resolved}
            variants = {}
            for recipe, alpha in dict.fromkeys((r, a) for cfg in plan.values() for r in recipes for a, _ in cfg):
                ids = sorted({i for size, cfg in plan.items() if any(a == alpha for a, _ in cfg)
                              for i in picks[size].tolist()})
                most = max(k for cfg in plan.values() for a, k in cfg if a == alpha)
                variants[recipe, alpha] = _variants_by_id(texts, ids, recipe, alpha, most, seed, n_jobs,
                                                          keep_unchanged=keep_unchanged, **resources)
            for learner, size in itertools.product(learners, resolved):
                if learner == "transformer" and size not in neural:
                    continue
                cells = [(BASELINE, 0.0, 0)] + [(COPIES, 0.0, k) for k in dict.fromkeys(k for _, k in plan[size])]
                cells += [(r, a, k) for r in recipes for a, k in plan[size]]
                if constraint is not None and size in constraint["sizes"]:
                    cells += [(r + FILTERED, a, k) for r in recipes for a, k in plan[size]]
                for recipe, alpha, n_aug in cells:
                    if recipe.endswith(FILTERED):
                        if (size, recipe, alpha) not in variants:
                            variants[size, recipe, alpha] = _filtered(texts, labels, picks[size], label_names, seed,
                                                                      variants[recipe[:-len(FILTERED)], alpha],
                                                                      constraint)
                        got, status, reason = variants[size, recipe, alpha]
                    else:
                        got, status, reason = ({}, "ok", None) if recipe in (BASELINE, COPIES) else variants[recipe,
                                                                                                             alpha]
                    train = _training_set(texts, labels, picks[size], got, n_aug, copies=recipe == COPIES)
                    runs.append({"learner": learner, "train_size": size, "requested_size": requested.get(size, size),
                                     "augmenter": recipe, "alpha": alpha, "n_aug": n_aug, "seed": seed, "n_train": len(train[0]),
                                     "n_added": len(train[0]) - len(picks[size]), "status": status, "reason": reason})
                    if status == "ok":
                        fits[len(runs) - 1] = (learner, seed, *train)
        outputs, errors = _fit_all(pool, fits, evaluation, label_names, transformer, progress)
    y_validation, y_test = (np.asarray(dataset[split]["label"]) for split in ("validation", "test"))
    predictions: dict = {}
    for i, row in enumerate(runs):
        if i in errors:
            row.update(status="failed", reason=errors[i])
        if i not in outputs:
            continue
        out = outputs[i]
        row.update(train_seconds=out["seconds"], validation_score=float(np.mean(out["validation"] == y_validation)),
                   test_score=float(np.mean(out["test"] == y_test)))
        key = (row["learner"], row["train_size"], row["augmenter"], row["alpha"], row["n_aug"])
        predictions.setdefault(key, {})[row["seed"]] = {"validation": out["validation"], "test": out["test"]}
    return AblationResult(pd.DataFrame(runs, columns=list(RUN_COLUMNS)), predictions, y_validation, y_test)


def _filtered(texts, labels, picked: np.ndarray, label_names, seed: int, found: tuple, constraint: dict) -> tuple:
    """The variants of ``found`` that pass :func:`~workbench.augmentation.constraints.constraint_filter`, the
    oracle being TF-IDF + logistic regression trained on the same picked texts without augmentation."""
    from workbench.augmentation.constraints import constraint_filter
    from workbench.augmentation.learners import tfidf_oracle

    by_id, status, reason = found
    if status != "ok":
        return {}, status, reason
    picked_set = set(picked.tolist())
    items = [(i, k, v) for i, pairs in by_id.items() if i in picked_set for k, v in pairs]
    oracle = tfidf_oracle([texts[i] for i in picked.tolist()], labels[picked].tolist(), label_names, seed)
    keep = constraint_filter([texts[i] for i, _, _ in items], [v for _, _, v in items],
                             [int(labels[i]) for i, _, _ in items], oracle=oracle,
                             similarity=constraint["similarity"], threshold=constraint["threshold"])
    kept: dict[int, list[tuple[int, str]]] = {}
    for (i, k, v), ok in zip(items, keep):
        if ok:
            kept.setdefault(i, []).append((k, v))
    return kept, "ok", None


def _pick(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    from workbench.data import _stratified_pick

    return np.arange(len(labels)) if size >= len(labels) else _stratified_pick(labels, size, seed)


def _variants_by_id(texts, ids, recipe, alpha, n_aug, seed, n_jobs, *, keep_unchanged, model, translation_models,
                    nltk_data, vectors):
    """``({text id: variants worth adding}, status, reason)``: failed variants are dropped, and unchanged
    or repeated ones too unless ``keep_unchanged`` (each list keeps nlpaug's order, so a prefix is the
    variants a smaller n_aug would get)."""
    if not ids:
        return {}, "ok", None
    try:
        frame = augment([texts[i] for i in ids], recipe, alpha=alpha, n_aug=n_aug, seed=seed, n_jobs=n_jobs,
                        text_ids=ids, progress=False, nltk_data=nltk_data, vectors=vectors,
                        model=translation_models if recipe == "back_translation" else model)
    except Exception as exc:  # noqa: BLE001 - the configuration's row says what happened; the others go on
        return {}, *_outcome_of(exc)
    if (frame["status"] != "ok").all():
        return {}, "failed", f"every variant failed: {frame['reason'].iloc[0]}"
    frame = frame.assign(kind=variant_kinds(frame))
    kept = frame["kind"].isin(("changed",) if not keep_unchanged else ("changed", "unchanged", "repeated"))
    positions = frame.groupby("text_id", sort=False).cumcount()  # a variant's place among its text's n_aug
    by_id: dict[int, list[tuple[int, str]]] = {}
    for text_id, k, variant, keep in zip(frame["text_id"], positions, frame["augmented"], kept):
        if keep:
            by_id.setdefault(int(text_id), []).append((int(k), variant))
    return by_id, "ok", None


def _training_set(texts, labels, picked: np.ndarray, variants: dict[int, list[tuple[int, str]]], n_aug: int, *,
                  copies: bool = False):
    """The picked texts and labels, plus each text's kept variants among its first ``n_aug`` (labels
    copied), or with ``copies`` the text itself ``n_aug`` more times."""
    train_texts = [texts[i] for i in picked.tolist()]
    train_labels = labels[picked].tolist()
    for i in picked.tolist() if n_aug else []:
        added = [texts[i]] * n_aug if copies else [v for k, v in variants.get(i, []) if k < n_aug]
        train_texts += added
        train_labels += [int(labels[i])] * len(added)
    return train_texts, train_labels


def _fit_all(pool, fits: dict, evaluation: dict, label_names: list[str], transformer,
             progress: bool) -> tuple[dict[int, dict], dict[int, str]]:
    """Predictions of every fit (TF-IDF fits on the workers when there are some; fine-tunes here, where
    torch's threads use the cores), and the one-line reason of every fit that raised."""
    bar = progress_bar(total=len(fits), desc="ablation fits", disable=not progress)
    out, errors, futures = {}, {}, {}
    try:
        for key, (learner, seed, train_texts, train_labels) in fits.items():
            args = (learner, train_texts, train_labels, evaluation)
            kwargs = {"label_names": label_names, "seed": seed, "transformer": transformer}
            if pool is not None and learner == "tfidf_logreg":
                futures[pool.submit(fit_and_predict, *args, **kwargs)] = key
                continue
            try:
                out[key] = fit_and_predict(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a failed fit is a failed row, not the end
                errors[key] = _outcome_of(exc)[1]
            bar.update(1)
        for future in as_completed(futures):
            try:
                out[futures[future]] = future.result()
            except Exception as exc:  # noqa: BLE001 - as above
                errors[futures[future]] = _outcome_of(exc)[1]
            bar.update(1)
        return out, errors
    finally:
        bar.close()
