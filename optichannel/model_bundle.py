"""The trained next-best-channel model as one bundle: a response booster, the conversion
booster(s) of the chosen meta-learner, and the feature lists they expect.

It lives in the kernel because training writes it and serving reads it (through the MLflow
registry), and the two never import each other. Saved as LightGBM text files plus a JSON
manifest: no pickles, readable by any LightGBM of the same major version.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from optichannel.channels import ACTIONS, NO_CONTACT

MANIFEST = "manifest.json"
#: the mediated learner: P(convert | a) = P(convert | ignored, a) + P(response | a) x
#: (P(convert | responded, a) - P(convert | ignored, a)), the law of total probability over the
#: response, so the slot and context effects come from the response model (a far more frequent
#: label) and the conversion boosters learn mostly who converts: one for contacts without a
#: response and no contact at all ("ignored"), and one per channel after a response, each
#: boosting from its own channel's rate (one pooled booster, early-stopped after a few rounds,
#: pulled every channel towards the mean: calls 0.285 against 0.31 observed, pushes 0.198 against 0.186)
IGNORED = "ignored"


def responded_booster(action: int) -> str:
    """The mediated learner's booster of P(convert | responded) for one channel code."""
    return f"responded_{ACTIONS[action]}"


SMALL_BATCH = 5000  # rows below which one LightGBM thread and fewer calls are quickest
ACTION = "action"


class FeatureRows(Protocol):
    """Rows that hand the model its columns as one float matrix (see features.candidates)."""

    def __len__(self) -> int: ...

    def matrix(
        self,
        columns: list[str],
        overrides: dict[str, np.ndarray] | None = None,
        subset: np.ndarray | None = None,
    ) -> np.ndarray: ...


Rows = pd.DataFrame | FeatureRows


