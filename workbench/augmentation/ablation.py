"""Does augmentation help a classifier? The EDA protocol (:func:`downstream_ablation`)."""

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
from workbench._validation import check_float, check_int
from workbench.augmentation.recipes import _as_names, _outcome_of
from workbench.augmentation.run import _check_n_jobs, _shared_workers, augment
from workbench.errors import ParameterError
from workbench.evaluation import mean_ci, mean_difference_test

RUN_COLUMNS: tuple[str, ...] = ("train_size", "requested_size", "augmenter", "alpha", "n_aug", "seed",
                                "n_train", "baseline_accuracy", "augmented_accuracy", "status", "reason")
ABLATION_COLUMNS: tuple[str, ...] = (
    "train_size", "requested_size", "augmenter", "alpha", "n_aug", "n_seeds", "baseline_mean", "baseline_ci_low",
    "baseline_ci_high", "augmented_mean", "augmented_ci_low", "augmented_ci_high", "gain", "ci_low", "ci_high",
    "p_value", "p_value_seeds", "status", "reason")

EDA_PAPER_GAINS: dict[str, float] = {"500": 3.0, "full": 0.8}
"""Average accuracy gain in points from EDA over five tasks, RNN and CNN (Wei & Zou 2019, Table 2)."""


@dataclass
class AblationResult:
    """What :func:`downstream_ablation` measured.

    Attributes
    ----------
    runs : pandas.DataFrame
        Columns :data:`RUN_COLUMNS`: one row per training size, configuration and seed.
    table : pandas.DataFrame
        Columns :data:`ABLATION_COLUMNS`: one row per training size and configuration, seeds pooled.
    """

    runs: pd.DataFrame
    table: pd.DataFrame


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


