"""Many workers, for real: separate processes share one study on SQLite and on a PostgreSQL server.

The objective is cheap on purpose (it sleeps and leaves marker files): these tests are about the
storage. A worker writes ``start-N`` when trial N begins and ``done-N`` (holding the trial's ``x``)
just before returning, so after any crash the markers say which trials really completed. Given a
barrier, each worker's first trial waits there until every worker holds a running trial, so all of
them take part however fast one of them is.

The PostgreSQL server is the Debian package ``postgresql`` (``scripts/setup_postgres.sh`` installs
it); the ``postgres_url`` fixture creates a throw-away cluster in a temporary folder, starts it on a
free localhost port (as the ``postgres`` user when run as root: the server refuses root) and stops
it afterwards. If it cannot, the tests fail with the reason; they are never skipped.
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, like workers on other machines


# ----------------------------------------------------------------------------------- the worker

def _marker_objective(folder: Path, sleep: float, barrier=None):
    waited = []

    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        (folder / f"start-{trial.number}").write_text(str(os.getpid()))
        if barrier is not None and not waited:
            waited.append(trial.number)
            barrier.wait(60)  # a timeout breaks the barrier: the trial fails and the test says so
        time.sleep(sleep)
        (folder / f"done-{trial.number}").write_text(repr(x))
        return x * x

    return objective


def _worker(url: str, study: str, n_trials: int, folder: str, sleep: float, barrier=None,
            heartbeat: int | None = 1):
    """One worker process: fill the study through run_sweep (first trial held at ``barrier`` if given)."""
    from workbench.sweeps import run_sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = run_sweep(_marker_objective(Path(folder), sleep, barrier), n_trials=n_trials, study_name=study,
                       storage=url, sampler="random", seed=None, directions=["minimize"],
                       heartbeat_interval=heartbeat, progress=False)
    (Path(folder) / f"worker-{os.getpid()}.json").write_text(json.dumps(result.ran))


def _markers(folder: Path, kind: str) -> dict[int, str]:
    return {int(path.name.split("-")[1]): path.read_text() for path in folder.glob(f"{kind}-*")}


# ----------------------------------------------------------------------------------- PostgreSQL

def _pg_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own on localhost for this module, removed afterwards."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/setup_postgres.sh, which "
                    "installs the Debian package postgresql.")
    folder = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the package's postgres user
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("Running as root, but there is no 'postgres' user to run the server as: run "
                        "scripts/setup_postgres.sh (the Debian package creates it).")
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *command], cwd=folder, capture_output=True, text=True, timeout=120)

    port = _free_port()
    data = folder / "data"
    made = run(initdb, "-D", str(data), "--auth=trust", "--username=workbench", "--encoding=UTF8", "--no-locale",
               "--no-sync")
    if made.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {made.stderr.strip()[-500:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40"
    started = run(pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "-o", options, "start")
    if started.returncode:
        log = (folder / "server.log").read_text()[-800:] if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stderr.strip()[-300:]} {log}")
    try:
        yield f"postgresql+psycopg2://workbench@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sweeps.db'}"
    return request.getfixturevalue("postgres_url")


# ----------------------------------------------------------------------------------------- tests

@pytest.mark.slow
def test_two_workers_fill_one_study_to_exactly_n_trials(storage_url, tmp_path):
    study_name, n_trials = f"exact-{tmp_path.name}", 20
    markers = tmp_path / "markers"
    markers.mkdir()
    # Each worker's first trial waits until both hold a running trial: then both really share the study,
    # whichever starts first. No sleep after that: the workers race to create trials all the time, so the
    # budget check is really contended.
    both_running = SPAWN.Barrier(2)
    workers = [SPAWN.Process(target=_worker, args=(storage_url, study_name, n_trials, str(markers), 0.0,
                                                   both_running))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    trials = study.get_trials()
    assert [t.number for t in sorted(trials, key=lambda t: t.number)] == list(range(n_trials))  # none duplicated
    assert Counter(t.state for t in trials) == {TrialState.COMPLETE: n_trials}
    done = _markers(markers, "done")  # none lost: every completed objective call is a complete trial
    assert {t.number: repr(t.params["x"]) for t in trials} == done
    shares = [json.loads(path.read_text()) for path in markers.glob("worker-*.json")]
    assert len(shares) == 2 and sum(share["complete"] for share in shares) == n_trials
    assert all(share["complete"] > 0 for share in shares)  # both workers really took part


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_no_completed_trial_and_the_study_resumes(storage_url, tmp_path):
    study_name, n_trials = f"killed-{tmp_path.name}", 8
    markers = tmp_path / "markers"
    markers.mkdir()
    worker = SPAWN.Process(target=_worker, args=(storage_url, study_name, n_trials, str(markers), 0.3))
    worker.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done, started = _markers(markers, "done"), _markers(markers, "start")
        if len(done) >= 3 and set(started) - set(done):
            break
        time.sleep(0.01)
    worker.kill()  # SIGKILL: no clean-up, no final tell, the heartbeat thread dies with it
    worker.join(30)
    assert worker.exitcode == -9

    completed_before = _markers(markers, "done")
    killed = set(_markers(markers, "start")) - set(completed_before)
    assert len(completed_before) >= 3 and len(killed) == 1
    study = optuna.load_study(study_name=study_name, storage=storage_url)
    states = {t.number: t.state for t in study.get_trials()}
    # The killed trial stays RUNNING (Optuna cannot know the worker died) until a heartbeat check fails it.
    assert states == {**{n: TrialState.COMPLETE for n in completed_before}, **{n: TrialState.RUNNING for n in killed}}

    _worker(storage_url, study_name, n_trials, str(markers), 0.0)  # resume, in this process

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    trials = {t.number: t for t in study.get_trials()}
    complete = {n: t for n, t in trials.items() if t.state == TrialState.COMPLETE}
    assert len(complete) == n_trials  # the study still ends with exactly n finished trials
    for number, x in completed_before.items():  # and every trial completed before the kill is intact
        assert trials[number].state == TrialState.COMPLETE and repr(trials[number].params["x"]) == x
    (dead,) = killed
    assert trials[dead].state == TrialState.FAIL  # failed by the stale heartbeat ...
    retried = [t for t in complete.values() if t.system_attrs.get("failed_trial") == dead]
    assert len(retried) == 1 and retried[0].params == trials[dead].params  # ... and re-run with its parameters
    assert Counter(t.state for t in trials.values()) == {TrialState.COMPLETE: n_trials, TrialState.FAIL: 1}
