import dataclasses
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from tfsem.config import DataConfig, PreprocessConfig, TFDSConfig
from tfsem.data.pipeline import DataPipeline
from tfsem.data.readers import DataError
from tests.testing import shared_data_dir, toy_data_config


def test_toy_batches_have_the_documented_contract():
    p = DataPipeline(toy_data_config(preprocess=PreprocessConfig(crop_to=(24, 48))))
    batch = next(iter(p.dataset()))
    assert batch["label"].shape == (2, 24, 48) and batch["label"].dtype == tf.int32
    assert batch["instance"].shape == (2, 24, 48) and batch["instance"].dtype == tf.int32
    assert batch["image"].shape == (2, 24, 48, 3) and batch["image"].dtype == tf.float32
    image = batch["image"].numpy()
    assert image.min() >= -1.0 and image.max() <= 1.0 and image.std() > 0.1
    assert p.num_channels == 35


def test_labels_only_dataset():
    p = DataPipeline(toy_data_config(use_instances=False, load_images=False))
    batch = next(iter(p.dataset()))
    assert set(batch) == {"label"}


def test_eval_dataset_is_finite_and_ordered():
    config = toy_data_config()
    a = [b["label"].numpy() for b in DataPipeline(config).dataset(training=False)]
    b = [b["label"].numpy() for b in DataPipeline(config).dataset(training=False)]
    assert len(a) == 4  # 8 examples, batch 2
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_training_stream_is_seeded_and_repeats():
    config = toy_data_config(seed=5, preprocess=PreprocessConfig(crop_to=(16, 16)))
    take = lambda: [b["label"].numpy() for b in DataPipeline(config).dataset().take(6)]  # noqa: E731
    a, b = take(), take()
    assert len(a) == 6  # more than one epoch (4 batches)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_cache_and_max_examples():
    p = DataPipeline(toy_data_config(cache=True, max_examples=3))
    assert p.num_examples() == 3
    assert len(list(p.dataset(training=False, batch_size=1))) == 3


def test_global_batches_split_over_mirrored_replicas():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest configures two logical CPU devices"
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    ds = DataPipeline(toy_data_config(batch_size=4)).dataset()
    dist = strategy.experimental_distribute_dataset(ds)
    batch = next(iter(dist))
    per_replica = strategy.experimental_local_results(batch["label"])
    assert [tuple(t.shape) for t in per_replica] == [(2, 32, 64), (2, 32, 64)]
    assert not np.array_equal(per_replica[0].numpy(), per_replica[1].numpy())


def test_tfds_without_zips_says_what_to_put_where(tmp_path):
    config = DataConfig(source="tfds", use_instances=False,
                        tfds=TFDSConfig(data_dir=str(tmp_path / "tfds"),
                                        manual_dir=str(tmp_path / "manual")))
    with pytest.raises(DataError, match="missing leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip"):
        DataPipeline(config).num_examples()


def _cityscapes_zips(manual, src):
    """Official zips (stored, not compressed) with train/val/test splits of the samples."""
    stems = sorted(f.replace("_leftImg8bit.png", "") for f in os.listdir(os.path.join(src, "train_img")))
    splits = {"train": stems[:4], "val": stems[4:6], "test": stems[6:8]}
    os.makedirs(manual)
    with zipfile.ZipFile(os.path.join(manual, "leftImg8bit_trainvaltest.zip"), "w") as z:
        for split, names in splits.items():
            for stem in names:
                z.write(os.path.join(src, "train_img", f"{stem}_leftImg8bit.png"),
                        f"leftImg8bit/{split}/aachen/{stem}_leftImg8bit.png")
    with zipfile.ZipFile(os.path.join(manual, "gtFine_trainvaltest.zip"), "w") as z:
        for split, names in splits.items():
            for stem in names:
                z.write(os.path.join(src, "train_label", f"{stem}_gtFine_labelIds.png"),
                        f"gtFine/{split}/aachen/{stem}_gtFine_labelIds.png")
    return splits


def test_tfds_cityscapes_from_manual_zips(tmp_path):
    src = os.path.join(shared_data_dir(), "cityscapes_sample")
    manual = str(tmp_path / "manual")
    _cityscapes_zips(manual, src)
    config = DataConfig(source="tfds", split="val", use_instances=False, batch_size=2,
                        tfds=TFDSConfig(data_dir=str(tmp_path / "tfds"), manual_dir=manual),
                        preprocess=PreprocessConfig(resize_to=(64, 128)))
    p = DataPipeline(config)
    assert p.num_examples() == 2
    batch = next(iter(p.dataset(training=False)))
    assert batch["label"].shape == (2, 64, 128) and batch["image"].shape == (2, 64, 128, 3)
    assert set(batch) == {"label", "image"}
    assert (batch["label"].numpy() == 7).mean() > 0.1  # road, as in the labelIds PNGs
    # A second pipeline reuses the prepared data (no manual dir needed any more).
    again = DataPipeline(dataclasses.replace(config, tfds=TFDSConfig(data_dir=str(tmp_path / "tfds"))))
    assert again.num_examples() == 2
