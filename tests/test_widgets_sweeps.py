"""Headless tests of the sweep monitor: it reads the storage, updates, escapes, and polls in the background."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from workbench.errors import ParameterError
from workbench.widgets import Explorer, sweep_monitor

optuna.logging.set_verbosity(optuna.logging.WARNING)
HOSTILE = "<script>alert(1)</script>"


def _add(study, value, activation="gelu", state=optuna.trial.TrialState.COMPLETE):
    study.add_trial(optuna.create_trial(
        state=state, value=value if state == optuna.trial.TrialState.COMPLETE else None,
        params={"lr": 0.001, "activation": activation}, user_attrs={"epochs": 3},
        distributions={"lr": FloatDistribution(1e-4, 1e-2, log=True),
                       "activation": CategoricalDistribution(["gelu", HOSTILE])}))


@pytest.fixture
def storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    study = optuna.create_study(study_name="arch", storage=url, direction="maximize")
    study.set_user_attr("n_trials", 5)
    for value in (0.61, 0.74, 0.70):
        _add(study, value)
    return url, study


def test_monitor_shows_progress_best_and_trials_and_updates_on_refresh(storage):
    url, study = storage
    monitor = sweep_monitor(url, "arch", auto=False)
    assert isinstance(monitor, Explorer) and not monitor.polling
    assert "<b>3 / 5</b> finished trials (3 complete)" in monitor.html
    assert "best so far: <b>0.7400</b> (trial 1:" in monitor.html and "wb-plot" in monitor.html
    _add(study, 0.81)
    _add(study, None, state=optuna.trial.TrialState.PRUNED)
    assert "5 / 5" not in monitor.html  # nothing changes until the storage is read again
    html = monitor.refresh()
    assert "<b>5 / 5</b> finished trials (4 complete, 1 pruned)" in html and "<b>0.8100</b> (trial 3:" in html


def test_running_trials_are_listed_first_with_their_parameters_escaped(storage):
    url, study = storage
    running = study.ask({"lr": FloatDistribution(1e-4, 1e-2, log=True),
                         "activation": CategoricalDistribution(["gelu", HOSTILE])})
    monitor = sweep_monitor(url, auto=False)
    table = monitor.html.split("<table", 1)[1]
    assert table.index(f"<td>{running.number}</td><td>running</td>") < table.index("<td>2</td><td>complete</td>")
    _add(study, 0.5, activation=HOSTILE)
    html = monitor.set(rows=2)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and HOSTILE not in html
    assert html.count("<tr><td>") == 2  # the running trial plus the newest finished one


def test_monitor_polls_in_the_background_without_blocking(storage):
    url, study = storage
    monitor = sweep_monitor(url, "arch", interval=0.05, auto=True)
    try:
        assert monitor.polling  # the constructor returned while the poller runs
        _add(study, 0.9)
        deadline = time.monotonic() + 20
        while "<b>4 / 5</b>" not in monitor.html and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "<b>4 / 5</b>" in monitor.html and "<b>0.9000</b>" in monitor.html
    finally:
        monitor.stop()
    assert not monitor.polling
    monitor.set(auto=False)
    monitor.controls["auto"].value = True  # ticking the box in the browser starts polling again
    try:
        assert monitor.polling
    finally:
        monitor.stop()


def test_monitor_accepts_a_study_object_and_switches_studies(storage):
    url, study = storage
    other = optuna.create_study(study_name="other", storage=url, direction="minimize")
    _add(other, 0.2)
    monitor = sweep_monitor(study, auto=False)
    assert "<b>arch</b>" in monitor.html
    html = monitor.set(study="other")
    assert "<b>other</b>: <b>1</b> finished trials" in html and "best so far: <b>0.2000</b>" in html


def test_monitor_of_an_in_memory_study(tmp_path):
    study = optuna.create_study()
    _add(study, 1.5)
    assert "best so far: <b>1.5000</b>" in sweep_monitor(study, auto=False).html


def test_bad_arguments_are_one_line_errors(storage, tmp_path):
    url, _ = storage
    with pytest.raises(ParameterError, match=r"'study_name' parameter of sweep_monitor must be a study in the "
                                             r"storage \(arch\). Got 'nope' instead"):
        sweep_monitor(url, "nope", auto=False)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(ParameterError, match="holds no study yet"):
        sweep_monitor(empty, auto=False)
    with pytest.raises(ParameterError, match="'interval' parameter of sweep_monitor must be a finite number"):
        sweep_monitor(url, interval=0, auto=False)
