"""Training frames: one row per logged decision (contacts, `none` included), with the customer's
point-in-time features from the Feast feature service, the request features of the logged
(channel, slot), labels inside their windows, and a time-based split.

Outcomes whose window runs past the feeds' end are unknown, not negative: those rows are
dropped from that label rather than counted as failures (censoring).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.request_features import (
    CHANNEL_SPECIFIC,
    REQUEST_FEATURES,
    constant_candidates,
    request_features,
)
from features.request_params import RequestParams, estimate
from features.store import historical_features
from features.store_definitions import JOIN_KEY, TIMESTAMP
from features.validated_io import accepted_path
from optichannel import feature_columns as fc
from optichannel.channels import ACTIONS, CHANNELS, NONE
from training.config import Labels, Split

if TYPE_CHECKING:
    from feast import FeatureStore

#: features that are identifiers or absolute times: informative only through request features
#: profile columns that are no model input: text, and the signup day (an absolute calendar number,
#: which enters as the request feature `req_tenure_days` instead)
EXCLUDED = (fc.TIMEZONE, fc.REGION, fc.SIGNUP_DAY)
ACTION = "action"
PIECE_ROWS = 100_000
SPLITS = ("train", "valid", "test")
#: logged columns carried into the frame when the feed has them (propensities and arm are optional)
META_COLUMNS = ("contact_id", "customer_id", "channel", "sent_at", "propensity", "channel_propensity",
                "arm", "cost")  # fmt: skip


@dataclass(frozen=True)
class TrainingFrame:
    """The labelled rows, which columns are model inputs, and where the data came from."""

    frame: pd.DataFrame
    customer_features: list[str]
    feed_end: pd.Timestamp
    fingerprint: str
    request_params: RequestParams = field(default_factory=RequestParams)

    @property
    def response_features(self) -> list[str]:
        return [*self.customer_features, *REQUEST_FEATURES]

    @property
    def conversion_features(self) -> list[str]:
        return [*self.customer_features, *REQUEST_FEATURES, ACTION]

    def part(self, split: str, label: str) -> pd.DataFrame:
        """Rows of one split with a known `label` (response rows are contacts only)."""
        f = self.frame
        mask = (f["split"] == split) & f[label].notna()
        if label == "responded":
            mask &= f["channel"] != NONE
        return f[mask]


def feed_end(validated_dir: Path) -> pd.Timestamp:
    """The latest moment any feed has seen: outcomes after it are not observed yet."""
    import duckdb

    parts = []
    for table, column in (("transactions", "ts"), ("events", "ts"), ("contacts", "sent_at")):
        path = accepted_path(Path(validated_dir), table)
        if path.exists():
            parts.append(f"SELECT MAX({column}) AS t FROM read_parquet('{path.as_posix()}')")
    if not parts:
        raise FileNotFoundError(f"{validated_dir} holds no validated feeds: run `optichannel validate` first")
    with duckdb.connect() as con:
        (end,) = con.execute(f"SELECT MAX(t) FROM ({' UNION ALL '.join(parts)})").fetchone()
    return pd.Timestamp(end).tz_convert("UTC") if pd.Timestamp(end).tzinfo else pd.Timestamp(end, tz="UTC")


def load_contacts(validated_dir: Path) -> pd.DataFrame:
    path = accepted_path(Path(validated_dir), "contacts")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `optichannel validate` first")
    frame = pd.read_parquet(path)
    for col in ("sent_at", "responded_at", "converted_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def labels(contacts: pd.DataFrame, end: pd.Timestamp, cfg: Labels) -> pd.DataFrame:
    """`responded` / `converted` as 0/1 inside their windows, NaN where the window is censored."""
    sent = contacts["sent_at"]
    resp_window = pd.Timedelta(hours=cfg.response_hours)
    conv_window = pd.Timedelta(days=cfg.conversion_days)
    responded = (contacts["responded_at"].notna() & (contacts["responded_at"] - sent <= resp_window)).astype(
        float
    )
    converted = (contacts["converted_at"].notna() & (contacts["converted_at"] - sent <= conv_window)).astype(
        float
    )
    return pd.DataFrame(
        {
            "responded": responded.where(sent + resp_window <= end),
            "converted": converted.where(sent + conv_window <= end),
        },
        index=contacts.index,
    )


def assign_split(sent_at: pd.Series, end: pd.Timestamp, cfg: Split) -> pd.Series:
    """train < valid < test by time; the test weeks are the last ones of the feeds (a short history is
    split in proportion, `Split.scaled`)."""
    first = sent_at.min()
    days = (end - first) / pd.Timedelta(days=1) if not pd.isna(first) else 0.0
    fitted = cfg.scaled(days)
    if fitted is None:
        full = cfg.min_train_days + cfg.valid_days + cfg.test_days
        raise ValueError(
            f"contacts span {days:.0f} days ({first} to {end}): training needs at least "
            f"{cfg.min_history_days} (split.min_history_days; a split of {full} is scaled down to it)"
        )
    test_from = end - pd.Timedelta(days=fitted[1])
    valid_from = test_from - pd.Timedelta(days=fitted[0])
    split = np.where(sent_at >= test_from, "test", np.where(sent_at >= valid_from, "valid", "train"))
    return pd.Series(split, index=sent_at.index)


def customer_feature_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric customer features of the feature service. Identifiers and absolute times are left
    out, and so are the 48 hour-of-day shares: they enter through the request features, read at the
    slot's hour (capture on the 20k world 0.708 with them as raw inputs, 0.712 without)."""
    out = []
    for col in frame.columns:
        if col in (JOIN_KEY, TIMESTAMP) or col in EXCLUDED or col.endswith("_epoch") or "_hour_share_" in col:
            continue
        if col[:4] in ("txn_", "bhv_", "cnt_", "prf_") and pd.api.types.is_numeric_dtype(frame[col]):
            out.append(col)
    return out


