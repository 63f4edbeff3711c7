"""Run profiles: how much work each notebook does under ``smoke``, ``default`` and ``full``.

``smoke`` keeps every notebook well under a minute (CI), ``default`` keeps the whole suite near 15
minutes on 2 CPU cores (``make report``), ``full`` runs real studies (hours; a GPU is welcome).
The numbers live here and only here; notebooks ask for them with :func:`profile_settings`.

>>> profile_settings("data", "smoke")["max_examples"]
200
>>> profile_settings("data", "smoke", max_examples=50)["max_examples"]
50
"""

from __future__ import annotations

from typing import Any

from workbench._validation import check_choice
from workbench.errors import ParameterError

PROFILE_NAMES = ("smoke", "default", "full")

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "tokenization": {
        # vocab_size: the six trained tokenizers; downstream_*: the tiny-transformer sweep over
        # algorithms x vocabulary sizes (comma-separated) x seeds, same budget for every row.
        "smoke": {"max_examples": 200, "vocab_size": 500, "max_length": 64, "downstream_vocab_sizes": "200",
                  "downstream_seeds": 1, "downstream_epochs": 1.0, "n_resamples": 200, "downstream_max_length": 32,
                  "downstream_train_examples": 0,
                  "downstream_model": "tiny:num_layers=1,hidden_size=32,num_heads=2"},
        "default": {"max_examples": 0, "vocab_size": 8000, "max_length": 128,
                    "downstream_vocab_sizes": "1000,4000,16000", "downstream_seeds": 1, "downstream_epochs": 1.0,
                    "n_resamples": 1000, "downstream_max_length": 64, "downstream_train_examples": 2000, "downstream_model": "tiny:num_layers=2,hidden_size=64,num_heads=2"},
        "full": {"max_examples": 0, "vocab_size": 16000, "max_length": 256,
                 "downstream_vocab_sizes": "1000,4000,16000,32000", "downstream_seeds": 3,
                 "downstream_epochs": 4.0, "n_resamples": 2000, "downstream_max_length": 256,
                 "downstream_train_examples": 0,
                 "downstream_model": "tiny:num_layers=4,hidden_size=256,num_heads=4"},
    },
    "data": {
        # max_examples caps each split; finetune_* size the short MiniLM fine-tune baseline.
        "smoke": {"max_examples": 200, "finetune_examples": 64, "finetune_epochs": 1.0, "max_length": 64,
                  "n_resamples": 200},
        "default": {"max_examples": 0, "finetune_examples": 1000, "finetune_epochs": 1.0, "max_length": 128,
                    "n_resamples": 1000},
        "full": {"max_examples": 0, "finetune_examples": 0, "finetune_epochs": 3.0, "max_length": 256,
                 "n_resamples": 2000},
    },
}


def profile_settings(notebook: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """Settings of ``notebook`` under ``profile``, with the caller's explicit choices on top.

    An override that is ``None``, ``0``, ``0.0`` or ``""`` means "let the profile decide", which is how a
    notebook's ``parameters`` cell says "not set" with a typed literal. In the settings themselves,
    ``0`` for a size means "all of it".

    Parameters
    ----------
    notebook : str
        Notebook name without its number prefix (``"data"``).
    profile : {"smoke", "default", "full"}
    **overrides
        Settings to force; unknown names are an error.

    Examples
    --------
    >>> profile_settings("data", "full", finetune_epochs=0.0)["finetune_epochs"]
    3.0
    """
    check_choice("notebook", notebook, "profile_settings", sorted(PROFILES))
    check_choice("profile", profile, "profile_settings", PROFILE_NAMES)
    settings = dict(PROFILES[notebook][profile])
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ParameterError(
            f"The overrides of profile_settings must be settings of {notebook!r} "
            f"({', '.join(sorted(settings))}). Got {', '.join(map(repr, unknown))} instead.")
    settings.update({k: v for k, v in overrides.items() if v not in (None, 0, 0.0, "")})
    return settings
