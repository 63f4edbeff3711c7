"""Choosing a candidate on validation scores only, so that no notebook picks on test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench._validation import check_choice, check_type
from workbench.errors import DataError, ParameterError
from workbench.evaluation import METRICS

__all__ = ["choose_on_validation"]


def _validation_table(scores: pd.DataFrame, metric: str, candidate: str, cost: str | None,
                      func: str) -> pd.DataFrame:
    """Rows of the validation split with columns candidate, score (and cost), one per candidate (means)."""
    columns = list(scores.columns)
    if candidate not in columns:
        raise ParameterError(f"The 'candidate' parameter of {func} must name a column of scores ({columns}). "
                             f"Got {candidate!r} instead.")
    if cost is not None and cost not in columns:
        raise ParameterError(f"The 'cost' parameter of {func} must name a column of scores ({columns}). "
                             f"Got {cost!r} instead. Pass None to break ties by name only.")
    rows = scores
    if "split" in columns:
        rows = rows[rows["split"] == "validation"]
        if rows.empty:
            raise DataError(f"The scores given to {func} have a 'split' column without 'validation' rows "
                            f"(splits: {sorted(map(str, scores['split'].unique()))}). Score the candidates "
                            "on the validation split; test scores never choose.")
    if metric in columns:
        values = rows[metric]
    elif {"metric", "value"} <= set(columns):
        rows = rows[rows["metric"] == metric]
        values = rows["value"]
    else:
        raise ParameterError(f"The 'metric' parameter of {func} must be a column of scores, or a value of its "
                             f"'metric' column next to 'value'. Got {metric!r} with columns {columns} instead.")
    table = pd.DataFrame({"candidate": rows[candidate].to_numpy(), "score": pd.to_numeric(values).to_numpy(),
                          "cost": rows[cost].to_numpy(dtype=float) if cost else 0.0})
    return table.groupby("candidate", sort=False, as_index=False).mean()


def choose_on_validation(scores: Mapping[Any, float] | pd.DataFrame, *, metric: str = "accuracy",
                         candidate: str = "candidate", cost: str | Mapping[Any, float] | None = None) -> Any:
    """The candidate with the best validation score; ties go to the lower cost, then the first name.

    ``scores`` is ``{name: validation score}`` (``cost`` then a ``{name: cost}`` mapping), or a tidy
    frame with a ``candidate`` column and either a ``metric`` column (wide) or ``metric``/``value``
    columns (long). A frame with a ``split`` column is read on its ``validation`` rows only, so test
    rows in the same frame never change the choice; several rows of a candidate (seeds) are averaged.
    Higher is better for every metric of :data:`workbench.evaluation.METRICS`. Scores equal to 12
    decimals tie; names order as strings.

    Examples
    --------
    >>> choose_on_validation({"bpe_4000": 0.81, "bpe_8000": 0.81, "wordpiece": 0.80},
    ...                      cost={"bpe_4000": 4000, "bpe_8000": 8000, "wordpiece": 30522})
    'bpe_4000'
    >>> frame = pd.DataFrame({"candidate": ["a", "b", "a", "b"], "split": ["validation"] * 2 + ["test"] * 2,
    ...                       "accuracy": [0.70, 0.75, 0.99, 0.10]})
    >>> choose_on_validation(frame)
    'b'
    """
    func = "choose_on_validation"
    check_choice("metric", metric, func, METRICS)
    if isinstance(scores, pd.DataFrame):
        if cost is not None:
            check_type("cost", cost, func, str, fix="With a frame, name its cost column.")
        table = _validation_table(scores, metric, candidate, cost, func)
    elif isinstance(scores, Mapping):
        costs = {} if cost is None else check_type("cost", cost, func, Mapping,
                                                   fix="With a mapping of scores, pass {name: cost}.")
        missing = [name for name in scores if cost is not None and name not in costs]
        if missing:
            raise ParameterError(f"The 'cost' parameter of {func} must give a cost for every candidate. "
                                 f"Got none for {missing} instead.")
        table = pd.DataFrame({"candidate": list(scores), "score": pd.to_numeric(pd.Series(list(scores.values()))),
                              "cost": [float(costs.get(name, 0.0)) for name in scores]})
    else:
        raise ParameterError(f"The 'scores' parameter of {func} must be a mapping of names to validation scores "
                             f"or a DataFrame. Got {type(scores).__name__} instead.")
    if table.empty:
        raise DataError(f"The scores given to {func} hold no candidate with a {metric!r} score on validation. "
                        "Score at least one candidate on the validation split.")
    unscored = table.loc[~np.isfinite(table["score"].to_numpy(dtype=float)), "candidate"].tolist()
    if unscored:
        raise DataError(f"Every candidate given to {func} needs a finite validation {metric}. "
                        f"Got none for {unscored} instead.")
    table = table.assign(rounded=table["score"].round(12), name=table["candidate"].astype(str))
    best = table.sort_values(["rounded", "cost", "name"], ascending=[False, True, True], kind="stable").iloc[0]
    choice = best["candidate"]
    return choice.item() if isinstance(choice, np.generic) else choice
