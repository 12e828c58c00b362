"""Checkpoints on disk and the model registry that loads them."""
