"""The one place that knows Feast's private SQLite online-store row format: bulk reads
(`read.py`), bulk writes (`write.py`) and the file-swap materialize (`materialize.py`).

Feast's stock paths build a proto per cell (~80k cells/s to write, ~2 ms to read one customer);
these produce and parse the very same rows with NumPy and one SQL statement. They rely on Feast
internals (`compute_table_id`, the entity-key serialization, the Value proto layout), so they run
only where `fast_path` says so: a SQLite online store, the Feast minor version the byte-identical
tests last passed on (`VERIFIED_FEAST`), and the setting `OPTICHANNEL_FEAST_FAST_PATH` (default
true). Anything else goes through Feast's stock read and materialize, which are always correct.

After bumping Feast: run `pytest -m feast_format` (the byte-identical and same-frame tests; the
suite also runs them first), then move `VERIFIED_FEAST` to the new minor version.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureStore

#: the Feast minor version whose SQLite row format these modules reproduce (tests prove it)
VERIFIED_FEAST = "0.67"
log = logging.getLogger(__name__)
_warned: set[str] = set()


def fast_path(store: FeatureStore, enabled: bool = True) -> bool:
    """True when the bulk SQLite paths may serve this store; otherwise Feast's stock ones."""
    import feast

    if not enabled or not type(store.config.online_store).__name__.lower().startswith("sqlite"):
        return False
    version = ".".join(feast.__version__.split(".")[:2])
    if version != VERIFIED_FEAST:
        if version not in _warned:
            _warned.add(version)
            log.warning(
                "Feast %s is installed but the fast SQLite paths were verified on %s: using Feast's stock "
                "read and materialize until `pytest -m feast_format` passes and VERIFIED_FEAST is moved",
                feast.__version__, VERIFIED_FEAST,
            )  # fmt: skip
        return False
    return True
