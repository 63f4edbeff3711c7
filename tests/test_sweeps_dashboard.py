"""optuna-dashboard opens the storage a sweep wrote: a real server on localhost serves the study and its trials."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from workbench.sweeps import run_sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_optuna_dashboard_serves_the_study_a_sweep_wrote(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    study = run_sweep(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=4, storage=url, study_name="dash",
                      sampler="random", directions=["minimize"], progress=False).study
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or "optuna-dashboard"
    port = _free_port()
    server = subprocess.Popen([command, url, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        studies = _get(f"http://127.0.0.1:{port}/api/studies", deadline)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["dash"]
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", deadline)
        served = sorted((t["number"], t["values"][0]) for t in detail["trials"])
        assert [n for n, _ in served] == [0, 1, 2, 3]
        assert [v for _, v in served] == pytest.approx([t.value for t in sorted(study.trials, key=lambda t: t.number)])
        assert {"key": "n_trials", "value": "4"} in detail["user_attrs"], detail["user_attrs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
