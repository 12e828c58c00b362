"""Drawing: rasterised frames (numpy/Pillow), plotly figure dicts, GIF writing, panels of recorded runs."""
