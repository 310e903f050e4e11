"""Raw-feed validation, feature computation, the Feast repo and feature retrieval."""
