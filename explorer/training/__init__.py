"""Training runs: their config, objectives, the trainer, reflow pairs, background jobs and the final evaluation."""
