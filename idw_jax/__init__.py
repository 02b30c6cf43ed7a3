"""idw-jax: multi-interest sequential recommendation with Iterative Density Weighting."""
