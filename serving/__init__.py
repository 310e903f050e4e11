"""The BentoML service and the batch scorer."""
