"""One worker on a study: :func:`run_sweep` fills a study to exactly ``n_trials`` finished trials,
however many workers share its storage."""


import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from workbench._progress import progress_bar
from workbench._validation import check_choice, check_int, check_type
from workbench.errors import (
    ParameterError,
)
from workbench.sweeps.factories import make_pruner, make_sampler
from workbench.sweeps.spaces import SearchSpace
from workbench.sweeps.storage import BudgetSpent, open_storage


@dataclass
class SweepResult:
    """What one worker did: the study (shared), this worker's own trial counts, and why it stopped."""

    study: optuna.Study
    ran: dict[str, int] = field(default_factory=dict)
    stopped: str = ""

    @property
    def finished(self) -> int:
        """Finished (complete or pruned) trials in the whole study, from every worker."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def line(self) -> str:
        """One line for a terminal: this worker's share and the study's state."""
        ran = ", ".join(f"{n} {state}" for state, n in self.ran.items() if n) or "no trials"
        text = (f"study {self.study.study_name}: this worker ran {ran}; the study holds {self.finished} finished "
                f"trials ({self.stopped})")
        best = _best_trial(self.study)
        if best is not None:
            text += f"; best {best.values[0]:.4f} with {best.params}"
        return text


def run_sweep(objective: Callable[[optuna.Trial], Any], *, n_trials: int, study_name: str = "sweep",
              storage: str | None = None, sampler: str | optuna.samplers.BaseSampler = "tpe",
              pruner: str | optuna.pruners.BasePruner = "none", directions: Sequence[str] | None = None,
              space: SearchSpace | None = None, seed: int | None = 0, heartbeat_interval: int | None = 30,
              max_failures: int = 5, wait: bool = True, progress: bool = True, verbose: bool = False,
              new_study: bool = False, extend: bool = False, fingerprint: Mapping[str, str] | None = None,
              enqueue: Sequence[Mapping[str, Any]] = (), constraints: Mapping[str, float] | None = None) -> SweepResult:
    """Run one worker on a study until it holds exactly ``n_trials`` finished trials, from all workers.

    The study is created or resumed by name. A trial counts once it exists and is not FAIL (complete,
    pruned, running or queued): with an RDB ``storage`` the count is checked inside the transaction
    that creates each trial (:func:`open_storage`), so any number of workers sharing the storage fill
    the study to exactly ``n_trials`` and no further. (Optuna's ``MaxTrialsCallback`` counts only after
    a trial ends, so workers finishing together each start one more: 31 trials for 30 with two
    workers on PostgreSQL.) A failed trial (the objective raised) is
    replaced; ``max_failures`` failures in a row stop this worker. When the budget is taken but other
    workers' trials still run, a worker with heartbeats waits for them: a trial whose worker died
    (no heartbeat for the grace period) becomes FAIL and is re-queued with its parameters, so the
    study still ends with ``n_trials`` finished trials.

    Parameters
    ----------
    objective : callable
        ``objective(trial) -> value`` (or a tuple for several objectives), e.g. a
        :class:`TransformerObjective`; its ``directions`` are used when it has them.
    n_trials : int
        Finished trials the study should hold in total.
    study_name : str
    storage : str, optional
        SQLAlchemy URL (see :func:`open_storage`); None keeps the study in memory (one process).
    sampler, pruner : str or Optuna object
        Names for :func:`make_sampler` / :func:`make_pruner`, or ready objects.
    directions : sequence of {"maximize", "minimize"}, optional
        Default: ``objective.directions``, else maximize.
    space : SearchSpace, optional
        Needed by the grid sampler (default: ``objective.space``).
    seed : int, optional
        Seeds the sampler (None: a fresh seed per worker, which parallel workers want).
    heartbeat_interval : int, optional
        Seconds between heartbeats on RDB storages (default 30; None turns them off): a trial whose worker
        died is failed after two silent intervals and re-queued with its parameters.
    max_failures : int
        Consecutive failed trials after which this worker gives up.
    wait : bool
        Wait for other workers' running trials when the budget is taken (needs heartbeats).
    progress : bool
        Show a progress bar of this study's finished trials.
    verbose : bool
        Keep Optuna's one log line per trial (the command line does; notebooks stay quiet).
    extend : bool
        Allow raising the budget of an existing study (a different ``n_trials`` is refused otherwise).
    new_study : bool
        Delete a study of that name first and start over (the only way to change its budget or fingerprint).
    fingerprint : mapping, optional
        Default: ``objective.fingerprint()`` (data hash, space, objective settings, package version).
        Stored with a new study; a worker with another one is refused (:func:`check_same_study`).
    enqueue : sequence of mappings
        Configurations to try first (Optuna's ``enqueue_trial``): a warm start from an earlier study's best
        trials or a YAML list (:func:`warm_start_configs`).
    constraints : mapping, optional
        Caps on recorded measures, e.g. ``{"latency_ms": 5.0}``, as Optuna constraints
        (``Trial.set_constraint``): the tpe and nsga2 samplers treat a trial over a cap as infeasible.

    Examples
    --------
    >>> result = run_sweep(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=5, sampler="random",
    ...                    directions=["minimize"], progress=False)
    >>> len(result.study.trials)
    5
    """
    func = "run_sweep"
    if not callable(objective):
        raise ParameterError(f"The 'objective' parameter of {func} must be callable as objective(trial). "
                             f"Got {objective!r} instead.")
    check_int("n_trials", n_trials, func, low=1)
    check_type("study_name", study_name, func, str)
    check_int("max_failures", max_failures, func, low=1)
    directions = list(directions or getattr(objective, "directions", None) or ["maximize"])
    for direction in directions:
        check_choice("directions", direction, func, ("maximize", "minimize"))
    space = space if space is not None else getattr(objective, "space", None)
    epochs = getattr(objective, "epochs", 10)
    if isinstance(sampler, str):
        sampler = make_sampler(sampler, space=space, seed=seed)
    capped = _capped(objective, constraints, func)
    if isinstance(pruner, str):
        if pruner != "none" and len(directions) > 1:
            raise ParameterError(f"The 'pruner' parameter of {func} must be 'none' for a multi-objective study "
                                 f"(Optuna cannot prune those). Got {pruner!r} instead.")
        pruner = make_pruner(pruner, epochs=epochs)
    if isinstance(sampler, optuna.samplers.GridSampler):
        size = math.prod(len(values) for values in sampler._search_space.values())
        if n_trials > size:
            raise ParameterError(f"The 'n_trials' parameter of {func} must be at most the grid size {size} for "
                                 f"the grid sampler. Got {n_trials} instead.")
    rdb = open_storage(storage, heartbeat_interval=heartbeat_interval, max_trials=n_trials) if storage else None
    if fingerprint is None and hasattr(objective, "fingerprint"):
        fingerprint = objective.fingerprint()
    with _optuna_logging(verbose):
        if new_study and rdb is not None and study_name in {s.study_name for s in rdb.get_all_studies()}:
            optuna.delete_study(study_name=study_name, storage=rdb)
        study = optuna.create_study(storage=rdb, sampler=sampler, pruner=pruner, study_name=study_name,
                                    directions=directions, load_if_exists=True)
    check_same_study(study, directions=directions, n_trials=n_trials, fingerprint=fingerprint, extend=extend)
    if hasattr(objective, "objectives"):
        study.set_user_attr("objectives", list(objective.objectives))
    for params in enqueue:  # warm start: configurations to try first (an earlier study's best, a YAML list)
        study.enqueue_trial(dict(params), skip_if_exists=True)
    with _optuna_logging(verbose):
        result = _work(study, capped, n_trials, max_failures=max_failures,
                     wait=wait and heartbeat_interval is not None, heartbeat=float(heartbeat_interval or 1),
                     progress=progress)
    if hasattr(objective, "save_best"):
        objective.save_best(study)
    return result


def _capped(objective, constraints: Mapping[str, float] | None, func: str):
    """``objective`` with Optuna constraints (``Trial.set_constraint``): measure - cap, feasible when <= 0.

    The constrained samplers (TPE, NSGA-II) read them and never rank an infeasible trial above a
    feasible one; a measure the objective did not record counts as infinitely over its cap.
    """
    if not constraints:
        return objective
    from workbench.sweeps.factories import COST_METRICS

    for name, cap in constraints.items():
        check_choice("constraints", name, func, COST_METRICS, fix="Cap latency_ms, n_params or flops.")
        check_type(f"constraints[{name!r}]", cap, func, (int, float))
    caps = dict(constraints)

    def constrained(trial: optuna.Trial):
        value = objective(trial)
        for name, cap in caps.items():
            trial.set_constraint(name, float(trial.user_attrs.get(name, float("inf"))) - cap)
        return value

    return constrained


def check_same_study(study: optuna.Study, *, directions: Sequence[str], n_trials: int,
                     fingerprint: Mapping[str, str] | None, extend: bool = False) -> None:
    """Store directions, budget and fingerprint in a new study; refuse a worker whose differ from the study's.

    A study filled under other data, another space or other objective settings holds trials that cannot be
    compared with this worker's, and a silently changed ``n_trials`` would report old trials as new ones.

    >>> study = optuna.create_study(study_name="s", direction="maximize")
    >>> check_same_study(study, directions=["maximize"], n_trials=5, fingerprint={"data": "ab12"})
    >>> check_same_study(study, directions=["maximize"], n_trials=5, fingerprint={"data": "cd34"})
    Traceback (most recent call last):
    ...
    workbench.errors.ParameterError: The study 's' was filled with another data (ab12, this worker: cd34). Start it over with new_study=True (workbench sweep --new-study) or use another study name.
    """
    name = study.study_name
    found = [d.name.lower() for d in study.directions]
    if found != list(directions):
        raise ParameterError(f"The study {name!r} already exists with directions {found}, not {list(directions)}. "
                             "Use another name, or new_study=True to start it over.")
    attrs = study.user_attrs
    if "n_trials" in attrs and attrs["n_trials"] != n_trials and not (extend and n_trials > attrs["n_trials"]):
        raise ParameterError(f"The study {name!r} has a budget of n_trials={attrs['n_trials']}; this worker asks for "
                             f"{n_trials}. Use the same --n-trials, extend=True (--extend) to raise the budget, or start it over "
                             "with new_study=True (--new-study).")
    stored = attrs.get("fingerprint")
    if stored is not None and fingerprint is not None and dict(stored) != dict(fingerprint):
        shown = ", ".join(_differences(dict(stored), dict(fingerprint)))
        raise ParameterError(f"The study {name!r} was filled with another {shown}. Start it over with "
                             "new_study=True (workbench sweep --new-study) or use another study name.")
    if attrs.get("n_trials") != n_trials:
        study.set_user_attr("n_trials", n_trials)
    if fingerprint is not None and stored is None:
        study.set_user_attr("fingerprint", dict(fingerprint))


def _differences(stored: dict, given: dict, prefix: str = "") -> list[str]:
    """``name (study's, this worker's)`` for every differing entry; JSON settings compared key by key."""
    out = []
    for key in sorted(set(stored) | set(given)):
        old, new = stored.get(key), given.get(key)
        if old == new:
            continue
        try:
            old_dict, new_dict = json.loads(old), json.loads(new)
        except (TypeError, ValueError):
            old_dict = new_dict = None
        if isinstance(old_dict, dict) and isinstance(new_dict, dict):
            out += _differences(old_dict, new_dict, prefix=f"{key} setting ")
        else:
            out.append(f"{prefix}{key} ({old}, this worker: {new})")
    return out


@contextlib.contextmanager
def _optuna_logging(verbose: bool):
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _work(study, objective, n_trials, *, max_failures, wait, heartbeat, progress) -> SweepResult:
    result = SweepResult(study=study, ran={"complete": 0, "pruned": 0, "failed": 0})
    streak = [0]

    def after(study, trial):
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(trial.state, "failed")
        result.ran[state] += 1
        streak[0] = streak[0] + 1 if state == "failed" else 0
        if streak[0] >= max_failures:
            result.stopped = f"stopped after {max_failures} failed trials in a row"
            study.stop()
        bar.update(max(0, result.finished - bar.n))

    # How long to wait for other workers' trials once the budget is taken: long enough for a dead
    # worker's trial to go stale (grace period) and be failed and re-queued; live workers finish theirs.
    patience = 4 * heartbeat  # the grace period (2 heartbeats) plus two more
    poll = min(heartbeat, 2.0)  # notice soon when the other workers' last trials end
    bar = progress_bar(total=n_trials, desc=study.study_name, unit="trial", disable=not progress)
    deadline = None
    try:
        while not result.stopped:
            live = len(study.get_trials(deepcopy=False, states=_LIVE_STATES))
            waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            remaining = n_trials - live + waiting  # queued trials (re-queued after a crash) still need running
            if _exhausted(study):
                result.stopped = "grid exhausted"
                break
            if remaining > 0:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                        study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[after],
                                       gc_after_trial=False)
                    deadline = None
                    continue
                except BudgetSpent:  # another worker took the last places meanwhile
                    pass
            if not (wait and _running(study)):
                result.stopped = "budget reached" if remaining <= 0 else "budget taken by other workers"
                break
            deadline = deadline or time.monotonic() + patience
            if time.monotonic() > deadline:
                result.stopped = "budget reached; other workers are finishing their trials"
                break
            time.sleep(poll)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                with contextlib.suppress(BudgetSpent):
                    optuna.storages.fail_stale_trials(study)
    finally:
        bar.close()
    return result


_LIVE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def _running(study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)))


def _exhausted(study) -> bool:
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _best_trial(study):
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda t: (sign * t.values[0], -t.number))


def warm_start_configs(source: str | os.PathLike | optuna.Study, *, top: int = 5) -> list[dict[str, Any]]:
    """Configurations to enqueue first: the ``top`` complete trials of an earlier study, or a YAML list.

    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(lambda t: t.suggest_int("x", 0, 9), n_trials=4)
    >>> [c["x"] for c in warm_start_configs(study, top=1)] == [study.best_params["x"]]
    True
    """
    check_int("top", top, "warm_start_configs", low=1)
    if isinstance(source, optuna.Study):
        sign = 1 if source.direction == optuna.study.StudyDirection.MAXIMIZE else -1
        complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return [dict(t.params) for t in sorted(complete, key=lambda t: -sign * t.value)[:top]]
    import yaml

    path = Path(source)
    configs = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise ParameterError(f"The 'source' parameter of warm_start_configs must be a study or a YAML file holding a "
                             f"list of mappings. Got {str(path)!r} instead. Write '- {{learning_rate: 0.001}}'.")
    return configs
