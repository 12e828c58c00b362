"""Datasets, one registry: 2D point sets, the bundled 8x8 digits, user images and text.

Everything comes back as torch tensors scaled to about [-1, 1]: points (N, 2), images
(N, C, H, W), categorical data as integer tensors. Every random draw takes an explicit
torch.Generator. `DATASETS` states each dataset's kind before it is loaded.
"""

from explorer.data.images import load_image, quantize
from explorer.data.points import LABELLED, PATTERN_CLASSES, POINT_SETS, PointSet, make_points, spiral_curve
from explorer.data.registry import DATASETS, DatasetInfo, dataset_info
from explorer.data.sklearn_digits import HELD_OUT, digits, digits_levels, sample_digits, split_indices

__all__ = [
    "DATASETS", "HELD_OUT", "LABELLED", "PATTERN_CLASSES", "POINT_SETS", "DatasetInfo", "PointSet", "dataset_info",
    "digits", "digits_levels", "load_image", "make_points", "quantize", "sample_digits", "spiral_curve",
    "split_indices",
]  # fmt: skip
