"""Downstream probe: the same small transformer trained with each tokenizer, chosen on validation,
compared on test through :mod:`workbench.verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_float, check_int, check_type
from workbench.errors import DataError, ParameterError
from workbench.tokenization.breakdowns import kept_char_share
from workbench.tokenization.ladder import LADDER_ALGORITHMS, bpe_ladder
from workbench.tokenization.metrics import compare_tokenizers
from workbench.tokenization.train import ALGORITHMS, VOCAB_SIZE_RANGE, train_tokenizer

CALIBRATION_METRICS: tuple[str, ...] = ("fertility", "continued_word_ratio", "chars_per_token", "renyi_efficiency",
                                        "renyi_efficiency_observed")
"""Intrinsic scores measured per downstream configuration (on test texts) and calibrated against accuracy."""


DOWNSTREAM_COLUMNS: tuple[str, ...] = (
    "configuration", "algorithm", "target_vocab_size", "vocab_size", "learning_rate", "subword_dropout", "n_seeds",
    "val_accuracy", "val_macro_f1", "accuracy", "ci95_low", "ci95_high", "seed_std", "macro_f1", "embedding_params",
    "total_params", "max_length", "kept_char_share", "truncation_rate", *CALIBRATION_METRICS, "train_seconds",
    "status", "reason")
RUN_COLUMNS: tuple[str, ...] = ("configuration", "algorithm", "target_vocab_size", "learning_rate", "seed",
                                "val_accuracy", "val_macro_f1", "accuracy", "macro_f1", "train_loss", "train_seconds")
TUNING_COLUMNS: tuple[str, ...] = ("configuration", "learning_rate", "seed", "val_accuracy", "val_macro_f1", "chosen")
DEFAULT_DOWNSTREAM_MODEL = "tiny:num_layers=2,hidden_size=64,num_heads=2"


@dataclass
class DownstreamResult:
    """Output of :func:`downstream_sweep`.

    ``frame`` has one row per (algorithm, vocabulary size) with the seed-averaged validation and test
    scores and the test accuracy's 95% interval (columns :data:`DOWNSTREAM_COLUMNS`); ``runs`` one row
    per seed (:data:`RUN_COLUMNS`); ``tuning`` the learning-rate grid's validation scores
    (:data:`TUNING_COLUMNS`); ``regularised`` the same configuration trained with subword dropout
    (:func:`run_downstream`), when run. ``predictions[split][configuration]`` is ``{seed: predicted label ids}`` on
    ``split`` ("validation" or "test"), aligned with ``labels[split]``: what :func:`downstream_verdict`
    chooses on (validation) and compares on (test), paired by example and seed.
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    predictions: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    tuning: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TUNING_COLUMNS)))
    regularised: DownstreamResult | None = None

    def rows(self) -> list[dict[str, Any]]:
        """The ``downstream`` rows of a report summary (finished configurations only)."""
        done = self.frame[self.frame["status"] == "ok"]
        return [{"configuration": r.configuration, "algorithm": r.algorithm, "vocab_size": int(r.vocab_size),
                 "target_vocab_size": int(r.target_vocab_size), "accuracy": float(r.accuracy),
                 "ci95": [float(r.ci95_low), float(r.ci95_high)], "seed_std": float(r.seed_std),
                 "val_accuracy": float(r.val_accuracy), "embedding_params": int(r.embedding_params),
                 "n_seeds": int(r.n_seeds), "learning_rate": float(r.learning_rate),
                 "subword_dropout": float(r.subword_dropout), "max_length": int(r.max_length),
                 "kept_char_share": float(r.kept_char_share), "truncation_rate": float(r.truncation_rate)}
                for r in done.itertuples()]


