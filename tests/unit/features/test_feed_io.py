"""Locating and reading one feed table: Parquet file, directory of parts, or CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.feed_io import FeedError, locate_table, part_files, read_table


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def test_reads_single_parquet_file_with_types(tmp_path: Path) -> None:
    ts = pd.to_datetime(["2026-01-01T10:00:00Z", "2026-01-02T11:30:00Z"])
    _write(pd.DataFrame({"id": ["a", "b"], "amount": [1.5, 2.0], "ts": ts}), tmp_path / "t.parquet")

    frame, path = read_table(tmp_path, "t")

    assert path == tmp_path / "t.parquet"
    assert frame["id"].tolist() == ["a", "b"]
    assert frame["amount"].dtype == "float64"
    assert frame["ts"].tolist() == list(ts)


def test_directory_of_parts_is_one_dataset_in_file_name_order(tmp_path: Path) -> None:
    # written out of order on purpose; nested hive folders add their key as a column
    _write(pd.DataFrame({"id": ["c"], "amount": [3]}), tmp_path / "t" / "month=2" / "part-0.parquet")
    _write(pd.DataFrame({"id": ["b"], "amount": [2.5]}), tmp_path / "t" / "month=1" / "part-1.parquet")
    _write(pd.DataFrame({"id": ["a"], "amount": [1]}), tmp_path / "t" / "month=1" / "part-0.parquet")
    (tmp_path / "t" / "_SUCCESS").write_text("")
    _write(pd.DataFrame({"id": ["hidden"], "amount": [9]}), tmp_path / "t" / ".tmp" / "x.parquet")

    frame, path = read_table(tmp_path, "t")

    assert path == tmp_path / "t"
    assert frame["id"].tolist() == ["a", "b", "c"]
    assert frame["amount"].tolist() == [1.0, 2.5, 3.0]  # int and float parts unified
    assert frame["month"].tolist() == [1, 1, 2]


def test_part_files_sorted_by_relative_name(tmp_path: Path) -> None:
    for name in ("part-0002.parquet", "part-0010.parquet", "part-0001.parquet"):
        _write(pd.DataFrame({"id": [name]}), tmp_path / "t" / name)
    names = [f.name for f in part_files(tmp_path / "t")]
    assert names == ["part-0001.parquet", "part-0002.parquet", "part-0010.parquet"]
    frame, _ = read_table(tmp_path, "t")
    assert frame["id"].tolist() == names


def test_csv_is_read_as_text_with_only_empty_cells_null(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,amount,note\n007,1.50,NA\n008,,\n", encoding="utf-8")

    frame, path = read_table(tmp_path, "t")

    assert path == tmp_path / "t.csv"
    assert frame["id"].tolist() == ["007", "008"]  # no int parsing: leading zeros survive
    assert frame.loc[0, "amount"] == "1.50"
    assert frame.loc[0, "note"] == "NA"  # a literal "NA" is a value, not a null
    assert frame[["amount", "note"]].iloc[1].isna().all()


def test_parquet_file_wins_over_directory_and_csv(tmp_path: Path) -> None:
    _write(pd.DataFrame({"id": ["file"]}), tmp_path / "t.parquet")
    _write(pd.DataFrame({"id": ["part"]}), tmp_path / "t" / "p.parquet")
    (tmp_path / "t.csv").write_text("id\ncsv\n")
    assert locate_table(tmp_path, "t") == tmp_path / "t.parquet"
    assert read_table(tmp_path, "t")[0]["id"].tolist() == ["file"]


def test_missing_table_names_directory_and_table(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"no feed for table 'events'") as err:
        read_table(tmp_path, "events")
    assert str(tmp_path) in str(err.value)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="feed directory does not exist") as err:
        read_table(tmp_path / "nope", "events")
    assert str(tmp_path / "nope") in str(err.value)


def test_unreadable_parquet_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(FeedError, match="cannot read table 't'") as err:
        read_table(tmp_path, "t")
    assert str(tmp_path / "t.parquet") in str(err.value)


def test_empty_parts_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    with pytest.raises(FeedError, match="no parquet part files"):
        read_table(tmp_path, "t")


def test_feed_error_is_a_value_error() -> None:
    assert issubclass(FeedError, ValueError)
