"""Process-wide settings, read from `OPTICHANNEL_*` environment variables (or `.env`).

Built lazily through `get_settings()` so importing a module never touches the
environment or the file system.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from optichannel.channels import DEFAULT_ALLOWED_HOURS, Channel

#: which days `features build` writes snapshots for (features/snapshot_grid.py)
SnapshotGrid = Literal["daily", "decisions"]


#: the share of explored decisions drawn uniformly (the rest by value under uncertainty): enough
#: for every option to keep a propensity that off-policy evaluation can use
EXPLORATION_UNIFORM = 0.3


class Settings(BaseSettings):
    """Everything a deployment may want to change without touching code."""

    model_config = SettingsConfigDict(env_prefix="OPTICHANNEL_", env_file=".env", extra="ignore")

    profile: Literal["local", "production"] = Field(
        "local", description="local: files, SQLite, DuckDB; production: Redis, PostgreSQL, remote MLflow"
    )
    data_dir: Path = Field(Path("data"), description="root of feeds, validated tables, features, store")
    seed: int = Field(7, description="default random seed for simulation, training and experiments")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default sqlite:///<repo>/mlflow/mlflow.db"
    )
    show_progress: bool = Field(True, description="rich progress bars on long steps")
    redis_url: str = Field("127.0.0.1:6379,db=0", description="production online store (Feast Redis string)")
    feast_registry_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/optichannel", description="production Feast registry"
    )
    feast_offline_store: Literal["duckdb", "spark"] = Field(
        "duckdb", description="offline store: duckdb (local) or spark (production at scale; needs pyspark)"
    )
    spark_master: str = Field(
        "local[*]",
        description="Spark master for `features build --engine spark` and Feast's Spark offline store "
        "(local[*], spark://host:7077, yarn, k8s://...)",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description='extra Spark settings for both (JSON), e.g. {"spark.executor.memory": "8g"}',
    )
    feast_fast_path: bool = Field(
        True,
        description="bulk SQLite online read and materialize (features/feast_sqlite); false = Feast's stock",
    )
    quiet_hours: dict[Channel, tuple[int, int]] = Field(
        default_factory=lambda: dict(DEFAULT_ALLOWED_HOURS),
        description="customer-local hours [start, end) each channel may be used (JSON): every decision "
        "and every judge of one (gate, evaluation, OPE, simulations) keeps to them; plans may narrow",
    )
    count_handed_out: bool = Field(
        True, description="marketing decisions the service hands out count toward the frequency cap"
    )
    plans: list[Path] = Field(
        default_factory=list, description="campaign plans the service loads (JSON list of YAML paths)"
    )
    capacity_counter_path: Path | None = Field(
        None, description="local profile's live campaign counters; default beside the decision log"
    )
    dask_scheduler: str | None = Field(
        None,
        description="`optichannel train` fits its final models with lightgbm.dask on this scheduler "
        "(tcp://host:8786; `local` = an in-process 2-worker cluster); unset = in this process",
    )
    model_alias: str = Field("champion", description="registry alias the service and scorer load")
    api_token: str | None = Field(
        None,
        description="/predict* and /outcomes require `Authorization: Bearer <token>` when set; the "
        "production profile refuses to start without it",
    )
    exploration: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of explored decisions (propensity returned); 0 = off"
    )
    exploration_uniform: float = Field(
        EXPLORATION_UNIFORM,
        ge=0.0,
        le=1.0,
        description="share of explored decisions drawn uniformly over every allowed option; the rest "
        "is drawn by value at the customer's own uncertainty (cheap where the model knows the customer)",
    )
    serve_workers: int = Field(
        2, ge=1, description="service worker processes (each a full copy of the model)"
    )
    serve_max_batch: int = Field(
        64, ge=1, description="most /predict requests one worker decides together (micro-batching)"
    )
    serve_batch_wait_ms: float = Field(
        0.0, ge=0.0, le=50.0, description="how long a lone request may wait for others to batch with (ms)"
    )
    serve_timeout_s: float = Field(
        25.0,
        gt=0.0,
        lt=30.0,
        description="a decision not answered within this many seconds is refused (503) and undone: "
        "nothing booked, nothing logged (under BentoML's 30 s timeout, whose 504 would not undo it)",
    )
    tracing: bool = Field(
        False, description="OpenTelemetry spans for /predict* (configure BentoML's exporter to send them)"
    )
    access_log: bool = Field(
        False, description="per-request access lines (the decision log already records every answer)"
    )
    features_dir_path: Path | None = Field(
        None,
        validation_alias="OPTICHANNEL_FEATURES_DIR",
        description="feature snapshots; default <data_dir>/features (Feast's own CLI reads this too)",
    )
    validate_piece_rows: int = Field(
        500_000,
        ge=1,
        description="rows `validate` checks at a time: its peak memory follows this, not the feeds",
    )
    validate_workers: int = Field(
        1,
        ge=1,
        description="processes `validate` checks a feed's pieces in: 2 on 2 cores was 16% faster at "
        "100,000 customers, but each worker holds its own pieces (more memory)",
    )
    feature_bucket_rows: int = Field(
        500_000,
        ge=1,
        description="customer-days `features build` computes at a time (customers split by a hash)",
    )
    feature_snapshots: SnapshotGrid = Field(
        "daily",
        description="`features build`'s snapshot days: `daily` (any time can be read) or `decisions` "
        "(each customer's logged-decision days and the newest day: training frames and serving read "
        "the same values from a fraction of the rows; reads at other past times are refused)",
    )
    materialize_chunk_customers: int = Field(
        100_000, ge=1, description="customers `features materialize` encodes and writes at a time"
    )
    duckdb_memory_limit: str = Field(
        "1GB",
        description="DuckDB's memory in batch steps (features build, materialize, duplicate ids); "
        "past it, DuckDB spills to the spill directory",
    )
    duckdb_threads: int | None = Field(
        None, ge=1, description="DuckDB threads in batch steps; default all cores"
    )
    spill_dir_path: Path | None = Field(
        None,
        validation_alias="OPTICHANNEL_SPILL_DIR",
        description="where batch steps spill; default <data_dir>/spill",
    )
    decision_log_path: Path | None = Field(
        None, description="SQLite decision log; default <data_dir>/decisions/decisions.sqlite"
    )
    decision_log_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/optichannel",
        description="production profile's decision log and outcomes (PostgreSQL, shared by replicas)",
    )

    @property
    def world_dir(self) -> Path:
        """Where `optichannel simulate` writes the simulated bank by default."""
        return self.data_dir / "world"

    @property
    def features_dir(self) -> Path:
        """Where `optichannel features build` writes the daily snapshot Parquet per family."""
        return self.features_dir_path or self.data_dir / "features"

    @property
    def feast_dir(self) -> Path:
        """Local profile's Feast registry and SQLite online store."""
        return self.data_dir / "feast"

    @property
    def decision_log(self) -> Path:
        """Where the service appends every decision it gives."""
        return self.decision_log_path or self.data_dir / "decisions" / "decisions.sqlite"

    @property
    def decision_store(self) -> Path | str:
        """Where decisions and outcomes are kept: the SQLite file, or in production the database URL."""
        return self.decision_log_url if self.profile == "production" else self.decision_log

    @property
    def handed_out(self) -> Path:
        """Where the local profile keeps the marketing contacts handed out (production: Redis)."""
        return self.decision_log.parent / "handed_out.sqlite"

    @property
    def capacity_counter(self) -> Path:
        """Where the local profile's campaign counters live (production: Redis)."""
        return self.capacity_counter_path or self.decision_log.parent / "capacity.sqlite"

    @property
    def spill_dir(self) -> Path:
        """Where DuckDB spills what exceeds its memory limit (emptied when each step ends)."""
        return self.spill_dir_path or self.data_dir / "spill"

    @property
    def validated_dir(self) -> Path:
        """Where `optichannel validate` writes accepted tables, quarantine and report."""
        return self.data_dir / "validated"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (cached; call `get_settings.cache_clear()` in tests)."""
    return Settings()
