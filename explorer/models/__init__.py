"""Networks: the time-conditioned MLP and UNet, the D3PM adapter, the digits classifier net."""
