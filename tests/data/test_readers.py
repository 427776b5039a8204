import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tfsem.config import DataConfig, FolderLayoutConfig, PreprocessConfig
from tfsem.data.pipeline import DataPipeline
from tfsem.data.readers import DataError, list_cityscapes, list_folder
from tests.testing import shared_data_dir, write_png


def _cityscapes_official_tree(tmp_path):
    """The official layout built from the sample files (symlinks, nothing copied into the repo)."""
    src = os.path.join(shared_data_dir(), "cityscapes_sample")
    root = tmp_path / "cityscapes"
    for split, take in (("train", slice(0, 6)), ("val", slice(6, 8))):
        for path in sorted(glob.glob(os.path.join(src, "train_img", "*.png")))[take]:
            stem = os.path.basename(path).replace("_leftImg8bit.png", "")
            city = stem.split("_")[0]
            img_dir = root / "leftImg8bit" / split / city
            gt_dir = root / "gtFine" / split / city
            img_dir.mkdir(parents=True, exist_ok=True)
            gt_dir.mkdir(parents=True, exist_ok=True)
            os.symlink(path, img_dir / os.path.basename(path))
            for kind, sub in (("labelIds", "train_label"), ("instanceIds", "train_inst")):
                name = f"{stem}_gtFine_{kind}.png"
                os.symlink(os.path.join(src, sub, name), gt_dir / name)
    return str(root)


def _first(pipeline, **kwargs):
    return next(iter(pipeline.dataset(training=False, batch_size=1, repeat=False, **kwargs)))


def test_cityscapes_sample_in_folder_layout():
    root = os.path.join(shared_data_dir(), "cityscapes_sample")
    files = list_folder(root, "train")
    assert len(files) == 8
    assert files[0].key == "aachen_000000_000019"
    assert files[0].image.endswith("_leftImg8bit.png") and files[0].instance.endswith("instanceIds.png")
    p = DataPipeline(DataConfig(source="folder", root=root,
                                preprocess=PreprocessConfig(resize_to=(128, 256))))
    batch = _first(p)
    assert batch["label"].shape == (1, 128, 256) and batch["label"].dtype == tf.int32
    assert batch["instance"].dtype == tf.int32 and batch["instance"].numpy().max() > 1000
    assert batch["image"].shape == (1, 128, 256, 3)
    labels = batch["label"].numpy()
    assert labels.min() >= 0 and labels.max() <= 33
    assert (labels == 7).mean() > 0.1  # road


def test_cityscapes_full_resolution_matches_the_files():
    from PIL import Image

    root = os.path.join(shared_data_dir(), "cityscapes_sample")
    p = DataPipeline(DataConfig(source="folder", root=root, max_examples=1))
    batch = _first(p)
    raw = np.asarray(Image.open(p.files()[0].label))
    inst = np.asarray(Image.open(p.files()[0].instance)).astype(np.int32)
    np.testing.assert_array_equal(batch["label"].numpy()[0], raw)
    np.testing.assert_array_equal(batch["instance"].numpy()[0], inst)
    assert batch["label"].shape == (1, 1024, 2048)


def test_cityscapes_official_layout(tmp_path):
    root = _cityscapes_official_tree(tmp_path)
    train, val = list_cityscapes(root, "train"), list_cityscapes(root, "val")
    assert len(train) == 6 and len(val) == 2
    assert train[0].key == os.path.join("aachen", "aachen_000000_000019")
    p = DataPipeline(DataConfig(source="cityscapes", root=root, split="val",
                                preprocess=PreprocessConfig(resize_to=(64, 128))))
    assert p.num_examples() == 2
    batches = list(p.dataset(training=False, batch_size=2, repeat=False))
    assert len(batches) == 1 and batches[0]["image"].shape == (2, 64, 128, 3)


def test_coco_stuff_sample_182_classes_plus_unlabeled():
    root = os.path.join(shared_data_dir(), "coco_stuff_sample")
    config = DataConfig(source="folder", root=root, label_space="coco_stuff",
                        preprocess=PreprocessConfig(resize_to=(64, 64)))
    p = DataPipeline(config)
    assert p.num_examples() == 13 and p.num_channels == 183
    seen = set()
    for batch in p.dataset(training=False, batch_size=4, repeat=False):
        seen |= set(np.unique(batch["label"].numpy()).tolist())
    assert 182 in seen  # 255 (unlabeled) -> its own channel
    assert max(seen) <= 182 and min(seen) >= 0
    zero = DataPipeline(dataclasses.replace(config, dont_care="zero"))
    assert zero.num_channels == 182
    batch = next(iter(zero.dataset(training=False, batch_size=13, repeat=False)))
    assert -1 in np.unique(batch["label"].numpy())  # 255 -> all-zero one-hot


