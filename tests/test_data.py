"""Datasets: the spiral's definition, every point set's shape and seeding, digits, uploads."""

import math

import pytest
import torch

from explorer import data
from explorer.data import points
from tests.images import write_huge_png_header, write_png


def test_spiral_points_lie_on_the_curve(generator):
    x = data.make_points("spiral", 5000, 0.0, generator).x.double()
    # invert the normalisation: the radius of (x, y) - shift is theta / (4 pi)
    theta = torch.linalg.norm(x - points.SPIRAL_SHIFT, dim=1) / points.SPIRAL_SCALE
    assert theta.min() >= points.SPIRAL_T_MIN - 1e-4 and theta.max() <= points.SPIRAL_T_MAX + 1e-4
    torch.testing.assert_close(data.spiral_curve(theta), x, atol=2e-6, rtol=0)


def test_spiral_normalisation_maps_to_unit_square():
    curve = data.spiral_curve(torch.linspace(points.SPIRAL_T_MIN, points.SPIRAL_T_MAX, 200_001, dtype=torch.float64))
    lo, hi = curve.min(0).values, curve.max(0).values
    # y spans [-1, 1]: t = 3.5 pi gives -3.5 pi / (4 pi) - 1/8 = -1 and t = 4.5 pi gives +1; the
    # true extremes sit just past those angles (-1.0036, +1.0018). x spans about [-0.879, 0.878]
    assert lo[1].item() == pytest.approx(-1.0, abs=4e-3)
    assert hi[1].item() == pytest.approx(1.0, abs=2e-3)
    assert data.spiral_curve(torch.tensor([3.5 * math.pi]))[0, 1].item() == pytest.approx(-1.0)
    assert data.spiral_curve(torch.tensor([4.5 * math.pi]))[0, 1].item() == pytest.approx(1.0)
    assert lo[0].item() == pytest.approx(-0.879, abs=2e-3) and hi[0].item() == pytest.approx(0.878, abs=2e-3)


@pytest.mark.parametrize("name", sorted(data.POINT_SETS))
def test_point_sets_shape_range_and_seed(name):
    a = data.make_points(name, 1000, 0.0, torch.Generator().manual_seed(7))
    b = data.make_points(name, 1000, 0.0, torch.Generator().manual_seed(7))
    c = data.make_points(name, 1000, 0.0, torch.Generator().manual_seed(8))
    assert a.x.shape == (1000, 2) and a.x.dtype == torch.float32 and a.color.shape == (1000,)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert a.x.abs().max() <= 1.25
    assert ((a.color >= 0) & (a.color <= 1)).all()


def test_point_set_geometry(generator):
    board = data.make_points("checkerboard", 4000, 0.0, generator).x
    cells = torch.floor((board + 1) * 2).long()
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all(), "only the dark squares"
    assert len({tuple(c) for c in cells.tolist()}) == 8
    radii = torch.linalg.norm(data.make_points("rings", 3000, 0.0, generator).x, dim=1)
    nearest = torch.tensor([1 / 3, 2 / 3, 1.0])[
        torch.argmin((radii[:, None] - torch.tensor([1 / 3, 2 / 3, 1.0])).abs(), 1)
    ]
    torch.testing.assert_close(radii, nearest)
    blobs = data.make_points("eight_gaussians", 8000, 0.0, generator).x
    assert torch.linalg.norm(blobs, dim=1).mean().item() == pytest.approx(0.8, abs=0.01)


def test_noise_adds_gaussian_jitter():
    clean = data.make_points("rings", 10000, 0.0, torch.Generator().manual_seed(3)).x
    noisy = data.make_points("rings", 10000, 0.1, torch.Generator().manual_seed(3)).x
    jitter = noisy - clean
    assert jitter.std().item() == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize("n, noise, message", [(0, 0.0, "number of points"), (10**6, 0.0, "number of points"),
                                               (10, float("nan"), "noise"), (10, -1.0, "noise")])  # fmt: skip
def test_point_limits(n, noise, message, generator):
    with pytest.raises(ValueError, match=message):
        data.make_points("spiral", n, noise, generator)


def test_digits():
    images, labels = data.digits()
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert images.min().item() == -1.0 and images.max().item() == 1.0
    assert len(torch.unique(images)) == 17
    levels, _ = data.digits_levels()
    assert levels.dtype == torch.int64 and levels.max().item() == 16
    picked, _ = data.sample_digits(16, torch.Generator().manual_seed(0))
    assert picked.shape == (16, 1, 8, 8)


def test_load_image_crops_resizes_and_scales(tmp_path):
    path = write_png(tmp_path / "wide.png", 100, 50)
    rgb = data.load_image(path, 32)
    grey = data.load_image(path, 16, grey=True)
    assert rgb.shape == (1, 3, 32, 32) and grey.shape == (1, 1, 16, 16)
    assert rgb.min() >= -1 and rgb.max() <= 1 and rgb.std() > 0.2


def test_load_image_refuses_bad_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(ValueError, match="not an image"):
        data.load_image(text, 32)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        data.load_image(empty, 32)
    with pytest.raises(ValueError, match="the limit is 16,777,216 pixels"):
        data.load_image(write_huge_png_header(tmp_path / "bomb.png"), 32)  # 400 M: Pillow's guard
    with pytest.raises(ValueError, match="5000x5000 pixels; the limit is 16,777,216 pixels"):
        data.load_image(write_huge_png_header(tmp_path / "big.png", 5000, 5000), 32)  # ours
    with pytest.raises(ValueError, match="missing"):
        data.load_image(tmp_path / "nowhere.png", 32)
    with pytest.raises(ValueError, match="image size"):
        data.load_image(write_png(tmp_path / "ok.png"), 100000)


def test_registry_kinds():
    assert {info.kind for info in data.DATASETS.values()} <= {"points", "image", "categorical"}
    assert data.dataset_info("spiral").kind == "points"
    with pytest.raises(ValueError, match="unknown dataset"):
        data.dataset_info("mnist")
    assert math.isclose(points.SPIRAL_SCALE, 1 / (4 * math.pi))