def fingerprint(contacts: pd.DataFrame, features: pd.DataFrame, columns: list[str]) -> str:
    """A short hash of the decisions and the feature values a model was trained on (column by
    column: a frame of a million rows is not copied to be hashed)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(contacts["contact_id"], index=False).to_numpy().tobytes())
    for col in columns:
        digest.update(pd.util.hash_pandas_object(features[col], index=False).to_numpy().tobytes())
    digest.update(",".join(columns).encode())
    return digest.hexdigest()[:16]


def action_codes(channel: pd.Series) -> np.ndarray:
    """0..4 for the channels, 5 for `none` (the model's treatment feature)."""
    lookup = {a: i for i, a in enumerate(ACTIONS)}
    return channel.map(lookup).to_numpy(dtype=np.int64)


def training_frame(
    store: FeatureStore, validated_dir: Path, label_cfg: Labels, split_cfg: Split
) -> TrainingFrame:
    """Every logged decision with point-in-time features, request features, labels and split."""
    contacts = load_contacts(validated_dir).sort_values(["sent_at", "contact_id"]).reset_index(drop=True)
    if contacts.empty:
        raise ValueError(f"{validated_dir}: the contacts feed is empty; nothing to learn from")
    end = feed_end(validated_dir)
    entity = pd.DataFrame({JOIN_KEY: contacts["customer_id"], TIMESTAMP: contacts["sent_at"].dt.floor("us")})
    feats = historical_features(store, entity)
    columns = customer_feature_columns(feats)
    # request features are computed as if the channel were e-mail for `none` rows, then blanked
    placeholder = contacts["channel"].where(contacts["channel"] != NONE, CHANNELS[0])
    outcome = labels(contacts, end, label_cfg)
    split = assign_split(contacts["sent_at"], end, split_cfg)
    params = estimate_constants(feats, placeholder, contacts["sent_at"], outcome["responded"],
                                (split == "train") & (contacts["channel"] != NONE))  # fmt: skip
    req = pd.concat(
        [request_features(feats.iloc[s], placeholder.iloc[s], contacts["sent_at"].iloc[s], params)
         for s in _pieces(len(feats))]
    )  # fmt: skip
    is_none = (contacts["channel"] == NONE).to_numpy()
    req = req.astype({c: float for c in CHANNEL_SPECIFIC})
    req.loc[is_none, list(CHANNEL_SPECIFIC)] = np.nan
    kept = [c for c in META_COLUMNS if c in contacts]
    tz = ["prf_tz"] if "prf_tz" in feats else []
    listed = {**{c: contacts[c] for c in kept}, **{c: feats[c] for c in [*columns, *tz]},
              **{c: req[c] for c in req}, **{c: outcome[c] for c in outcome},
              ACTION: pd.Series(action_codes(contacts["channel"])), "split": split}  # fmt: skip
    frame = _frame(listed, contacts.index)
    del feats, req, listed
    return TrainingFrame(frame, columns, end, fingerprint(contacts, frame, columns), params)


def _frame(listed: dict[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """The columns as one frame, float64 ones copied once into a single block (a frame built by
    concatenating frames holds two or three copies of a million rows at its peak)."""
    floats = [name for name, values in listed.items() if values.dtype == np.float64]
    block = np.empty((len(floats), len(index)))
    for i, name in enumerate(floats):
        block[i] = listed[name].to_numpy()
    frame = pd.DataFrame(block.T, columns=floats, index=index, copy=False)
    for position, (name, values) in enumerate(listed.items()):
        if values.dtype != np.float64:
            frame.insert(position, name, values.array)
    return frame


def estimate_constants(
    feats: pd.DataFrame, channel: pd.Series, sent_at: pd.Series, responded: pd.Series, rows: pd.Series
) -> RequestParams:
    """The request features' constants estimated on the training weeks' contacts only (the
    validation and test weeks never inform the features they are judged with)."""
    use = (rows & responded.notna()).to_numpy()
    if not use.any():
        return RequestParams()
    feats, channel, sent_at = (x[use].reset_index(drop=True) for x in (feats, channel, sent_at))
    pieces = [constant_candidates(feats.iloc[s], channel.iloc[s], sent_at.iloc[s])
              for s in _pieces(len(feats))]  # fmt: skip
    reach, fatigue, ch, rate = zip(*pieces, strict=True)
    return estimate(_joined(reach), _joined(fatigue), np.concatenate(ch), np.concatenate(rate),
                    responded[use].to_numpy())  # fmt: skip


def _joined(parts: tuple[dict[float, np.ndarray], ...]) -> dict[float, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _pieces(n: int) -> list[slice]:
    """Row slices of PIECE_ROWS: request features build [rows, 2, 24] tables per wait decay, so
    taken whole at a million decisions they would need several GB for a moment."""
    return [slice(lo, lo + PIECE_ROWS) for lo in range(0, max(n, 1), PIECE_ROWS)]
