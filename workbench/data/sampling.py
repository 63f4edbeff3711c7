"""Bounded cost as data grows: the expensive steps of a notebook run on a stratified, seeded sample.

The overview (class balance, lengths, duplicates) reads every row with vectorised pandas; fitting and
scoring models runs on at most ``caps[split]`` rows of each split, chosen by
:func:`workbench.data.subsample` (scikit-learn's stratified ``resample``). The report says which.

>>> from workbench.data import load_dataset
>>> data = load_dataset(max_examples=300)
>>> sample = cap_splits(data, train=100, evaluation=0, seed=0)
>>> {split: len(ds) for split, ds in sample.items()}
{'train': 100, 'validation': 300, 'test': 300}
>>> sampling_note(data, sample)
'The overview uses every row (train 300, validation 300, test 300); models use a stratified, seeded sample: train 100 of 300.'
"""

from __future__ import annotations

import datasets

from workbench._validation import check_int
from workbench.data.splits import subsample

__all__ = ["cap_splits", "sampling_note"]


def cap_splits(dsd: datasets.DatasetDict, *, train: int, evaluation: int = 0, validation: int | None = None,
               test: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """A copy of ``dsd`` with ``train`` cut to at most ``train`` rows and ``validation``/``test`` to
    ``evaluation`` rows each, or to ``validation`` and ``test`` rows when those are given (0: the whole split).

    Class fractions are kept (stratified) and the same ``seed`` picks the same rows.
    """
    check_int("train", train, "cap_splits", low=0, fix="Use 0 to keep the whole split.")
    check_int("evaluation", evaluation, "cap_splits", low=0, fix="Use 0 to keep the whole split.")
    caps = {"validation": evaluation if validation is None else validation, "test": evaluation if test is None else test}
    for split, cap in caps.items():
        check_int(split, cap, "cap_splits", low=0, fix="Use 0 to keep the whole split.")
    out = subsample(dsd, split="train", n=train, seed=seed)
    for split, cap in caps.items():
        if split in out:
            out = subsample(out, split=split, n=cap, seed=seed)
    return out


def sampling_note(full: datasets.DatasetDict, sample: datasets.DatasetDict) -> str:
    """One sentence for a report: which steps saw all rows and which a sample, of what size."""
    sizes = ", ".join(f"{split} {len(full[split]):,}" for split in full)
    cut = [f"{split} {len(sample[split]):,} of {len(full[split]):,}" for split in full
           if len(sample[split]) < len(full[split])]
    if not cut:
        return f"Every step uses every row ({sizes})."
    return (f"The overview uses every row ({sizes}); models use a stratified, seeded sample: "
            f"{', '.join(cut)}.")
