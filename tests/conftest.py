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


@pytest.fixture
def tiny_frame():
    """A small two-class pandas frame with obvious signal: 40 rows, balanced."""
    import pandas as pd

    good = [f"great tasty product number {i} love it" for i in range(20)]
    bad = [f"awful stale product number {i} never again" for i in range(20)]
    return pd.DataFrame({"text": good + bad, "label": ["great"] * 20 + ["other"] * 20})
