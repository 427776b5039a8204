"""Colour-coded label maps (``tfsem.data.colors``, ``data.label_format: colors``,
``--label-format colors``): exact palette colours become ids, anything else is
refused with the file and the pixels."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tfsem.config import ConfigError, DataConfig, ExperimentConfig, config_from_dict
from tfsem.data import toy_streets
from tfsem.data.colors import ColorCodec, label_codec, parse_color, with_label_format
from tfsem.data.labels import LabelSpace, load_label_space
from tfsem.data.pipeline import DataPipeline
from tfsem.data.readers import DataError, list_cityscapes, read_color_label, read_label
from tests.testing import REPO, run_module, tiny_experiment, write_png

CITYSCAPES = load_label_space("cityscapes")
#: toy_streets draws poles (17, the colour of 18 too) and cars (26, the colour of -1 too)
TOY_COLOR_MAP = {"153,153,153": 17, "#00008e": 26}
EXAMPLE = os.path.join(REPO, "examples", "labels", "toy_0_gtFine_labelIds.png")


def _codec(color_map=TOY_COLOR_MAP):
    return ColorCodec(CITYSCAPES, color_map)


def _save_rgb(path, rgb, mode="RGB", **options):
    if mode == "P":  # an exact palette of the map's colours
        colours, index = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
        image = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), "P")
        image.putpalette(colours.astype(np.uint8).ravel().tolist())
    else:
        image = Image.fromarray(rgb).convert(mode)
    image.save(path, **options)
    return str(path)


def test_a_colour_png_reads_as_the_ids_of_its_id_png(tmp_path):
    ids = read_label(EXAMPLE)
    rgb = _codec().to_colors(ids)
    for mode in ("RGB", "RGBA", "P"):
        path = _save_rgb(tmp_path / f"map_{mode}.png", rgb, mode)
        np.testing.assert_array_equal(read_color_label(path, _codec()), ids)


def test_off_palette_pixels_are_refused_with_their_positions(tmp_path):
    rgb = _codec().to_colors(read_label(EXAMPLE))
    rgb[3, 5] = (1, 2, 3)
    rgb[7, 0] = (128, 64, 129)  # one off the road colour (antialiasing)
    path = _save_rgb(tmp_path / "bad.png", rgb)
    with pytest.raises(DataError) as err:
        read_color_label(path, _codec())
    message = str(err.value)
    assert message.startswith(path + ": 2 pixel(s) of")
    assert "(y=3, x=5) #010203" in message and "(y=7, x=0) #804081" in message
    assert "--color-map" in message


def test_colours_shared_by_several_ids_need_a_colour_map(tmp_path):
    path = _save_rgb(tmp_path / "map.png", _codec({}).to_colors(read_label(EXAMPLE)))
    with pytest.raises(DataError, match=r"colours shared by several ids .*#999999 is ids \[17, "
                                        r"18\].*--color-map"):
        read_color_label(path, ColorCodec(CITYSCAPES))
    assert ColorCodec(CITYSCAPES).shared["#000000"] == [0, 1, 2, 3, 4]
    # a map that holds no shared colour needs none
    sky = np.full((4, 4), 23)
    np.testing.assert_array_equal(ColorCodec(CITYSCAPES).to_ids(_codec().to_colors(sky)), sky)


def test_jpeg_and_transparent_pixels_are_refused(tmp_path):
    rgb = _codec().to_colors(read_label(EXAMPLE))
    jpeg = _save_rgb(tmp_path / "map.png", rgb, "RGB", format="JPEG")  # a JPEG named .png
    with pytest.raises(DataError, match="must be a PNG, this is a JPEG .JPEG colours are not exact"):
        read_color_label(jpeg, _codec())
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1)
    rgba[2, 9, 3] = 0
    path = str(tmp_path / "alpha.png")
    Image.fromarray(rgba, "RGBA").save(path)
    with pytest.raises(DataError, match=r"1 transparent pixel\(s\) \(first: y=2, x=9\)"):
        read_color_label(path, _codec())


def test_the_dont_care_id_is_black_and_colour_maps_are_checked():
    space = LabelSpace.from_dict({"name": "s", "dont_care_id": 255, "classes": [
        {"id": 0, "name": "a", "color": [10, 20, 30]}, {"id": 1, "name": "b", "color": [1, 1, 1]}]})
    rgb = np.array([[[0, 0, 0], [10, 20, 30], [1, 1, 1], [9, 9, 9]]], np.uint8)
    np.testing.assert_array_equal(ColorCodec(space, {"#090909": 1}).to_ids(rgb), [[255, 0, 1, 1]])
    assert parse_color("#0a141e") == parse_color("10,20,30") == parse_color([10, 20, 30])
    with pytest.raises(ValueError, match="'#12345' is not a colour"):
        ColorCodec(space, {"#12345": 0})
    with pytest.raises(ValueError, match="maps to 7, not an id of label space 's'"):
        ColorCodec(space, {"#090909": 7})
    with pytest.raises(ValueError, match="--color-map is for colour label maps"):
        label_codec(space, "ids", "map.json")


def test_config_fields_are_checked():
    with pytest.raises(ConfigError, match="data.label_format: 'colors' reads label files"):
        DataConfig(label_format="colors").validate()
    with pytest.raises(ConfigError, match="data.color_map: only with label_format 'colors'"):
        DataConfig(source="folder", root="x", color_map="m.json").validate()
    config = config_from_dict(ExperimentConfig, tiny_experiment())
    with pytest.raises(ConfigError, match="data.label_format: 'colors' reads label files"):
        with_label_format(config, "colors")


def _colour_dataset(tmp_path, n=3, height=32, width=64):
    """The same toy scenes as ids (``ids/``) and as colours (``colors/``, the
    Cityscapes layout with ``*_gtFine_color.png``), and the colour map file."""
    for i in range(n):
        ex = toy_streets.generate(i, height, width, split="train")
        raw = CITYSCAPES.decode(ex["label"])
        for root, name, array in (
                ("ids", f"s_{i:06d}_000019_gtFine_labelIds.png", raw.astype(np.uint8)),
                ("colors", f"s_{i:06d}_000019_gtFine_color.png", _codec().to_colors(raw))):
            write_png(str(tmp_path / root / "gtFine" / "train" / "s" / name), array)
    with open(tmp_path / "map.json", "w") as f:
        json.dump(TOY_COLOR_MAP, f)
    return str(tmp_path / "map.json")


def test_a_colour_dataset_gives_the_batches_of_its_id_dataset(tmp_path):
    color_map = _colour_dataset(tmp_path)
    batches = {}
    for fmt, extra in (("ids", {}), ("colors", {"color_map": color_map})):
        files = list_cityscapes(str(tmp_path / fmt), "train", use_instances=False,
                                load_images=False, label_format=fmt)
        assert [f.key for f in files] == [f"s/s_{i:06d}_000019" for i in range(3)]
        config = DataConfig(source="cityscapes", root=str(tmp_path / fmt), label_format=fmt,
                            use_instances=False, load_images=False, **extra)
        config.validate()
        batches[fmt] = next(iter(DataPipeline(config).dataset(
            training=False, batch_size=3, repeat=False)))["label"].numpy()
    np.testing.assert_array_equal(batches["colors"], batches["ids"])


def test_generate_renders_a_colour_png_as_its_id_png(untrained_gaugan_run, tmp_path):
    with open(tmp_path / "map.json", "w") as f:
        json.dump(TOY_COLOR_MAP, f)
    (tmp_path / "in").mkdir()
    colour = _save_rgb(tmp_path / "in" / "toy_0_gtFine_color.png",
                       _codec().to_colors(read_label(EXAMPLE)))
    common = ("--model", str(untrained_gaugan_run), "--seed", "1")
    ids = run_module("tfsem.generate", *common, "--labels", EXAMPLE, "--out", str(tmp_path / "a"))
    assert ids.returncode == 0, ids.stderr
    colours = run_module("tfsem.generate", *common, "--labels", colour, "--out",
                         str(tmp_path / "b"), "--label-format", "colors", "--color-map",
                         str(tmp_path / "map.json"))
    assert colours.returncode == 0, colours.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a" / "toy_0.png")),
                                  np.asarray(Image.open(tmp_path / "b" / "toy_0.png")))
    refused = run_module("tfsem.generate", *common, "--labels", EXAMPLE, "--out",
                         str(tmp_path / "c"), "--label-format", "colors")
    assert refused.returncode == 2  # a grey id PNG read as colours: off the palette
    assert f"error: {EXAMPLE}: " in refused.stderr and "pixel(s) of" in refused.stderr


def test_evaluate_takes_the_label_format_of_its_data(untrained_gaugan_run):
    result = run_module("tfsem.evaluate", "--model", str(untrained_gaugan_run), "--num", "2",
                        "--label-format", "colors")
    assert result.returncode == 2
    assert "data.label_format: 'colors' reads label files" in result.stderr
