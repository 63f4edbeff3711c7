"""The tiny-transformer objective: each trial fine-tunes a sampled architecture with HF ``Trainer``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench._validation import check_int
from workbench.sweeps.objectives import TrialPruningCallback, _Objective
from workbench.sweeps.spaces import ARCHITECTURE_PARAMS, TRAINING_PARAMS, SearchSpace


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
                 latency_repeats: int = 20, **options) -> None:
        super().__init__(dataset, space, objectives=objectives, epochs=epochs, seed=seed, threads=threads,
                         latency_repeats=latency_repeats, **options)
        self.max_length = check_int("max_length", max_length, "TransformerObjective", low=8, high=8192)
        if tokenizer is None:
            from workbench.tokenization import train_tokenizer

            tokenizer = train_tokenizer(dataset["train"]["text"], algorithm="wordpiece", vocab_size=4000,
                                        lowercase=True, seed=seed)
        self.tokenizer = tokenizer
        self.label_names = list(dataset["train"].features["label"].names)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_length": self.max_length, "vocab_size": len(self.tokenizer)}

    def train(self, trial, params, *, seed):
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
                              seed=seed)
        training = {k: v for k, v in params.items() if k in TRAINING_PARAMS}
        train_config = TrainConfig(num_epochs=float(self.epochs), max_length=self.max_length, seed=seed,
                                   metric_for_best_model=self.metric, logging_steps=50, progress=False,
                                   **training)
        callbacks = [] if trial is None else [TrialPruningCallback(trial, metric=self.metric)]
        result = fine_tune(model, self.tokenizer, self.dataset, train_config, callbacks=callbacks)
        scores = result.history[result.history["metric"].isin(["eval_accuracy", "eval_macro_f1"])]
        scores = scores.pivot_table(index="step", columns="metric", values="value")
        best = scores.loc[scores[f"eval_{self.metric}"].idxmax()]
        measures = {"accuracy": float(best["eval_accuracy"]), "macro_f1": float(best["eval_macro_f1"]),
                    "n_params": float(count_parameters(result.model)["total"]),
                    "flops": flops_per_token(result.model, seq_len=self.max_length)["forward"],
                    "epochs": int(round(len(scores))), "curve": [float(v) for v in scores[f"eval_{self.metric}"]]}
        if "latency_ms" in self.objectives:
            measures["latency_ms"] = self._latency(result.model)
        return measures, result.model

    def predict(self, model, split):
        from workbench.training import predict_logits

        logits = predict_logits(model, self.tokenizer, self.dataset[split]["text"], max_length=self.max_length,
                                progress=False)
        return logits.argmax(axis=1)

    def _latency(self, model) -> float:
        import torch

        from workbench.evaluation import measure_latency

        text = self.dataset["validation"]["text"][0]
        device = next(model.parameters()).device  # inputs go where the model is (a CUDA model too)
        batch = self.tokenizer([text], padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(device)
        model.eval()
        with torch.inference_mode():
            stats = measure_latency(lambda: model(**batch), warmup=3, repeats=self.latency_repeats,
                                    threads=self.threads)
        return float(stats["p50_ms"])
