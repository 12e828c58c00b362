"""Diffusion explorer: the core (schedules, data, processes, samplers) behind the app and CLI."""

__version__ = "0.1.0"
