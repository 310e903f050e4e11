"""Datasets, LightGBM models, Optuna tuning, MLflow logging and promotion."""
