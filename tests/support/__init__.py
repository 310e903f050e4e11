"""Helpers shared by test modules (on the test path through pytest's `pythonpath`)."""
