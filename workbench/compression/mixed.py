"""Accuracy-aware mixed precision: rank ONNX MatMul nodes by quantisation error, keep the worst in fp32.

ONNX Runtime quantises every MatMul with a constant weight; its ``nodes_to_exclude`` leaves named
nodes in float32. :func:`rank_matmul_nodes` orders the nodes by the relative error that
quantising their weight on the deployed grid causes (the per-channel symmetric int8 grid of
:func:`~workbench.compression.qat.ort_weight_grid`, computed with numpy on the initializers), and
:func:`quantize_mixed_precision` excludes the top of that ranking, 0, 1, 2, 4, ... nodes, until the
lower 95% bound of Δaccuracy against fp32 (paired by example, :func:`workbench.verdicts.compare_predictions`)
on the search texts is at least ``-tolerance`` and the accuracy is at least the all-int8 one.
The search texts come from the train split: validation still chooses between variants, test reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench._validation import check_float, check_int
from workbench.compression.onnx import preprocess_onnx, quantize_onnx_dynamic

__all__ = ["quantize_mixed_precision", "rank_matmul_nodes"]


def rank_matmul_nodes(path: str | os.PathLike, *, reduce_range: bool = True) -> list[dict[str, Any]]:
    """MatMul nodes with a constant weight, most sensitive first: ``node``, ``weight``, ``error``.

    ``error`` is ``||W - dequant(quant(W))|| / ||W||`` on ONNX Runtime's per-channel symmetric int8 grid
    (one scale per output column of the ``[in, out]`` MatMul weight; ``reduce_range``: [-64, 64]).

    >>> rank_matmul_nodes("model.onnx")[0]["node"]   # doctest: +SKIP
    '/bert/encoder/layer.5/output/dense/MatMul'
    """
    import onnx
    from onnx import numpy_helper

    from workbench.compression.qat import ORT_WEIGHT_GRIDS

    graph = onnx.load(str(path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    qmax = ORT_WEIGHT_GRIDS[bool(reduce_range)]
    rows = []
    for node in graph.node:
        weight = next((weights[name] for name in node.input[1:2] if name in weights), None)
        if node.op_type != "MatMul" or weight is None or weight.ndim != 2:
            continue
        w = weight.astype(np.float64)
        scale = np.maximum(np.abs(w).max(axis=0, keepdims=True), 1e-12) / qmax
        error = np.linalg.norm(w - np.clip(np.rint(w / scale), -qmax, qmax) * scale) / max(np.linalg.norm(w), 1e-12)
        rows.append({"node": node.name, "weight": node.input[1], "error": float(error)})
    return sorted(rows, key=lambda row: (-row["error"], row["node"]))


def quantize_mixed_precision(source: str | os.PathLike, target: str | os.PathLike, *, predict, labels: Sequence[int],
                             reference: Sequence[int], tolerance: float = 0.01, max_excluded: int = 8,
                             excluded: int | None = None, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Dynamic int8 (per channel, reduce_range) with the most sensitive MatMuls left in fp32.

    Parameters
    ----------
    source, target
        The fp32 ONNX graph and where the mixed graph goes.
    predict : callable
        ``predict(path) -> predicted labels`` on the search texts (the caller opens the session).
    labels, reference
        The search texts' labels and fp32's predictions on them.
    tolerance : float
        The lower 95% bound of Δaccuracy vs fp32 that is good enough.
    max_excluded : int
        At most this many nodes stay in fp32 (tried: 0, 1, 2, 4, ... up to it).
    excluded : int, optional
        Exclude exactly this many (the top of the ranking), no search.

    Returns
    -------
    dict
        ``path``, ``excluded_nodes`` (a prefix of the ranking), ``ranking``, ``tried`` (per count:
        ``excluded``, ``accuracy``, ``delta``, ``ci_low``), ``accuracy_all_int8``, ``accuracy``.
    """
    from workbench.verdicts import compare_predictions

    func = "quantize_mixed_precision"
    check_float("tolerance", tolerance, func, low=0.0, high=1.0, high_open=True)
    check_int("max_excluded", max_excluded, func, low=0)
    labels, reference = np.asarray(labels), np.asarray(reference)
    target = Path(target)
    source = preprocess_onnx(source, target.with_suffix(".pre.onnx"))  # rank the graph that gets quantised
    ranking = rank_matmul_nodes(source)
    counts = sorted({0, excluded}) if excluded is not None else sorted(
        {0, *[k for k in (2 ** i for i in range(12)) if k <= min(max_excluded, len(ranking))]})
    tried, best = [], None
    for k in counts:
        path = target.with_name(f"{target.stem}.k{k}{target.suffix}")
        quantize_onnx_dynamic(source, path, per_channel=True, reduce_range=True, preprocess=False,
                              nodes_to_exclude=[row["node"] for row in ranking[:k]])
        predicted = np.asarray(predict(path))
        c = compare_predictions(labels, predicted, reference, n_resamples=n_resamples, seed=seed)
        row = {"excluded": k, "accuracy": float(np.mean(predicted == labels)), "delta": c["delta"],
               "ci_low": c["ci95"][0], "path": path}
        tried.append(row)
        good = row["ci_low"] >= -tolerance and row["accuracy"] >= tried[0]["accuracy"]
        if best is None or row["accuracy"] > best["accuracy"]:
            best = row
        if good and excluded is None:
            best = row
            break
    if excluded is not None:
        best = tried[-1]
    os.replace(best["path"], target)
    for row in tried:
        Path(row.pop("path")).unlink(missing_ok=True)
    return {"path": target, "excluded_nodes": [row["node"] for row in ranking[:best["excluded"]]],
            "ranking": ranking, "tried": tried, "accuracy_all_int8": tried[0]["accuracy"],
            "accuracy": best["accuracy"]}
