"""Figures of sweeps: best-so-far curves of a strategy race and Optuna's own matplotlib plots."""


import warnings

import numpy as np
import optuna
import pandas as pd

from workbench._validation import check_choice
from workbench.errors import ParameterError


def plot_best_so_far(frame: pd.DataFrame, *, target: float | None = None):
    """Best-so-far of each strategy against trials (left) and against training epochs consumed (right).

    ``frame`` is a race's trials (:func:`~workbench.sweeps.run_race`) or :func:`compare_strategies`
    output; each line is the mean over sampler seeds (:func:`~workbench.sweeps.best_so_far_curves`), the
    band its spread (± one standard deviation). ``target`` draws a dashed line.
    """
    import matplotlib.pyplot as plt

    from workbench.sweeps.analysis import best_so_far_curves

    curves = best_so_far_curves(frame)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, axis, xlabel in zip(axes, ("trials", "epochs"), ("trials", "training epochs consumed")):
        for name, rows in curves[curves["axis"] == axis].groupby("strategy", sort=False):
            line = ax.step(rows["x"], rows["mean"], where="post", label=name)[0]
            ax.fill_between(rows["x"], rows["mean"] - rows["std"], rows["mean"] + rows["std"], step="post",
                            color=line.get_color(), alpha=0.15, linewidth=0)
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="best value so far (mean over sampler seeds)")
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
