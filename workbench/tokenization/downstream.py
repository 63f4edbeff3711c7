"""Downstream probe: the same small transformer trained with each tokenizer, chosen on validation,
compared on test through :mod:`workbench.verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_int, check_type
from workbench.errors import DataError, ParameterError
from workbench.tokenization.metrics import compare_tokenizers
from workbench.tokenization.train import ALGORITHMS, VOCAB_SIZE_RANGE, train_tokenizer


DOWNSTREAM_COLUMNS: tuple[str, ...] = (
    "configuration", "algorithm", "target_vocab_size", "vocab_size", "n_seeds", "val_accuracy", "val_macro_f1",
    "accuracy", "ci95_low", "ci95_high", "seed_std", "macro_f1", "embedding_params", "total_params", "fertility",
    "renyi_efficiency", "train_seconds", "status", "reason")
RUN_COLUMNS: tuple[str, ...] = ("configuration", "algorithm", "target_vocab_size", "seed", "val_accuracy",
                                "val_macro_f1", "accuracy", "macro_f1", "train_seconds")
DEFAULT_DOWNSTREAM_MODEL = "tiny:num_layers=2,hidden_size=64,num_heads=2"


@dataclass
class DownstreamResult:
    """Output of :func:`downstream_sweep`.

    ``frame`` has one row per (algorithm, vocabulary size) with the seed-averaged validation and test
    scores and the test accuracy's 95% interval (columns :data:`DOWNSTREAM_COLUMNS`); ``runs`` one row
    per seed (:data:`RUN_COLUMNS`). ``predictions[split][configuration]`` is ``{seed: predicted label
    ids}`` on ``split`` ("validation" or "test"), aligned with ``labels[split]``: what
    :func:`downstream_verdict` chooses on (validation) and compares on (test), paired by example and seed.
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    predictions: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """The ``downstream`` rows of a report summary: algorithm, vocab_size, accuracy, ci95,
        embedding_params (finished configurations only)."""
        done = self.frame[self.frame["status"] == "ok"]
        return [{"algorithm": r.algorithm, "vocab_size": int(r.vocab_size),
                 "target_vocab_size": int(r.target_vocab_size), "accuracy": float(r.accuracy),
                 "ci95": [float(r.ci95_low), float(r.ci95_high)], "embedding_params": int(r.embedding_params),
                 "n_seeds": int(r.n_seeds)} for r in done.itertuples()]


