"""MLflow wiring: where runs go, how the model is logged and registered, and its aliases.

Default: a SQLite backend and artifact store under the repo's `mlflow/` (MLflow 3 refuses
the plain file store); a server is one setting away (`OPTICHANNEL_MLFLOW_TRACKING_URI`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from optichannel.registry import (
    CHALLENGER,
    CHAMPION,
    EXPERIMENT,
    MODEL_NAME,
    ROOT,
    alias_version,
    setup,
    tracking_uri,
)

__all__ = ["CHALLENGER", "CHAMPION", "EXPERIMENT", "MODEL_NAME", "alias_version", "setup", "tracking_uri"]


if TYPE_CHECKING:
    from optichannel.model_bundle import NextBestChannelModel

#: what the logged model needs at load time; listed explicitly (inference takes ~5 s)
PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy", "mlflow"]


def code_version() -> str:
    """The git commit of the code (with `-dirty` when the tree has changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
            text=True, timeout=5,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def log_and_register(bundle: NextBestChannelModel, example: pd.DataFrame, workdir: Path) -> str:
    """Log the bundle as a pyfunc model in the active run, register it, tag it `challenger`.

    Returns the new registry version."""
    import mlflow
    from mlflow.models import infer_signature

    from optichannel.pyfunc_model import BUNDLE_ARTIFACT, BundlePyfunc

    example = example.astype("float64")  # every input may be missing at serving time: doubles, not ints
    path = bundle.save(workdir / "bundle")
    wrapper = BundlePyfunc()
    wrapper.bundle = bundle
    signature = infer_signature(example, wrapper.predict(None, example))
    wrapper.bundle = None
    # the artifact's example is one made-up row (each column's median), never a real customer's features
    made_up = example.median().to_frame().T.astype("float64")
    info = mlflow.pyfunc.log_model(
        name="model", python_model=wrapper, artifacts={BUNDLE_ARTIFACT: str(path)},
        signature=signature, input_example=made_up, pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=MODEL_NAME,
    )  # fmt: skip
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    return version