def downstream_sweep(dataset, *, algorithms: Sequence[str] = ("bpe", "unigram"),
                     vocab_sizes: Sequence[int] = (1000, 4000, 16000), model: str = DEFAULT_DOWNSTREAM_MODEL,
                     config=None, seeds: Sequence[int] = (0,), learning_rates: Sequence[float] | None = None,
                     subword_dropout: float = 0.0, ladder: bool = True, lowercase: bool = False, nfkc: bool = False,
                     strip_accents: bool = False, n_resamples: int = 1000, progress: bool = True
                     ) -> DownstreamResult:
    """Train the same small transformer with each tokenizer, same budget and seeds; score it on test.

    For every algorithm and vocabulary size a tokenizer is trained on ``dataset["train"]``
    (:func:`train_tokenizer`; with ``ladder``, BPE is trained once at the largest size and the smaller
    sizes truncated from it, :func:`~workbench.tokenization.ladder.bpe_ladder`), a randomly initialised
    ``model`` is built around its vocabulary (:func:`workbench.models.load_model`) and fine-tuned with
    ``config`` through HF ``Trainer`` (:func:`workbench.training.fine_tune`), once per seed. Only the
    tokenizer changes between rows. The embedding table, ``vocab_size x hidden_size``, is the part of
    the model the vocabulary buys.

    **Learning rate**: with several ``learning_rates``, each configuration is trained at each rate with
    the first seed and keeps the rate best on the **validation** metric of ``config.metric_for_best_model``
    (accuracy for "loss"; ties: the first listed); that
    run is reused as the first seed's, and the other seeds run at the chosen rate (``tuning`` keeps the
    grid). **Truncation**: every tokenizer is cut at ``config.max_length`` tokens, so a tokenizer with
    more tokens per word sees less of each text; ``kept_char_share`` (share of test characters within
    the budget) and ``truncation_rate`` show it per row, for use as a covariate
    (:func:`~workbench.tokenization.calibration.calibrate_intrinsic`). **Subword regularisation**:
    ``subword_dropout`` > 0 trains on BPE-dropout samples (Provilkov et al. 2020) of the training texts,
    seeded by the run's seed (:func:`~workbench.tokenization.dropout.dropout_tokenizer`); validation and
    test are encoded without dropout.

    ``accuracy`` is the mean over seeds; ``ci95_low``/``ci95_high`` a percentile bootstrap over test
    examples of each example's seed-averaged correctness, so it covers test-set sampling; ``seed_std``
    the spread over seeds. Intrinsic scores (:data:`CALIBRATION_METRICS`) are measured on the test texts.
    A configuration that fails becomes a row with ``status="failed"`` and the reason; the sweep goes on.

    Parameters
    ----------
    dataset : datasets.DatasetDict
        Splits ``train``, ``validation`` and ``test`` (``workbench.load_dataset``).
    algorithms : sequence of str
        From :data:`ALGORITHMS`.
    vocab_sizes : sequence of int
        Targets for :func:`train_tokenizer`; the vocabulary actually learnt is reported as ``vocab_size``.
    model : str
        A ``"tiny:..."`` spec (random initialisation: a pretrained model is tied to its own vocabulary).
    config : workbench.training.TrainConfig, optional
        Training budget; its ``seed`` (and learning rate, with ``learning_rates``) is replaced per run.
        Default: 2 epochs at lr 1e-3.
    seeds : sequence of int
        Model initialisation, data-order and dropout-sampling seeds.
    learning_rates : sequence of float, optional
        The grid tuned per configuration on validation; None keeps ``config.learning_rate``.
    subword_dropout : float
        BPE-dropout probability in [0, 1) for training (BPE algorithms only); 0 trains on plain encodings.
    ladder : bool
        Derive the smaller BPE vocabularies from the largest one (one BPE training per algorithm).
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
    from workbench.training import TrainConfig

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
    rates = [config.learning_rate] if learning_rates is None else list(learning_rates)
    if not rates:
        raise ParameterError(f"The 'learning_rates' parameter of {func} must list at least one value. "
                             "Got [] instead. Pass None to keep config.learning_rate.")
    rates = [check_float("learning_rates", r, func, low=0, low_open=True) for r in rates]
    check_float("subword_dropout", subword_dropout, func, low=0, high=1, high_open=True,
                fix="Use about 0.1 (Provilkov et al. 2020), or 0 for none.")
    check_type("ladder", ladder, func, bool)
    check_int("n_resamples", n_resamples, func, low=10)
    for split in ("train", "validation", "test"):
        if split not in dataset:
            raise DataError(f"The 'dataset' parameter of {func} must have a {split!r} split. "
                            f"Got splits {list(dataset)} instead. Use workbench.load_dataset.")

    from workbench._progress import progress_bar
    from workbench.errors import first_line

    sweep = _Sweep(dataset, model, config, seeds, rates, subword_dropout, n_resamples,
                   options=dict(lowercase=lowercase, nfkc=nfkc, strip_accents=strip_accents))
    grid = [(a, v) for a in algorithms for v in vocab_sizes]
    sweep.bar = progress_bar(total=len(grid) * (len(seeds) + len(rates) - 1), desc="downstream",
                             disable=not progress)
    for algorithm, target in grid:
        row: dict[str, Any] = {"configuration": f"{algorithm}_{target}", "algorithm": algorithm,
                               "target_vocab_size": target, "n_seeds": 0, "status": "ok", "reason": ""}
        try:
            row.update(sweep.configuration(algorithm, target, vocab_sizes, ladder))
        except Exception as error:  # one failing configuration must not end the sweep
            row.update(status="failed", reason=first_line(error))
        sweep.rows.append(row)
    sweep.bar.close()
    return DownstreamResult(frame=pd.DataFrame(sweep.rows).reindex(columns=list(DOWNSTREAM_COLUMNS)),
                            runs=pd.DataFrame(sweep.runs, columns=list(RUN_COLUMNS)),
                            predictions=sweep.predictions, labels=sweep.labels,
                            tuning=pd.DataFrame(sweep.tuning, columns=list(TUNING_COLUMNS)))


class _Sweep:
    """State of one :func:`downstream_sweep`: the data, the budget, and what the runs produced."""

    def __init__(self, dataset, model, config, seeds, rates, subword_dropout, n_resamples, options) -> None:
        self.dataset, self.model, self.config, self.seeds, self.rates = dataset, model, config, seeds, rates
        self.subword_dropout, self.n_resamples, self.options = subword_dropout, n_resamples, options
        self.train_texts = list(dataset["train"]["text"])
        self.texts = {split: list(dataset[split]["text"]) for split in ("validation", "test")}
        self.labels = {split: np.asarray(dataset[split]["label"]) for split in ("validation", "test")}
        self.label_names = list(dataset["train"].features["label"].names)
        self.predictions: dict[str, dict[str, dict[int, np.ndarray]]] = {"validation": {}, "test": {}}
        self.rows: list[dict] = []
        self.runs: list[dict] = []
        self.tuning: list[dict] = []
        self.ladders: dict[str, dict] = {}
        self.bar = None

    def tokenizer(self, algorithm: str, target: int, vocab_sizes: Sequence[int], ladder: bool):
        if ladder and algorithm in LADDER_ALGORITHMS:
            if algorithm not in self.ladders:
                self.ladders[algorithm] = bpe_ladder(self.train_texts, vocab_sizes, algorithm=algorithm,
                                                     **self.options)
            return self.ladders[algorithm][target]
        return train_tokenizer(self.train_texts, algorithm=algorithm, vocab_size=target, **self.options)

    def run(self, tokenizer, rate: float, seed: int, dropout: float) -> dict[str, Any]:
        """One fine-tuning run, scored on validation and test."""
        from workbench.evaluation import classification_metrics
        from workbench.models import load_model
        from workbench.training import fine_tune
        from workbench.tokenization.dropout import dropout_tokenizer

        network, tok = load_model(self.model, num_labels=len(self.label_names), label_names=self.label_names,
                                  tokenizer=tokenizer, seed=seed)
        train_tok = tok if not dropout else dropout_tokenizer(tok, self.train_texts, dropout=dropout, seed=seed)
        run = fine_tune(network, train_tok, self.dataset,
                        replace(self.config, seed=seed, learning_rate=rate, progress=False))
        if train_tok is not tok:
            train_tok.sampled.clear()  # validation and test are encoded without dropout
        scored = {split: np.asarray(run.predict_labels(self.texts[split])) for split in self.texts}
        val = classification_metrics(self.labels["validation"], scored["validation"], label_names=self.label_names)
        test = classification_metrics(self.labels["test"], scored["test"], label_names=self.label_names)
        self.bar.update(1)
        return {"seed": seed, "learning_rate": rate, "val_accuracy": val["accuracy"],
                "val_macro_f1": val["macro_f1"], "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
                "train_loss": float(run.history.loc[run.history["metric"] == "loss", "value"].mean()),
                "train_seconds": run.train_seconds, "predictions": scored, "network": network}

    def configuration(self, algorithm: str, target: int, vocab_sizes: Sequence[int], ladder: bool) -> dict:
        from workbench.evaluation import mean_ci
        from workbench.models import count_parameters

        name = f"{algorithm}_{target}"
        tokenizer = self.tokenizer(algorithm, target, vocab_sizes, ladder)
        dropout = self.subword_dropout if algorithm in LADDER_ALGORITHMS else 0.0
        grid = [self.run(tokenizer, rate, self.seeds[0], dropout) for rate in self.rates]
        metric = f"val_{self.config.metric_for_best_model}" if self.config.metric_for_best_model != "loss" \
            else "val_accuracy"
        best = max(range(len(grid)), key=lambda k: (round(grid[k][metric], 12), -k))
        self.tuning += [{"configuration": name, "learning_rate": g["learning_rate"], "seed": g["seed"],
                         "val_accuracy": g["val_accuracy"], "val_macro_f1": g["val_macro_f1"], "chosen": k == best}
                        for k, g in enumerate(grid)]
        rate = grid[best]["learning_rate"]
        runs = [grid[best]] + [self.run(tokenizer, rate, seed, dropout) for seed in self.seeds[1:]]
        for split in self.texts:
            self.predictions[split][name] = {r["seed"]: r["predictions"][split] for r in runs}
        self.runs += [{"configuration": name, "algorithm": algorithm, "target_vocab_size": target,
                       **{k: r[k] for k in RUN_COLUMNS[3:]}} for r in runs]
        correct = np.vstack([r["predictions"]["test"] == self.labels["test"] for r in runs]).astype(float)
        per_seed = correct.mean(axis=1)
        low, high = mean_ci(correct.mean(axis=0), n_resamples=self.n_resamples)
        network = runs[0]["network"]
        intrinsic = _intrinsic(tokenizer, self.texts["test"], self.config.max_length)
        return {"vocab_size": len(tokenizer), "learning_rate": rate, "subword_dropout": dropout,
                "n_seeds": len(runs), "accuracy": float(per_seed.mean()), "ci95_low": low, "ci95_high": high,
                "seed_std": float(per_seed.std(ddof=1)) if len(runs) > 1 else 0.0,
                **{k: float(np.mean([r[k] for r in runs])) for k in ("val_accuracy", "val_macro_f1", "macro_f1")},
                "embedding_params": int(network.get_input_embeddings().weight.numel()),
                "total_params": int(count_parameters(network)["total"]), "max_length": self.config.max_length,
                **intrinsic, "train_seconds": float(sum(r["train_seconds"] for r in runs))}


def _intrinsic(tokenizer, texts: list[str], max_length: int) -> dict[str, float]:
    """Intrinsic scores of a configuration's tokenizer on the test texts, for calibration."""
    values = compare_tokenizers({"t": tokenizer}, texts, max_length=max_length - 2,
                                round_trip_texts=1).set_index("metric")["value"]
    return {"kept_char_share": kept_char_share(tokenizer, texts, max_length=max_length),
            "truncation_rate": float(values["truncation_rate"]),
            **{m: float(values[m]) for m in CALIBRATION_METRICS if m in values}}