def downstream_sweep(dataset, *, algorithms: Sequence[str] = ("bpe", "unigram"),
                     vocab_sizes: Sequence[int] = (1000, 4000, 16000), model: str = DEFAULT_DOWNSTREAM_MODEL,
                     config=None, seeds: Sequence[int] = (0,), lowercase: bool = False, nfkc: bool = False,
                     strip_accents: bool = False, n_resamples: int = 1000, progress: bool = True
                     ) -> DownstreamResult:
    """Train the same small transformer with each tokenizer, same budget and seeds; score it on test.

    For every algorithm and vocabulary size a tokenizer is trained on ``dataset["train"]``
    (:func:`train_tokenizer`), a randomly initialised ``model`` is built around its vocabulary
    (:func:`workbench.models.load_model`) and fine-tuned with ``config`` through HF ``Trainer``
    (:func:`workbench.training.fine_tune`), once per seed. Only the tokenizer changes between rows, so
    differences in accuracy are the tokenizer's (plus seed noise, shown by ``seed_std``). The
    embedding table, ``vocab_size x hidden_size``, is the part of the model the vocabulary buys.

    ``accuracy`` is the mean over seeds; ``ci95_low``/``ci95_high`` a percentile bootstrap over test
    examples of each example's seed-averaged correctness (``scipy.stats.bootstrap``), so it covers
    test-set sampling. ``fertility`` and ``renyi_efficiency`` are measured on the test texts, for
    relating intrinsic scores to accuracy. A configuration that fails becomes a row with
    ``status="failed"`` and the reason, and the sweep goes on.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        Splits ``train``, ``validation`` and ``test`` (``workbench.load_dataset``).
    algorithms : sequence of str
        From :data:`ALGORITHMS`.
    vocab_sizes : sequence of int
        Targets for :func:`train_tokenizer`; the vocabulary actually learnt is reported as ``vocab_size``
        (a small corpus may support fewer entries).
    model : str
        A ``"tiny:..."`` spec (random initialisation: a pretrained model is tied to its own vocabulary).
    config : workbench.training.TrainConfig, optional
        Training budget; its ``seed`` is replaced by each of ``seeds``. Default: 2 epochs at lr 1e-3.
    seeds : sequence of int
        Model initialisation and data-order seeds.
    lowercase, nfkc, strip_accents : bool
        Normalization of every trained tokenizer.
    n_resamples : int
        Bootstrap resamples for the interval.
    progress : bool
        Show a progress bar over runs.

    Examples
    --------
    >>> result = downstream_sweep(data, algorithms=["bpe"], vocab_sizes=[500], seeds=[0])  # doctest: +SKIP
    >>> result.frame[["algorithm", "vocab_size", "accuracy"]]  # doctest: +SKIP
    """
    from workbench.models import count_parameters, load_model
    from workbench.training import TrainConfig, fine_tune

    func = "downstream_sweep"
    algorithms, vocab_sizes, seeds = list(algorithms), list(vocab_sizes), list(seeds)
    for name, values in (("algorithms", algorithms), ("vocab_sizes", vocab_sizes), ("seeds", seeds)):
        if not values:
            raise ParameterError(f"The {name!r} parameter of {func} must list at least one value. Got [] instead.")
    for algorithm in algorithms:
        check_choice("algorithms", algorithm, func, ALGORITHMS)
    for size in vocab_sizes:
        check_int("vocab_sizes", size, func, low=VOCAB_SIZE_RANGE[0], high=VOCAB_SIZE_RANGE[1],
                  fix="Pick vocabulary sizes of at least 100 entries.")
    for seed in seeds:
        check_int("seeds", seed, func, low=0)
    check_type("model", model, func, str)
    if not (model == "tiny" or model.startswith("tiny:")):
        raise ParameterError(f"The 'model' parameter of {func} must be a 'tiny' or 'tiny:key=value,...' spec "
                             f"(a pretrained model only works with its own vocabulary). Got {model!r} instead.")
    config = config if config is not None else TrainConfig(learning_rate=1e-3, num_epochs=2.0, batch_size=32,
                                                           warmup_ratio=0.1, max_length=128)
    check_type("config", config, func, TrainConfig)
    check_int("n_resamples", n_resamples, func, low=10)
    for split in ("train", "validation", "test"):
        if split not in dataset:
            raise DataError(f"The 'dataset' parameter of {func} must have a {split!r} split. "
                            f"Got splits {list(dataset)} instead. Use workbench.load_dataset.")

    from workbench._progress import progress_bar
    from workbench.errors import first_line
    from workbench.evaluation import classification_metrics, mean_ci

    train_texts = list(dataset["train"]["text"])
    texts = {split: list(dataset[split]["text"]) for split in ("validation", "test")}
    test_texts = texts["test"]
    labels = {split: np.asarray(dataset[split]["label"]) for split in ("validation", "test")}
    y_true = labels["test"]
    predictions: dict[str, dict[str, dict[int, np.ndarray]]] = {"validation": {}, "test": {}}
    label_names = list(dataset["train"].features["label"].names)
    grid = [(a, v) for a in algorithms for v in vocab_sizes]
    bar = progress_bar(total=len(grid) * len(seeds), desc="downstream", disable=not progress)
    rows, runs = [], []
    for algorithm, target in grid:
        name = f"{algorithm}_{target}"
        row: dict[str, Any] = {"configuration": name, "algorithm": algorithm, "target_vocab_size": target,
                               "n_seeds": 0, "status": "ok", "reason": ""}
        correct, seconds, seed_runs = [], 0.0, []
        try:
            tokenizer = train_tokenizer(train_texts, algorithm=algorithm, vocab_size=target, lowercase=lowercase,
                                        nfkc=nfkc, strip_accents=strip_accents)
            intrinsic = compare_tokenizers({algorithm: tokenizer}, test_texts, max_length=config.max_length,
                                           round_trip_texts=1).set_index("metric")["value"]
            row.update(vocab_size=len(tokenizer), fertility=float(intrinsic["fertility"]),
                       renyi_efficiency=float(intrinsic["renyi_efficiency"]))
            for seed in seeds:
                network, tok = load_model(model, num_labels=len(label_names), label_names=label_names,
                                          tokenizer=tokenizer, seed=seed)
                run = fine_tune(network, tok, dataset, replace(config, seed=seed, progress=False))
                scored = {split: np.asarray(run.predict_labels(texts[split])) for split in texts}
                correct.append(scored["test"] == y_true)
                seconds += run.train_seconds
                val = classification_metrics(labels["validation"], scored["validation"], label_names=label_names)
                metrics = classification_metrics(y_true, scored["test"], label_names=label_names)
                seed_runs.append({"configuration": name, "algorithm": algorithm, "target_vocab_size": target,
                                  "seed": seed, "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                                  "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                                  "train_seconds": run.train_seconds, "predictions": scored})
                bar.update(1)
            row.update(embedding_params=int(network.get_input_embeddings().weight.numel()),
                       total_params=int(count_parameters(network)["total"]))
        except Exception as error:  # one failing configuration must not end the sweep
            row.update(status="failed", reason=first_line(error))
            bar.update(len(seeds) - len(correct))
        if correct and row["status"] == "ok":
            for split in texts:
                predictions[split][name] = {r["seed"]: r["predictions"][split] for r in seed_runs}
            runs += [{k: v for k, v in r.items() if k != "predictions"} for r in seed_runs]
            row.update({k: float(np.mean([r[k] for r in seed_runs])) for k in ("val_accuracy", "val_macro_f1",
                                                                                  "macro_f1")})
            matrix = np.vstack(correct).astype(float)
            low, high = mean_ci(matrix.mean(axis=0), n_resamples=n_resamples)
            per_seed = matrix.mean(axis=1)
            row.update(n_seeds=len(correct), accuracy=float(per_seed.mean()), ci95_low=low, ci95_high=high,
                       seed_std=float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                       train_seconds=seconds)
        rows.append(row)
    bar.close()
    frame = pd.DataFrame(rows).reindex(columns=list(DOWNSTREAM_COLUMNS))
    return DownstreamResult(frame=frame, runs=pd.DataFrame(runs, columns=list(RUN_COLUMNS)),
                            predictions=predictions, labels=labels)


