"""Winners kept: a trial's model saved as an Optuna artifact (``optuna.artifacts``), loaded without retraining."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import optuna

from workbench.errors import ParameterError


def _artifact_store(store, func: str):
    if store is None or hasattr(store, "write"):
        return store
    if isinstance(store, (str, os.PathLike)):
        from optuna.artifacts import FileSystemArtifactStore

        Path(store).mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(str(store))
    raise ParameterError(f"The 'artifact_store' parameter of {func} must be a folder or an Optuna artifact store. "
                         f"Got {type(store).__name__} instead. Pass e.g. 'artifacts/'.")


def save_model_artifact(model, study_or_trial, artifact_store, *, name: str = "model") -> str:
    """Pickle ``model`` (joblib) and upload it as an Optuna artifact of a study or a running trial.

    Returns the artifact id (Optuna's ``upload_artifact`` does the work).

    >>> import optuna, tempfile
    >>> from optuna.artifacts import FileSystemArtifactStore
    >>> store = FileSystemArtifactStore(tempfile.mkdtemp())
    >>> study = optuna.create_study()
    >>> artifact_id = save_model_artifact({"weights": [1, 2]}, study, store)
    >>> load_model_artifact(artifact_id, store)
    {'weights': [1, 2]}
    """
    import joblib
    from optuna.artifacts import upload_artifact

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.joblib"
        joblib.dump(model, path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return upload_artifact(artifact_store=artifact_store, file_path=str(path), study_or_trial=study_or_trial)


def load_model_artifact(artifact_id: str, artifact_store):
    """The model saved by :func:`save_model_artifact` (Optuna's ``download_artifact`` then joblib)."""
    import joblib
    from optuna.artifacts import download_artifact

    store = _artifact_store(artifact_store, "load_model_artifact")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.joblib"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
        return joblib.load(path)