def test_ade20k_layout_via_folder_templates(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(str(tmp_path / "annotations" / "training" / f"ADE_{i}.png"),
                  rng.integers(0, 151, (24, 32), dtype=np.uint8))
        write_png(str(tmp_path / "images" / "training" / f"ADE_{i}.jpg"),
                  rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    config = DataConfig(source="folder", root=str(tmp_path), split="training", label_space="ade20k",
                        use_instances=False,
                        folders=FolderLayoutConfig(label_dir="annotations/{split}",
                                                   image_dir="images/{split}"))
    p = DataPipeline(config)
    assert p.num_examples() == 3 and p.num_channels == 151
    assert _first(p)["image"].shape == (1, 24, 32, 3)


# -- bad data ----------------------------------------------------------------

def _folder(tmp_path, n=2, size=(16, 24), ids=(0, 7)):
    rng = np.random.default_rng(1)
    for i in range(n):
        write_png(str(tmp_path / "train_label" / f"x{i}.png"),
                  rng.choice(np.array(ids, np.uint8), size))
        write_png(str(tmp_path / "train_img" / f"x{i}.png"),
                  rng.integers(0, 255, size + (3,), dtype=np.uint8))
    return DataConfig(source="folder", root=str(tmp_path), use_instances=False)


def _error(config):
    with pytest.raises((DataError, tf.errors.OpError)) as err:
        p = DataPipeline(config)
        list(p.dataset(training=False, repeat=False))
    return getattr(err.value, "message", None) or str(err.value)


def test_label_without_image_and_image_without_label(tmp_path):
    config = _folder(tmp_path)
    os.remove(tmp_path / "train_img" / "x1.png")
    assert "x1.png: label map has no image (looked in" in _error(config)
    write_png(str(tmp_path / "train_img" / "x1.png"), np.zeros((16, 24, 3), np.uint8))
    os.remove(tmp_path / "train_label" / "x0.png")
    assert "train_img/x0.png: image has no label map (looked in" in _error(config)


def test_corrupt_png_is_named(tmp_path):
    config = _folder(tmp_path)
    (tmp_path / "train_label" / "x1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    message = _error(config)
    assert "train_label/x1.png: cannot decode image file" in message


def test_size_mismatch_is_named(tmp_path):
    config = _folder(tmp_path)
    write_png(str(tmp_path / "train_img" / "x0.png"), np.zeros((8, 8, 3), np.uint8))
    assert "train_img/x0.png: image is 8x8 but its label map" in _error(config)


def test_ids_outside_label_space_are_named(tmp_path):
    config = _folder(tmp_path, ids=(7, 40))
    message = _error(config)
    assert "train_label/x0.png: label ids outside the 'cityscapes' label space: 40" in message


def test_colour_label_png_is_rejected(tmp_path):
    config = _folder(tmp_path)
    write_png(str(tmp_path / "train_label" / "x0.png"), np.zeros((16, 24, 3), np.uint8))
    assert "must be a single-channel id map" in _error(config)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="train_label: label folder not found"):
        DataPipeline(DataConfig(source="folder", root=str(tmp_path))).files()
    with pytest.raises(DataError, match="gtFine/train: Cityscapes gtFine/<split> folder not found"):
        DataPipeline(DataConfig(source="cityscapes", root=str(tmp_path))).files()


def test_skip_mode_counts_bad_files(tmp_path):
    config = _folder(tmp_path, n=5)
    (tmp_path / "train_label" / "x1.png").write_bytes(b"broken")
    write_png(str(tmp_path / "train_img" / "x3.png"), np.zeros((8, 8, 3), np.uint8))
    write_png(str(tmp_path / "train_label" / "orphan.png"), np.zeros((16, 24), np.uint8))
    p = DataPipeline(dataclasses.replace(config, on_bad_file="skip"))
    batches = list(p.dataset(training=False, batch_size=1, repeat=False))
    assert len(batches) == 3  # x0, x2, x4; x1 and x3 are bad, orphan.png has no image
    bad = sorted(os.path.basename(path) for path, _ in p.bad_files)
    assert bad == ["orphan.png", "x1.png", "x3.png"]


def test_skip_mode_counts_each_bad_file_once_and_says_when_none_is_left(tmp_path):
    config = _folder(tmp_path, n=3)
    (tmp_path / "train_label" / "x1.png").write_bytes(b"broken")
    p = DataPipeline(dataclasses.replace(config, on_bad_file="skip"))
    batches = list(p.dataset(training=True, batch_size=1).take(8))  # several epochs
    assert len(batches) == 8
    assert [os.path.basename(path) for path, _ in p.bad_files] == ["x1.png"]
    for name in ("x0.png", "x2.png"):
        (tmp_path / "train_label" / name).write_bytes(b"broken")
    p = DataPipeline(dataclasses.replace(config, on_bad_file="skip"))
    with pytest.raises(tf.errors.OpError, match="all 3 examples failed to load"):
        next(iter(p.dataset(training=True, batch_size=1)))