def run_downstream(data, settings: Mapping[str, Any], *, algorithms: Sequence[str], metric: str = "accuracy",
                   seed: int = 0, lowercase: bool = False, nfkc: bool = False, strip_accents: bool = False,
                   progress: bool = True) -> DownstreamResult:
    """The notebook's downstream sweep from its profile ``settings`` (:func:`workbench.profile_settings`).

    Subsamples ``downstream_train_examples`` training texts (0: all) with ``seed``, then runs
    :func:`downstream_sweep` over ``algorithms`` x ``downstream_vocab_sizes`` with
    ``downstream_seeds`` seeds from ``seed`` on, ``downstream_epochs`` at learning rate 1e-3 (10% warm-up,
    batch 32), ``downstream_max_length`` tokens, ``downstream_threads`` torch threads, keeping the
    checkpoint best on validation ``metric``.

    >>> run_downstream(data, profile_settings("tokenization", "smoke"), algorithms=["bpe"])  # doctest: +SKIP
    """
    from workbench.data import subsample
    from workbench.training import TrainConfig

    subset = subsample(data, split="train", n=settings["downstream_train_examples"], seed=seed)
    config = TrainConfig(learning_rate=1e-3, num_epochs=settings["downstream_epochs"], batch_size=32,
                         warmup_ratio=0.1, max_length=settings["downstream_max_length"], seed=seed,
                         num_threads=settings["downstream_threads"], metric_for_best_model=metric)
    return downstream_sweep(subset, algorithms=algorithms, vocab_sizes=settings["downstream_vocab_sizes"],
                            model=settings["downstream_model"], config=config,
                            seeds=list(range(seed, seed + settings["downstream_seeds"])), lowercase=lowercase,
                            nfkc=nfkc, strip_accents=strip_accents, n_resamples=settings["n_resamples"],
                            progress=progress)


DOWNSTREAM_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
DOWNSTREAM_QUESTION = "Does the tokenizer configuration chosen on validation pay off against the cheapest one?"