def downstream_ablation(dataset: Any, *, recipes: str | Sequence[str] = ("eda",),
                        train_sizes: str | Sequence[int | str] = (250, 500, 1000, "full"),
                        alphas: str | Sequence[float] = (0.1,), n_augs: str | Sequence[int] = (4,),
                        seeds: Sequence[int] = (0, 1, 2), n_jobs: int = 1, n_resamples: int = 1000,
                        progress: bool = True, model: str | None = None,
                        translation_models: str | Sequence[str] | None = None,
                        nltk_data: str | os.PathLike | None = None,
                        vectors: str | os.PathLike | None = None) -> AblationResult:
    """Does augmentation help a classifier, by training-set size? The EDA protocol (Wei & Zou 2019).

    For each seed and training size, a stratified subsample of ``train`` (seeded) trains the baseline;
    the same subsample plus ``n_aug`` variants of each of its texts (labels copied) trains the
    augmented model. Both are TF-IDF + logistic regression (:func:`workbench.baselines.tfidf_logreg`,
    same settings, so the same model and budget) scored on the whole ``test`` split. A text's variants
    depend only on (seed, its row in ``train``), so each text is augmented once per seed and recipe
    for all sizes, and smaller ``n_aug`` reuse the first variants.

    Statistics per size and configuration, seeds pooled: accuracy means; their 95% intervals and the
    gain's come from a percentile bootstrap over test examples of the per-example correctness
    averaged over seeds (paired: an example keeps both models' results); ``p_value`` is two-sided
    under the shifted null (Berg-Kirkpatrick et al. 2012), as in
    :func:`workbench.evaluation.paired_bootstrap_test`. It treats the test set as the sample; the
    spread between training subsamples is in ``p_value_seeds``, a paired t-test over seeds.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        With ``train`` and ``test`` splits, ``text`` and ``label`` (ClassLabel) columns.
    recipes : str or sequence of str
        Augmenters to test.
    train_sizes : str or sequence
        Sizes (ints >= 2; ``"full"`` or 0 for the whole split); a size above the split is the split.
    alphas, n_augs : str or sequence
        Grid of strengths and variants per text. ``alpha = 0`` adds plain copies (run once, under the
        first recipe's name): the control for what repeating the data alone does to the fit.
    seeds : sequence of int
        One run per seed (subsample, augmentation and classifier); at least 1, 3 or more for intervals.
    n_jobs : int
        Processes for augmenting.
    n_resamples : int
        Bootstrap resamples.
    model, translation_models, nltk_data, vectors
        Resources of the model and dictionary recipes (see :func:`compare_augmenters`).

    Returns
    -------
    AblationResult
        A configuration whose optional resource is missing has ``status = "skipped"`` and a reason
        saying how to get it; one whose augmenting or fitting broke has ``status = "failed"`` and the
        reason, in ``runs`` (per seed) and ``table``. The other configurations go on.

    Examples
    --------
    >>> from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    >>> features = Features({"text": Value("string"), "label": ClassLabel(names=["bad", "good"])})
    >>> rows = {"text": [f"great tasty {i}" for i in range(20)] + [f"awful stale {i}" for i in range(20)],
    ...         "label": [1] * 20 + [0] * 20}
    >>> split = Dataset.from_dict(rows, features=features)
    >>> result = downstream_ablation(DatasetDict(train=split, test=split), recipes="word_swap",
    ...                              train_sizes="10,full", n_augs="1", seeds=[0, 1, 2], progress=False)
    >>> result.table[["train_size", "n_seeds"]].values.tolist()
    [[10, 3], [40, 3]]
    """
    from workbench.baselines import _check_splits

    func = "downstream_ablation"
    _check_splits(dataset, func, ("train", "test"), "text", "label")
    recipes = _as_names(recipes, "recipes", func)
    sizes = _as_sizes(train_sizes, func)
    alphas = _as_numbers(alphas, "alphas", func, float, 0.0, 1.0)
    n_augs = _as_numbers(n_augs, "n_augs", func, int, 1, None)
    seeds = _as_numbers(list(seeds), "seeds", func, int, 0, None)
    check_int("n_resamples", n_resamples, func, low=1)
    n_jobs = _check_n_jobs(n_jobs, func)
    texts = list(dataset["train"]["text"])
    labels = np.asarray(dataset["train"]["label"])
    y_test = np.asarray(dataset["test"]["label"])
    resolved = sorted({len(texts) if size == 0 or size >= len(texts) else size for size in sizes})
    requested = {len(texts) if size == 0 or size >= len(texts) else size: size for size in sizes}
    # alpha = 0 (plain copies) is the same for every recipe: run it once.
    configs = [(r, a, k) for r in recipes for a in alphas for k in n_augs if a > 0 or r == recipes[0]]
    resources = dict(model=model, translation_models=translation_models, nltk_data=nltk_data, vectors=vectors)
    test = (list(dataset["test"]["text"]), y_test.tolist(), dataset["train"].features["label"].names)
    runs, fits = [], {}  # fits: ("baseline", seed, size) or ("run", index in runs) -> (seed, texts, labels)
    with _shared_workers(n_jobs) as pool:  # one set of workers for all seeds: their caches stay warm
        for seed in seeds:
            picks = {size: _pick(labels, size, seed) for size in resolved}
            needed = sorted(set().union(*[set(p.tolist()) for p in picks.values()]))
            for size in resolved:
                fits[("baseline", seed, size)] = (seed, *_training_set(texts, labels, picks[size], {}, 0))
            for recipe, alpha in dict.fromkeys((r, a) for r, a, _ in configs):
                variants, status, reason = _variants_by_id(texts, needed, recipe, alpha, max(n_augs), seed, n_jobs,
                                                           **resources)
                for n_aug, size in itertools.product(n_augs, resolved):
                    runs.append(dict(train_size=size, requested_size=requested[size], augmenter=recipe, alpha=alpha,
                                     n_aug=n_aug, seed=seed, n_train=len(picks[size]) * (1 + n_aug),
                                     augmented_accuracy=float("nan"), status="ok", reason=None))
                    if status == "ok":
                        fits[("run", len(runs) - 1)] = (seed, *_training_set(texts, labels, picks[size], variants,
                                                                             n_aug))
                    else:
                        runs[-1] |= dict(n_train=len(picks[size]), status=status, reason=reason)
        hits, errors = _fit_all(pool, fits, test, progress)
    correct = {}
    for i, row in enumerate(runs):
        base_key = ("baseline", row["seed"], row["train_size"])
        for key in (base_key, ("run", i)):
            if key in errors and row["status"] == "ok":
                row.update(status="failed", reason=errors[key])
        if base_key not in hits:
            continue
        base = hits[base_key]
        row["baseline_accuracy"] = float(base.mean())
        if ("run", i) in hits and row["status"] == "ok":
            row["augmented_accuracy"] = float(hits[("run", i)].mean())
            key = (row["train_size"], row["augmenter"], row["alpha"], row["n_aug"])
            correct.setdefault(key, []).append((base, hits[("run", i)]))
    runs_frame = pd.DataFrame(runs, columns=list(RUN_COLUMNS))
    table = _ablation_table(runs_frame, correct, y_test, n_resamples, seeds[0])
    return AblationResult(runs_frame, table)


