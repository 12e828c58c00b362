"""What a tab or a command computes: forward, reverse, compare, latent, flow, guidance sweep, discrete."""
