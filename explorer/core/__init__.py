"""Pure mathematics, torch only: schedules, the Gaussian process and its parametrisations, the ideal
denoiser, the guidance wrapper, and discrete (D3PM) processes. No I/O, no drawing."""