def _pick(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    from workbench.data import _stratified_pick

    return np.arange(len(labels)) if size >= len(labels) else _stratified_pick(labels, size, seed)


def _variants_by_id(texts, ids, recipe, alpha, n_aug, seed, n_jobs, *, model, translation_models, nltk_data,
                    vectors):
    try:
        frame = augment([texts[i] for i in ids], recipe, alpha=alpha, n_aug=n_aug, seed=seed, n_jobs=n_jobs,
                        text_ids=ids, progress=False, nltk_data=nltk_data, vectors=vectors,
                        model=translation_models if recipe == "back_translation" else model)
    except Exception as exc:  # noqa: BLE001 - the configuration's row says what happened; the others go on
        return {}, *_outcome_of(exc)
    if (frame["status"] != "ok").all():
        return {}, "failed", f"every variant failed: {frame['reason'].iloc[0]}"
    return frame.groupby("text_id", sort=False)["augmented"].agg(list).to_dict(), "ok", None


def _training_set(texts, labels, picked: np.ndarray, variants: dict[int, list[str]], n_aug: int):
    """The picked texts and labels, plus the first ``n_aug`` variants of each (labels copied)."""
    train_texts = [texts[i] for i in picked.tolist()]
    train_labels = labels[picked].tolist()
    for i in picked.tolist() if n_aug else []:
        train_texts += variants[i][:n_aug]
        train_labels += [int(labels[i])] * n_aug
    return train_texts, train_labels


def _fit_all(pool, fits: dict, test: tuple, progress: bool) -> tuple[dict[Any, np.ndarray], dict[Any, str]]:
    """Per-test-example correctness of every fit (on the workers when there are some), and the
    one-line reason of every fit that raised."""
    bar = progress_bar(total=len(fits), desc="ablation fits", disable=not progress)
    out, errors = {}, {}
    try:
        if pool is None:
            for key, (seed, train_texts, train_labels) in fits.items():
                try:
                    out[key] = _fit_and_score(train_texts, train_labels, *test, seed)
                except Exception as exc:  # noqa: BLE001 - a failed fit is a failed row, not the end
                    errors[key] = _outcome_of(exc)[1]
                bar.update(1)
            return out, errors
        futures = {pool.submit(_fit_and_score, train_texts, train_labels, *test, seed): key
                   for key, (seed, train_texts, train_labels) in fits.items()}
        for future in as_completed(futures):
            try:
                out[futures[future]] = future.result()
            except Exception as exc:  # noqa: BLE001 - as above
                errors[futures[future]] = _outcome_of(exc)[1]
            bar.update(1)
        return out, errors
    finally:
        bar.close()


def _fit_and_score(train_texts: list[str], train_labels: list[int], test_texts: list[str], test_labels: list[int],
                   label_names: list[str], seed: int) -> np.ndarray:
    """Per-test-example correctness of TF-IDF + logistic regression (workbench.baselines.tfidf_logreg)."""
    import datasets
    from threadpoolctl import threadpool_limits

    from workbench.baselines import tfidf_logreg

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=label_names)})
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": train_texts, "label": train_labels}, features=features),
        test=datasets.Dataset.from_dict({"text": test_texts, "label": test_labels}, features=features))
    # One BLAS thread: these sparse fits are small, and BLAS threads waiting for busy cores made them
    # 30x slower on a loaded 2-core machine (0.12 s against 3.8 s).
    with threadpool_limits(limits=1, user_api="blas"):
        result = tfidf_logreg(splits, seed=seed)
    return (np.asarray(result.y_pred) == np.asarray(result.y_true)).astype(float)


