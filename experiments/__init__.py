"""A/B design, assignment, analysis, off-policy evaluation and reports."""
