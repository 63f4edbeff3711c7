"""Accuracy as a local ``evaluate`` module: the share of examples whose predicted label is the gold one.

Load it offline with ``evaluate.load(path_to_this_folder)`` or :func:`workbench.metrics.local_metric`;
scikit-learn's ``accuracy_score`` does the work, so the value equals
:func:`workbench.evaluation.classification_metrics`'s ``accuracy``.
"""

import datasets
import evaluate

_DESCRIPTION = """Accuracy: correct predictions / all predictions, in [0, 1]. Labels may be ints or strings
(one kind per call). Computed by scikit-learn's accuracy_score, as nlp-workbench's own metrics are."""

_INPUTS = """
Args:
    predictions: predicted labels, one per example (ints or strings).
    references: gold labels, one per example, of the same kind.
    sample_weight: optional weight per example (default: every example counts once).
Returns:
    accuracy: float in [0, 1].
Example:
    >>> metric = evaluate.load("workbench/metrics/accuracy")  # doctest: +SKIP
    >>> metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])  # doctest: +SKIP
    {'accuracy': 0.75}
"""

_CITATION = """@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython},
author={Pedregosa, F. and others}, journal={Journal of Machine Learning Research}, volume={12},
pages={2825--2830}, year={2011}}"""


def _label_features(kind: str) -> datasets.Features:
    return datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class Accuracy(evaluate.Metric):
    """nlp-workbench's accuracy, by scikit-learn."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            # Integer ids first: evaluate keeps the first feature set the inputs encode into.
            features=[_label_features("int64"), _label_features("string")],
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, sample_weight=None):
        from sklearn.metrics import accuracy_score

        return {"accuracy": float(accuracy_score(references, predictions, sample_weight=sample_weight))}
