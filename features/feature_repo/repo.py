"""Entry point for the plain `feast` CLI (`feast -c features/feature_repo plan|apply`).

optichannel's own commands do not go through this file (they call `store.apply` with the
same objects); it exists so Feast's tooling sees the very same definitions. Needs
OPTICHANNEL_FEATURES_DIR (where `optichannel features build` wrote the snapshots).
"""

from features.store_definitions import feast_objects
from optichannel.settings import Settings

_settings = Settings()
_objects = feast_objects(_settings.features_dir, offline=_settings.feast_offline_store)
project, customer = _objects[:2]
next_best_channel_v1 = _objects[-1]
(
    transactions_snapshots,
    behaviour_snapshots,
    contacts_snapshots,
    profile_snapshots,
    customer_transactions,
    customer_behaviour,
    customer_contacts,
    customer_profile,
) = _objects[2:-1]
