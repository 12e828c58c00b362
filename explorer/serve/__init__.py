"""Serving many users: server limits, the training queue, the app state."""
