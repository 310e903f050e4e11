"""Where models are tracked and registered: names and aliases shared by training (which
registers), serving (which loads the champion) and experiments (which log reports).

MLflow is imported inside `setup` only: importing it costs seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from optichannel.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "optichannel"
MODEL_NAME = "optichannel-nbc"
CHAMPION, CHALLENGER = "champion", "challenger"
ROOT = Path(__file__).resolve().parents[1]


def tracking_uri(settings: Settings) -> str:
    """The configured tracking URI, or the local SQLite store under the repo's `mlflow/`."""
    return settings.mlflow_tracking_uri or f"sqlite:///{(ROOT / 'mlflow' / 'mlflow.db').as_posix()}"


def model_uri(alias: str = CHAMPION) -> str:
    """Registry URI of the model holding `alias`, e.g. `models:/optichannel-nbc@champion`."""
    return f"models:/{MODEL_NAME}@{alias}"


def setup(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging
    import warnings

    import mlflow

    # MLflow sets its logger to INFO on import; its database-migration chatter is not news to a user
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "no pip" in a uv venv
    # the pyfunc wrapper is pickled by reference to optichannel.pyfunc_model (an importable class),
    # which is what MLflow's generic CloudPickle warning is about
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*noload.*")  # inside MLflow's SQLAlchemy store

    uri = tracking_uri(settings)
    location = None
    if uri.startswith("sqlite:///"):  # a local store: artifacts next to the database
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        location = (db.parent / "artifacts").resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return client


def alias_version(client: MlflowClient, alias: str) -> str | None:
    """The registry version holding `alias`, or None when no model has it yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except MlflowException:
        return None