def downstream_verdict(result: DownstreamResult, *, metric: str = "accuracy", baseline: str | None = None,
                       n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Choose a configuration on validation, then score it against the baseline on test.

    The decision goes through :mod:`workbench.verdicts`, the one decision layer:

    - **Baseline**: the configuration with the fewest embedding parameters (ties: the first listed), i.e.
      the cheapest vocabulary; or the configuration named by ``baseline``. The question is whether paying
      for a larger embedding table (or another algorithm) buys accuracy on this data.
    - **Choice**: among the other finished configurations, the best seed-averaged validation ``metric``,
      ties to fewer embedding parameters (:func:`~workbench.verdicts.choose_on_validation`). Test labels
      never enter the choice.
    - **Comparison**: choice minus baseline on the test split, paired by example and by seed
      (:func:`~workbench.verdicts.compare_predictions`), superiority rule, Holm over the family
      (:func:`~workbench.verdicts.family_verdicts`; here one comparison). The cost is embedding parameters.
    - **Recommended**: the choice when it pays off, else the cheaper baseline.

    Returns
    -------
    dict
        ``choice``, ``baseline``, ``validation`` (``{configuration: score}``), ``comparison``, ``verdict``
        (the ``summary.json["verdict"]`` schema), ``recommended``. With fewer than two finished
        configurations there is nothing to compare: ``verdict`` is None and ``note`` says why.

    Examples
    --------
    >>> truth = np.array([0, 1] * 50)
    >>> frame = pd.DataFrame({"configuration": ["bpe_1000", "bpe_4000"], "status": "ok",
    ...                       "embedding_params": [64_000, 256_000], "val_accuracy": [0.7, 0.8]})
    >>> preds = {"bpe_1000": {0: np.zeros(100, int)}, "bpe_4000": {0: truth}}
    >>> result = DownstreamResult(frame, pd.DataFrame(), {"validation": preds, "test": preds},
    ...                           {"validation": truth, "test": truth})
    >>> decision = downstream_verdict(result, n_resamples=200)
    >>> decision["choice"], decision["baseline"], decision["verdict"]["answer"], decision["recommended"]
    ('bpe_4000', 'bpe_1000', 'pays off', 'bpe_4000')
    """
    from workbench.verdicts import choose_on_validation, compare_predictions, family_verdicts

    func = "downstream_verdict"
    check_type("result", result, func, DownstreamResult)
    check_choice("metric", metric, func, DOWNSTREAM_METRICS)
    done = result.frame[result.frame["status"] == "ok"]
    names = done["configuration"].tolist()
    params = dict(zip(names, done["embedding_params"].astype(float)))
    if baseline is not None and baseline not in names:
        raise ParameterError(f"The 'baseline' parameter of {func} must name a finished configuration "
                             f"({', '.join(names)}). Got {baseline!r} instead.")
    if len(names) < 2:
        return {"choice": None, "baseline": names[0] if names else None, "validation": {}, "comparison": None,
                "verdict": None, "recommended": names[0] if names else None,
                "note": f"{len(names)} finished configuration(s): nothing to compare."}
    if baseline is None:
        baseline = min(names, key=lambda n: (params[n], names.index(n)))
    validation = dict(zip(names, done[f"val_{metric}"].astype(float)))
    candidates = {n: v for n, v in validation.items() if n != baseline}
    choice = choose_on_validation(candidates, metric=metric, cost={n: params[n] for n in candidates})
    test = result.predictions["test"]
    comparison = compare_predictions(result.labels["test"], test[choice], test[baseline], metric=metric,
                                     n_resamples=n_resamples, seed=seed)
    cost = {"embedding_params": {"candidate": params[choice], "baseline": params[baseline]}}
    verdict = family_verdicts(DOWNSTREAM_QUESTION, {choice: comparison}, baseline=baseline,
                              costs={choice: cost})[choice]
    return {"choice": choice, "baseline": baseline, "validation": validation, "comparison": comparison,
            "verdict": verdict, "recommended": choice if verdict["answer"] == "pays off" else baseline}


def downstream_correlation(frame: pd.DataFrame, *, x: str = "renyi_efficiency", y: str = "accuracy"
                           ) -> dict[str, float]:
    """Pearson and Spearman correlation of an intrinsic score with accuracy across configurations.

    Zouhar et al. (2023) report Rényi efficiency (alpha 2.5) correlating with downstream BLEU at
    Pearson 0.78 across their tokenizers; this measures the same relation on your task. With fewer than
    three finished configurations the coefficients are NaN.

    >>> downstream_correlation(pd.DataFrame({"renyi_efficiency": [.3, .4, .5], "accuracy": [.6, .7, .8],
    ...                                      "status": "ok"}))["pearson_r"]
    1.0
    """
    from scipy.stats import pearsonr, spearmanr

    done = frame[frame["status"] == "ok"].dropna(subset=[x, y])
    out = {"n": int(len(done)), "x": x, "y": y}
    if len(done) < 3 or done[x].nunique() < 2 or done[y].nunique() < 2:
        return out | {"pearson_r": float("nan"), "pearson_p": float("nan"), "spearman_rho": float("nan"),
                      "spearman_p": float("nan")}
    pearson, spearman = pearsonr(done[x], done[y]), spearmanr(done[x], done[y])
    return out | {"pearson_r": round(float(pearson.statistic), 12), "pearson_p": float(pearson.pvalue),
                  "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue)}
