"""Shared fixtures. Tests never reach a model or data hub: the offline switches are set here."""

from __future__ import annotations

import os

# Set before transformers / datasets / huggingface_hub are imported anywhere in the test session.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _reports_root(monkeypatch, tmp_path_factory):
    """Each test its own reports root: the runner's cache and list of runs never leak between tests
    (a notebook cached by one test would not execute in the next) nor into the checkout's reports/."""
    monkeypatch.setenv("WORKBENCH_REPORTS", str(tmp_path_factory.mktemp("root") / "reports"))


@pytest.fixture
def tiny_frame():
    """A small two-class pandas frame with obvious signal: 40 rows, balanced."""
    import pandas as pd

    good = [f"great tasty product number {i} love it" for i in range(20)]
    bad = [f"awful stale product number {i} never again" for i in range(20)]
    return pd.DataFrame({"text": good + bad, "label": ["great"] * 20 + ["other"] * 20})


@pytest.fixture
def tiny_dataset(tiny_frame):
    """``tiny_frame`` as a DatasetDict (train 24 / validation 8 / test 8), built with `datasets` directly."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["great", "other"])})
    frame = tiny_frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["label"] = (frame["label"] == "other").astype(int)

    def split(rows):
        return datasets.Dataset.from_pandas(rows.reset_index(drop=True), features=features, preserve_index=False)

    return datasets.DatasetDict(train=split(frame.iloc[:24]), validation=split(frame.iloc[24:32]),
                                test=split(frame.iloc[32:]))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module: tiny models gain nothing from a second one, and lose a lot
    when other processes share the cores. Modules opt in with ``pytestmark = usefixtures(...)``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