def run_downstream(data, settings: Mapping[str, Any], *, algorithms: Sequence[str], metric: str = "accuracy",
                   seed: int = 0, subword_dropout: float | None = None, lowercase: bool = False, nfkc: bool = False,
                   strip_accents: bool = False, progress: bool = True) -> DownstreamResult:
    """The notebook's downstream sweep from its profile ``settings`` (:func:`workbench.profile_settings`).

    Subsamples ``downstream_train_examples`` training texts (0: all) with ``seed``, then runs
    :func:`downstream_sweep` over ``algorithms`` x ``downstream_vocab_sizes`` with ``downstream_seeds``
    seeds from ``seed`` on, ``downstream_epochs`` (10% warm-up, batch 32), the learning rate tuned per
    configuration on validation ``metric`` from ``downstream_learning_rates``, ``downstream_max_length``
    tokens and ``downstream_threads`` torch threads, keeping the checkpoint best on validation ``metric``.
    With ``subword_dropout`` > 0 (None: the profile's), the smallest BPE configuration is trained again
    with BPE-dropout, same seeds and learning rate: ``result.regularised``, for a paired comparison.

    >>> run_downstream(data, profile_settings("tokenization", "smoke"), algorithms=["bpe"])  # doctest: +SKIP
    """
    from workbench.data import subsample
    from workbench.training import TrainConfig

    rates = list(settings["downstream_learning_rates"])
    subset = subsample(data, split="train", n=settings["downstream_train_examples"], seed=seed)
    config = TrainConfig(learning_rate=rates[0], num_epochs=settings["downstream_epochs"], batch_size=32,
                         warmup_ratio=0.1, max_length=settings["downstream_max_length"], seed=seed,
                         num_threads=settings["downstream_threads"], metric_for_best_model=metric)
    common = dict(model=settings["downstream_model"], config=config, lowercase=lowercase, nfkc=nfkc,
                  strip_accents=strip_accents, n_resamples=settings["n_resamples"], progress=progress,
                  seeds=list(range(seed, seed + settings["downstream_seeds"])))
    result = downstream_sweep(subset, algorithms=algorithms, vocab_sizes=settings["downstream_vocab_sizes"],
                              learning_rates=rates, **common)
    dropout = settings["subword_dropout"] if subword_dropout is None else subword_dropout
    done = result.frame[(result.frame["status"] == "ok") & result.frame["algorithm"].isin(LADDER_ALGORITHMS)]
    if dropout and len(done):
        row = done.sort_values(["embedding_params", "configuration"]).iloc[0]
        result.regularised = downstream_sweep(subset, algorithms=[row["algorithm"]],
                                              vocab_sizes=[int(row["target_vocab_size"])],
                                              learning_rates=[float(row["learning_rate"])],
                                              subword_dropout=dropout, **common)
    return result
