"""Macro F1 as a local ``evaluate`` module: the unweighted mean of the per-class F1 scores.

Load it offline with ``evaluate.load(path_to_this_folder)`` or :func:`workbench.metrics.local_metric`.
scikit-learn's ``f1_score(average="macro")`` does the work over the classes present in the gold or the
predicted labels, and a class that is never predicted scores 0 without a warning, so the value equals
:func:`workbench.evaluation.classification_metrics`'s ``macro_f1``.
"""

import datasets
import evaluate

_DESCRIPTION = """Macro F1: F1 = 2 * precision * recall / (precision + recall) for each class, then the plain
mean over classes, so a rare class weighs as much as a common one. Labels may be ints or strings (one
kind per call). Computed by scikit-learn's f1_score(average="macro"), as nlp-workbench's own metrics are."""

_INPUTS = """
Args:
    predictions: predicted labels, one per example (ints or strings).
    references: gold labels, one per example, of the same kind.
    labels: optional list of the classes to average over (default: those in references or predictions).
    zero_division: score of a class with no predictions or no gold examples (default 0, no warning).
Returns:
    macro_f1: float in [0, 1].
Example:
    >>> metric = evaluate.load("workbench/metrics/macro_f1")  # doctest: +SKIP
    >>> metric.compute(predictions=[0, 1, 1, 1], references=[0, 0, 1, 1])  # doctest: +SKIP
    {'macro_f1': 0.7333333333333334}
"""

_CITATION = """@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython},
author={Pedregosa, F. and others}, journal={Journal of Machine Learning Research}, volume={12},
pages={2825--2830}, year={2011}}"""


def _label_features(kind: str) -> datasets.Features:
    return datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class MacroF1(evaluate.Metric):
    """nlp-workbench's macro F1, by scikit-learn."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            # Integer ids first: evaluate keeps the first feature set the inputs encode into.
            features=[_label_features("int64"), _label_features("string")],
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, zero_division=0):
        from sklearn.metrics import f1_score

        score = f1_score(references, predictions, labels=labels, average="macro", zero_division=zero_division)
        return {"macro_f1": float(score)}
