"""Samplers over a model: timestep spacings, the Gaussian samplers and their registry, the D3PM sampler, inversion."""