def _ablation_table(runs: pd.DataFrame, correct: dict, y_test: np.ndarray, n_resamples: int,
                    seed: int) -> pd.DataFrame:
    from scipy.stats import ttest_rel

    rows = []
    for (size, recipe, alpha, n_aug), group in runs.groupby(["train_size", "augmenter", "alpha", "n_aug"],
                                                           sort=False):
        row = dict(train_size=size, requested_size=group["requested_size"].iloc[0], augmenter=recipe, alpha=alpha,
                   n_aug=n_aug, n_seeds=int((group["status"] == "ok").sum()),
                   baseline_mean=float(group["baseline_accuracy"].mean()))
        pairs = correct.get((size, recipe, alpha, n_aug))
        if not pairs:
            status = "skipped" if (group["status"] == "skipped").all() else "failed"
            rows.append(row | dict(status=status, reason=group.loc[group["status"] == status, "reason"].iloc[0]))
            continue
        base = np.mean([b for b, _ in pairs], axis=0)  # per test example, averaged over seeds
        aug = np.mean([a for _, a in pairs], axis=0)
        base_low, base_high = mean_ci(base, n_resamples=n_resamples, seed=seed)
        aug_low, aug_high = mean_ci(aug, n_resamples=n_resamples, seed=seed)
        test = mean_difference_test(aug - base, n_resamples=n_resamples, seed=seed)
        seed_gain = [a.mean() - b.mean() for b, a in pairs]
        p_seeds = float("nan")
        if len(pairs) >= 2 and np.std(seed_gain) > 0:
            p_seeds = float(ttest_rel([a.mean() for _, a in pairs], [b.mean() for b, _ in pairs]).pvalue)
        rows.append(row | dict(
            baseline_mean=float(base.mean()), baseline_ci_low=base_low, baseline_ci_high=base_high,
            augmented_mean=float(aug.mean()), augmented_ci_low=aug_low, augmented_ci_high=aug_high,
            gain=test["delta"], ci_low=test["ci95"][0], ci_high=test["ci95"][1], p_value=test["p_value"],
            p_value_seeds=p_seeds, status="ok", reason=None))
    return pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))


def ablation_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The ablation table as summary rows ``{train_size, augmenter, alpha, n_aug, n_seeds, baseline_mean,
    augmented_mean, gain, ci95: [low, high], p_value}``.

    >>> row = dict.fromkeys(ABLATION_COLUMNS, 0.5) | {"train_size": 500, "augmenter": "eda", "n_seeds": 3}
    >>> ablation_records(pd.DataFrame([row]))[0]["ci95"]
    [0.5, 0.5]
    """
    keys = ("train_size", "augmenter", "alpha", "n_aug", "n_seeds", "baseline_mean", "augmented_mean", "gain",
            "p_value")
    return [{key: row[key] for key in keys} | {"ci95": [row["ci_low"], row["ci_high"]]}
            for row in table.to_dict("records")]
