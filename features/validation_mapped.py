"""Validation of a company's own export through its `feeds.yaml`: map first, then validate the result.

Kept apart from `features.validation` so validating feeds already in the contracts' names never
reads or writes a mapping; both `validate --mapping` and `demo --data --mapping` come through here.
"""

from __future__ import annotations

from pathlib import Path

from features.contract_checks import TableReport
from features.feed_mapping import load_mapping
from features.feed_remap import INPUTS, MappingReport, apply_mapping
from features.validation import validate_feeds
from optichannel.settings import Settings, get_settings


def validate_mapped(
    src_dir: str | Path,
    out_dir: str | Path,
    mapping: str | Path,
    settings: Settings | None = None,
    **options: object,
) -> tuple[dict[str, TableReport], dict[str, MappingReport]]:
    """Map `src_dir` with `mapping` into `out_dir/inputs/`, validate that into `out_dir`; the report
    (`report.json`) says what the mapping set aside, table by table. `options` go to validate_feeds."""
    settings = settings or get_settings()
    spec = load_mapping(mapping)
    out = Path(out_dir)
    mapped = apply_mapping(spec, Path(src_dir), out, settings.validate_piece_rows)
    notes = {"mapping": {"file": str(spec.path), "tables": {n: r.as_dict() for n, r in mapped.items()}}}
    reports = validate_feeds(out / INPUTS, out, settings=settings, notes=notes, **options)  # type: ignore[arg-type]
    return reports, mapped
