"""Figures of sweeps: best-so-far curves of a strategy race and Optuna's own matplotlib plots."""


import warnings

import numpy as np
import optuna
import pandas as pd

from workbench._validation import check_choice
from workbench.errors import ParameterError


def plot_best_so_far(frame: pd.DataFrame, *, target: float | None = None):
    """Best-so-far of each strategy against trials (left) and against training epochs consumed (right).

    ``frame`` is :func:`compare_strategies` output; ``target`` draws a dashed line (e.g. the grid's best
    minus half a point).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for name, rows in frame[frame["state"] != "error"].groupby("strategy", sort=False):
        rows = rows.sort_values("number")
        axes[0].step(np.arange(1, len(rows) + 1), rows["best_so_far"], where="post", label=name)
        axes[1].step(rows["cumulative_epochs"], rows["best_so_far"], where="post", label=name)
    for ax, xlabel in zip(axes, ("trials", "training epochs consumed")):
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="best value so far")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


PLOTS = ("history", "parallel_coordinate", "importances", "intermediate_values", "pareto_front")


def plot_study(study: optuna.Study, kind: str, *, seed: int = 0):
    """One of Optuna's matplotlib plots of ``study`` as a Figure: ``history``, ``parallel_coordinate``,
    ``importances``, ``intermediate_values`` or ``pareto_front``.

    Multi-objective studies are shown by their first objective (``pareto_front`` shows the first two).
    """
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    check_choice("kind", kind, "plot_study", PLOTS)
    names = study.user_attrs.get("objectives") or [f"objective {i}" for i in range(len(study.directions))]
    multi = len(study.directions) > 1
    target = {"target": (lambda t: t.values[0]), "target_name": names[0]} if multi else {"target_name": names[0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
        if kind == "history":
            ax = ovm.plot_optimization_history(study, **target)
        elif kind == "parallel_coordinate":
            ax = ovm.plot_parallel_coordinate(study, **target)
        elif kind == "importances":
            from optuna.importance import FanovaImportanceEvaluator

            ax = ovm.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed), **target)
        elif kind == "intermediate_values":
            ax = ovm.plot_intermediate_values(study)
        else:
            if not multi:
                raise ParameterError(f"plot_study kind 'pareto_front' needs a multi-objective study. Got "
                                     f"{study.study_name!r} with one objective.")
            ax = ovm.plot_pareto_front(study, target_names=names[:2],
                                       targets=(lambda t: (t.values[0], t.values[1])) if len(names) > 2 else None)
    fig = ax.figure if hasattr(ax, "figure") else np.ravel(ax)[0].figure
    fig.set_size_inches(8, 4)
    fig.tight_layout()
    plt.close(fig)
    return fig
