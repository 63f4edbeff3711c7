"""Optuna RDB storages: SQLite files and server databases (:func:`open_storage`), a trial budget that holds
across workers (checked in the transaction that creates each trial), printable URLs."""


import os
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from workbench._validation import check_int, check_type
from workbench.errors import ParameterError, ResourceUnavailableError, first_line


class BudgetSpent(Exception):
    """The study already holds its ``n_trials`` live trials: this worker may not start another."""


def _capped_storage_class():
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models

    class _CappedRDBStorage(RDBStorage):
        """RDBStorage that refuses to create a trial beyond ``max_trials`` live ones, atomically.

        Optuna numbers a new trial inside the transaction that inserts it, with the study row locked
        (``SELECT ... FOR UPDATE``; SQLite serialises writers anyway). Counting the study's trials that
        are not FAIL in that same transaction, after the insert, and rolling back when the count
        passes ``max_trials``, is therefore exact across any number of processes and machines.

        Optuna only fails a stale trial that has sent at least one heartbeat, and its heartbeat thread
        starts after the trial exists: a worker killed in between would leave the trial RUNNING for
        ever. So the first heartbeat is written with the trial itself (or when a queued trial is taken).
        """

        max_trials: int | None = None

        def _get_prepared_new_trial(self, study_id, template_trial, session):
            trial = super()._get_prepared_new_trial(study_id, template_trial, session)
            if self.max_trials is not None:
                live = session.query(models.TrialModel).filter(
                    models.TrialModel.study_id == study_id, models.TrialModel.state != TrialState.FAIL).count()
                if live > self.max_trials:
                    raise BudgetSpent(f"the study already holds {self.max_trials} trials")
            if self.heartbeat_interval is not None and trial.state == TrialState.RUNNING:
                session.add(models.TrialHeartbeatModel(trial_id=trial.trial_id))
            return trial

        def set_trial_state_values(self, trial_id, state, values=None):
            changed = super().set_trial_state_values(trial_id, state, values)
            if changed and state == TrialState.RUNNING and self.heartbeat_interval is not None:
                self.record_heartbeat(trial_id)  # a queued trial just taken by this worker
            return changed

    return _CappedRDBStorage


def open_storage(url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_trials: int | None = None, retry_stale: int = 1):
    """Open (and create if needed) an Optuna RDB storage from an SQLAlchemy URL, with a one-line error.

    Parameters
    ----------
    url : str
        ``sqlite:///path/sweeps.db`` (a local file), ``postgresql://user@host:5432/db``, ``mysql://...``.
    heartbeat_interval, grace_period : int, optional
        Seconds between a running trial's heartbeats, and the silence after which another worker marks
        it FAIL (default ``2 * heartbeat_interval``). Without heartbeats a killed worker's trial stays
        RUNNING for ever.
    max_trials : int, optional
        Refuse to create trials beyond this many that are not FAIL (see :func:`run_sweep`).
    retry_stale : int
        A trial failed for a stale heartbeat is re-queued with the same parameters up to this many times.

    >>> storage = open_storage("sqlite:///sweeps.db")  # doctest: +SKIP
    """
    import sqlalchemy
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    func = "open_storage"
    check_type("url", url, func, str)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ParameterError(f"The 'url' parameter of {func} must be an SQLAlchemy database URL such as "
                             f"sqlite:///sweeps.db or postgresql://user@host/db. Got {url!r} instead.") from None
    if parsed.drivername == "postgresql" and _importable("psycopg2") and not _importable("psycopg"):
        # SQLAlchemy 2.1 made psycopg (3) the default PostgreSQL driver; this project ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
        url = parsed.render_as_string(hide_password=False)
    shown = parsed.render_as_string(hide_password=True)
    if heartbeat_interval is not None:
        check_int("heartbeat_interval", heartbeat_interval, func, low=1)
        grace_period = grace_period or 2 * heartbeat_interval
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": 60}  # wait for the other workers' writes, do not fail
    elif parsed.get_backend_name() in ("postgresql", "mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    storage_class = _capped_storage_class()
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = storage_class(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=retry_stale) if heartbeat_interval else None)
            break
        except ImportError as error:
            raise ResourceUnavailableError(f"The storage {shown} needs a database driver that is not installed "
                                           f"({first_line(error)}). Install it (e.g. psycopg2-binary).") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            cause = first_line(error.__cause__ or getattr(error, "orig", None) or error)
            # Workers starting together on a new database race to create Optuna's tables: the loser retries.
            if attempt < 4 and any(text in cause.lower() for text in _CREATION_RACES):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ResourceUnavailableError(
                f"Could not open the Optuna storage {shown}: {cause[:200]}. Check the URL, that the database "
                "server runs and accepts connections, and that the folder of an SQLite file exists.") from None
    if parsed.get_backend_name() == "sqlite":
        _fast_sqlite(storage.engine)
    storage.max_trials = max_trials
    return storage


def _fast_sqlite(engine) -> None:
    """Write-ahead logging without an fsync per commit: an Optuna trial makes dozens of small commits.

    WAL lets readers (a monitor, other workers) work while one worker writes; ``synchronous=NORMAL``
    keeps every committed trial across a crash of any process (only a power cut may lose the last few).
    """
    import sqlalchemy

    def configure(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", configure)
    engine.dispose()  # connections opened while creating the tables predate the listener


# What losing the race to create Optuna's tables looks like (SQLite, PostgreSQL, MySQL wordings).
_CREATION_RACES = ("already exists", "duplicate key", "unique constraint", "database is locked", "duplicate entry")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def safe_url(url: str) -> str:
    """A storage URL fit to print: the password hidden.

    >>> safe_url("postgresql://me:secret@db.example:5432/sweeps")
    'postgresql://me:***@db.example:5432/sweeps'
    """
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<not a database URL>"


def default_storage(folder: str | os.PathLike = ".", name: str = "sweeps.db") -> str:
    """SQLAlchemy URL of an SQLite file ``name`` in ``folder`` (created if missing).

    >>> default_storage("/tmp/run")
    'sqlite:////tmp/run/sweeps.db'
    """
    path = Path(folder).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / name}"
