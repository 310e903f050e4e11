"""Learning a targeting policy from a randomised A/B table: the learners and the choice
(`learn`), their value on held-out folds (`value`), the ranking curves (`ranking`) and the
files and HTML report a marketer reads (`outputs`)."""
