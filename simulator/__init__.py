"""A synthetic bank with known ground truth: feeds, latent truth and the oracle."""