@dataclass
class NextBestChannelModel:
    """P(response | contact) and P(conversion | action) for candidate rows."""

    response: lgb.Booster
    #: "s": {"all": b}; "t": {action: b}; "m": {"ignored": b0, "responded_<channel>": b1, ...}
    conversion: dict[str, lgb.Booster]
    learner: str
    response_features: list[str]
    conversion_features: list[str]
    none_blank: list[str]  # request features blanked when the action is `none`
    meta: dict[str, Any] = field(default_factory=dict)

    def p_response(self, rows: Rows) -> np.ndarray:
        return self.response.predict(feature_matrix(rows, self.response_features), num_threads=_threads(rows))

    def p_conversion(
        self, rows: Rows, action: np.ndarray, overrides: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """P(convert) for each row under `action` (codes into ACTIONS; 5 = none)."""
        action = np.asarray(action, dtype=np.int64)
        x = feature_matrix(rows, self.conversion_features, {**(overrides or {}), ACTION: action})
        return self._conversion(x, action, _threads(rows))

    def score(self, rows: Rows, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(response), P(conversion)) of contact rows under their `action`, building each row's
        features once: the response model's columns are a prefix of the conversion model's, and
        T and mediated learners get one matrix per action on big batches instead of a matrix and
        then copies of it (the copies cost a third of LightGBM's time in a campaign)."""
        action = np.asarray(action, dtype=np.int64)
        k = len(self.response_features)
        threads = _threads(rows)
        if self.conversion_features[:k] != self.response_features:
            return self.p_response(rows), self.p_conversion(rows, action)
        if self.learner == "s" or len(action) < SMALL_BATCH:  # small: fewer LightGBM calls beat fewer copies
            x = feature_matrix(rows, self.conversion_features, {ACTION: action})
            p_resp = self.response_of(x, threads)
            return p_resp, self._conversion(x, action, threads, p_resp)
        p_resp, p_conv = np.empty(len(action)), np.empty(len(action))
        for code in np.unique(action):
            idx = np.flatnonzero(action == code)
            x = feature_matrix(rows, self.conversion_features, {ACTION: np.full(len(idx), code)}, subset=idx)
            p_resp[idx] = self.response_of(x, threads)
            p_conv[idx] = self._conversion(x, np.full(len(idx), code), threads, p_resp[idx])
        return p_resp, p_conv

    def response_of(self, x: np.ndarray, threads: int) -> np.ndarray:
        """P(response) of rows of a conversion matrix `x`, whose first columns are the response
        model's. LightGBM drops the columns past a model's features (its predictor skips feature
        indices >= num_feature), so the row-major matrix is read as is instead of copied into a
        narrower one."""
        if x.shape[1] < len(self.response_features):
            raise ValueError(f"{x.shape[1]} columns for a response model of {len(self.response_features)}")
        return self.response.predict(x, num_threads=threads, predict_disable_shape_check=True)

    def _conversion(
        self, x: np.ndarray, action: np.ndarray, threads: int, p_resp: np.ndarray | None = None
    ) -> np.ndarray:
        if self.learner == "s":
            return _predict(self.conversion["all"], x, threads)
        if self.learner == "m":
            ignored, responded = self._mediated(x, action, threads)
            contact = action != NO_CONTACT
            if not contact.any():
                return ignored
            if p_resp is None:
                p_resp = self.response_of(x, threads)
            return np.where(contact, ignored + p_resp * (responded - ignored), ignored)
        out = np.empty(len(x))
        for code in np.unique(action):
            mask = action == code
            out[mask] = _predict(self.conversion[ACTIONS[code]], x if mask.all() else x[mask], threads)
        return out

    def mediated_parts(self, rows: Rows, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(convert | ignored, action), P(convert | responded, action)) of a mediated model."""
        if self.learner != "m":
            raise ValueError(
                f"only the mediated learner has conversion parts, not the {self.learner}-learner"
            )
        action = np.asarray(action, dtype=np.int64)
        x = feature_matrix(rows, self.conversion_features, {ACTION: action})
        return self._mediated(x, action, _threads(rows))

    def _mediated(self, x: np.ndarray, action: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
        ignored = _predict(self.conversion[IGNORED], x, threads)
        responded = np.zeros(len(x))  # no response without a contact
        for code in np.unique(action[action != NO_CONTACT]):
            mask = action == code
            rows = x if mask.all() else x[mask]  # one action's rows (score's batches): no copy
            responded[mask] = _predict(self.conversion[responded_booster(code)], rows, threads)
        return ignored, responded

    def p_none(self, rows: Rows) -> np.ndarray:
        """P(convert) without contact, from rows holding the customer's features at decision time."""
        blank = {c: np.full(len(rows), np.nan) for c in self.none_blank}
        return self.p_conversion(rows, np.full(len(rows), NO_CONTACT), blank)

    def contributions(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP-style contributions to the response logit (LightGBM `pred_contrib`)."""
        values = self.response.predict(feature_matrix(rows, self.response_features), pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.response_features, "bias"], index=rows.index)

    def conversion_contributions(self, rows: Rows, action: np.ndarray, blank: bool = False) -> pd.DataFrame:
        """Contributions to the conversion logit under one `action` code for all rows (`blank`:
        the channel features are blanked, as for `none`): the drivers of a value decision. For
        the mediated learner a contact's value moves through its response, so a contact's
        drivers are the response model's."""
        action = np.asarray(action, dtype=np.int64)
        codes = np.unique(action)
        if len(codes) != 1:
            raise ValueError("conversion_contributions takes one action for all rows")
        overrides = {c: np.full(len(rows), np.nan) for c in self.none_blank} if blank else {}
        x = feature_matrix(rows, self.conversion_features, {**overrides, ACTION: action})
        columns = self.conversion_features
        if self.learner == "s":
            booster = self.conversion["all"]
        elif self.learner == "t":
            booster = self.conversion[ACTIONS[codes[0]]]
        elif codes[0] == NO_CONTACT:
            booster = self.conversion[IGNORED]
        else:
            booster, columns = self.response, self.response_features
            x = x[:, : len(columns)]
        values = booster.predict(x, pred_contrib=True)
        return pd.DataFrame(values, columns=[*columns, "bias"], index=rows.index)

    def save(self, out: Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.response.save_model(out / "response.txt")
        for name, booster in self.conversion.items():
            booster.save_model(out / f"conversion_{name}.txt")
        manifest = {
            "learner": self.learner,
            "conversion": sorted(self.conversion),
            "response_features": self.response_features,
            "conversion_features": self.conversion_features,
            "none_blank": self.none_blank,
            "meta": self.meta,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        return out

    @classmethod
    def load(cls, path: Path) -> NextBestChannelModel:
        """Read a saved bundle; a clear error if the directory is not one."""
        path = Path(path)
        if not (path / MANIFEST).exists():
            raise FileNotFoundError(f"{path} is not a next-best-channel model bundle (no {MANIFEST})")
        m = json.loads((path / MANIFEST).read_text())
        return cls(
            response=lgb.Booster(model_file=str(path / "response.txt")),
            conversion={
                n: lgb.Booster(model_file=str(path / f"conversion_{n}.txt")) for n in m["conversion"]
            },
            learner=m["learner"],
            response_features=m["response_features"],
            conversion_features=m["conversion_features"],
            none_blank=m["none_blank"],
            meta=m.get("meta", {}),
        )


def feature_matrix(
    rows: Rows,
    columns: list[str],
    overrides: dict[str, np.ndarray] | None = None,
    subset: np.ndarray | None = None,
) -> np.ndarray:
    """The model's columns in its order as float; a column the rows lack is all-missing, and
    `overrides` replace columns without copying the frame. `subset`: only these rows (the
    overrides then have one value per subset row)."""
    if not isinstance(rows, pd.DataFrame):
        return rows.matrix(columns, overrides, subset)
    if subset is not None:
        rows = rows.iloc[subset]
    out = np.full((len(rows), len(columns)), np.nan)
    overrides = overrides or {}
    for j, col in enumerate(columns):
        if col in overrides:
            out[:, j] = overrides[col]
        elif col in rows:
            out[:, j] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def _predict(booster: lgb.Booster, x: np.ndarray, threads: int) -> np.ndarray:
    """LightGBM's prediction, or the booster's one value when none of its trees splits (a
    channel with too few responses to learn from stops at a single leaf), which LightGBM would
    still compute by reading every row of `x`."""
    if booster not in _SINGLE:
        split = booster.feature_importance("split").any()
        _SINGLE[booster] = None if split else float(booster.predict(np.zeros((1, booster.num_feature())))[0])
    single = _SINGLE[booster]
    return booster.predict(x, num_threads=threads) if single is None else np.full(len(x), single)


#: booster -> its one prediction when no tree of it splits, else None (weak: boosters come and go)
_SINGLE: weakref.WeakKeyDictionary[lgb.Booster, float | None] = weakref.WeakKeyDictionary()


def _threads(rows: Rows) -> int:
    """One thread for small requests (thread start-up costs more than it saves), all for batches."""
    return 1 if len(rows) < SMALL_BATCH else 0
