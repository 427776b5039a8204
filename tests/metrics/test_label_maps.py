"""Label-map metrics on hand-made maps with known answers."""

import numpy as np
import pytest

from tfsem.metrics import label_maps as M


def test_valid_pixel_fraction():
    maps = np.array([[[0, 1], [2, 5]]])
    assert M.valid_pixel_fraction(maps, 3) == 0.75
    assert M.valid_pixel_fraction(np.array([[[-1, 0]]]), 3) == 0.5
    with pytest.raises(ValueError, match="integer maps"):
        M.valid_pixel_fraction(np.zeros((2, 2), np.float32), 3)


def test_nearest_palette_and_color_validity():
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8)
    image = np.array([[[0, 0, 0], [250, 5, 0], [100, 0, 0], [0, 0, 200]]], np.uint8)[None]
    index, distance = M.nearest_palette_index(image, palette)
    assert index.tolist() == [[[0, 1, 0, 2]]]
    np.testing.assert_allclose(distance[0, 0], [0.0, np.sqrt(50), 100.0, 55.0])
    assert M.color_validity(image, palette, tolerance=10) == 0.5  # exact + (250,5,0)
    # float images in [-1, 1] are read as (x + 1) * 127.5
    assert M.nearest_palette_index(np.array([[[1.0, -1.0, -1.0]]]), palette)[0].tolist() == [[1]]
    # a tie (midway between black and red) goes to the lower class index
    assert M.nearest_palette_index(np.array([[[127.5 / 127.5 - 1, -1, -1]]]), palette)[0][0, 0] == 0


def test_class_frequencies_and_tv_distance():
    a = np.array([[[0, 0], [1, 1]]])
    b = np.array([[[0, 0], [0, 0]]])
    np.testing.assert_allclose(M.class_frequencies(a, 3), [0.5, 0.5, 0.0])
    assert M.class_tv_distance(a, b, 3) == pytest.approx(0.5)
    assert M.class_tv_distance(a, a, 3) == 0.0
    assert M.class_tv_distance(np.zeros((1, 2, 2), int), np.full((1, 2, 2), 2), 3) == 1.0


def test_region_statistics_four_connectivity():
    label = np.array([[1, 0, 1],
                      [0, 1, 0],
                      [1, 1, 0]])
    stats = M.region_statistics(label[None], 2)
    # class 1: (0,0), (0,2) and the L of (1,1),(2,0),(2,1): diagonal pixels do not connect
    assert stats[1]["regions_per_map"] == 3
    assert stats[1]["mean_region_size"] == pytest.approx(5 / 3)
    # class 0: (0,1),(1,0) are separate; (1,2),(2,2) one region
    assert stats[0]["regions_per_map"] == 3
    # two maps: regions per map is a mean over maps, including maps without the class
    two = M.region_statistics(np.stack([label, np.zeros_like(label)]), 2)
    assert two[1]["regions_per_map"] == 1.5 and two[0]["regions_per_map"] == 2.0


def test_isolated_pixel_fraction():
    label = np.zeros((4, 4), int)
    assert M.isolated_pixel_fraction(label[None]) == 0.0
    label[1, 1] = 1  # one isolated pixel
    label[0, 3] = 2  # an isolated corner pixel (2 neighbours, both 0)
    assert M.isolated_pixel_fraction(label[None]) == 2 / 16
    label[2, 1] = 1  # now (1,1) and (2,1) are a 2-pixel region: not isolated
    assert M.isolated_pixel_fraction(label[None]) == 1 / 16
    checker = np.indices((4, 4)).sum(0) % 2
    assert M.isolated_pixel_fraction(checker[None]) == 1.0


def test_pairwise_difference():
    a, b = np.zeros((2, 2), int), np.array([[0, 1], [1, 1]])
    assert M.pairwise_difference(np.stack([a, a])) == 0.0
    assert M.pairwise_difference(np.stack([a, b])) == 0.75
    assert M.pairwise_difference(np.stack([a, a, b])) == pytest.approx((0 + 0.75 + 0.75) / 3)
    assert np.isnan(M.pairwise_difference(a[None]))


def test_label_map_report_side_by_side():
    data = np.zeros((2, 4, 4), int)
    data[:, 2:] = 1
    generated = data.copy()
    generated[0, 0, 0] = 1  # one stray pixel: isolated, one more region
    report = M.label_map_report(generated, data, 2, names=["sky", "road"])
    assert report["valid_pixel_fraction"] == 1.0
    assert report["class_tv_distance"] == pytest.approx(1 / 32)
    assert report["isolated_pixel_fraction"] == pytest.approx(1 / 32)
    assert report["data_isolated_pixel_fraction"] == 0.0
    assert report["regions_per_map"] == 2.5 and report["data_regions_per_map"] == 2.0
    assert report["per_class"]["road"]["regions_per_map"] == 1.5
    assert "color_validity" not in report
    colors = np.zeros((2, 4, 4, 3), np.uint8)
    report = M.label_map_report(generated, data, 2, generated_colors=colors,
                                palette=[[0, 0, 0], [255, 255, 255]])
    assert report["color_validity"] == 1.0
    with pytest.raises(ValueError, match="palette"):
        M.label_map_report(generated, data, 2, generated_colors=colors)
