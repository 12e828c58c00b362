"""Discrete-state diffusion (D3PM, Austin et al. 2021): the process and its losses."""
