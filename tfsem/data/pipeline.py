"""tf.data pipelines yielding ``{"label", "instance", "image"}`` dicts.

``DataPipeline(config.data)`` knows where examples come from (toy_streets,
Cityscapes layout, pix2pixHD/SPADE folders, TFDS) and builds batched datasets:

* ``label``    int32 [B, H, W]  class indices of the label space
  (don't-care handled as ``config.dont_care`` says),
* ``instance`` int32 [B, H, W]  raw instance ids (when ``use_instances``),
* ``image``    float32 [B, H, W, 3] in [-1, 1] (when ``load_images``).

Decoding runs in parallel ``tf.numpy_function`` calls so that any bad file is
reported by name; with ``on_bad_file="skip"`` such files are skipped, warned
about and counted in ``pipeline.bad_files``. Batches use the GLOBAL batch
size, so the dataset can be passed to
``strategy.experimental_distribute_dataset``; auto-sharding is set to DATA
because examples are not read by TF file readers.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfsem.config import DataConfig
from tfsem.data import readers, toy_streets
from tfsem.data.colors import label_codec
from tfsem.data.labels import LabelSpace, load_label_space
from tfsem.data.preprocess import MAP_KEYS, PHOTO_KEYS, augment, lookup_class_indices

__all__ = ["DataPipeline", "build_dataset"]

log = logging.getLogger("tfsem.data")

_TFDS_ZIPS = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")


#: the splits of the built-in toy_streets data (any other name is a typo)
TOY_SPLITS = ("train", "val", "test")


class DataPipeline:
    """Builds tf.data datasets for one split of the configured data source.

    Args:
        config: the ``data`` section of an experiment config.
        split: the split to read; defaults to ``config.split``.
    """

    def __init__(self, config: DataConfig, split: Optional[str] = None):
        config.validate("data")
        self.config = config
        self.split = split or config.split
        if config.source == "toy_streets" and self.split not in TOY_SPLITS:
            raise ValueError(f"split {self.split!r}: toy_streets has the splits "
                             f"{', '.join(TOY_SPLITS)}")
        self.label_space: LabelSpace = load_label_space(config.label_space)
        self.num_channels = self.label_space.num_channels(config.dont_care)
        #: photo-to-photo (``data.input: image``): examples hold an ``input`` photo
        #: (and, from toy_streets, the scene's ``label`` map, for scoring)
        self.photo_input = config.input == "image"
        #: colour label maps -> ids (``data.label_format: colors``), or None
        self.color_codec = label_codec(self.label_space, config.label_format, config.color_map)
        #: (path, reason) of every file skipped with ``on_bad_file="skip"``.
        self.bad_files: List[Tuple[str, str]] = []
        self._lock = threading.Lock()
        self._files: Optional[List[readers.ExampleFiles]] = None
        self._tfds_builder = None

    # -- what is there ----------------------------------------------------
    @property
    def has_instances(self) -> bool:
        return self.config.use_instances

    @property
    def has_images(self) -> bool:
        return self.config.load_images

    def files(self) -> List[readers.ExampleFiles]:
        """The example files of a file-based source (sorted; ``max_examples`` applied)."""
        if self._files is None:
            cfg, root = self.config, self.config.resolved_root()
            kwargs = dict(use_instances=cfg.use_instances, load_images=cfg.load_images,
                          on_bad_file=cfg.on_bad_file, bad_files=self.bad_files)
            if self.photo_input:
                files = readers.list_photo_pairs(
                    root, self.split, cfg.folders.input_dir, cfg.folders.target_dir,
                    on_bad_file=cfg.on_bad_file, bad_files=self.bad_files)
            elif cfg.source == "cityscapes":
                files = readers.list_cityscapes(root, self.split, **kwargs,
                                                label_format=cfg.label_format)
            elif cfg.source == "folder":
                folders = cfg.folders
                files = readers.list_folder(root, self.split, **kwargs,
                                            label_dir=folders.label_dir,
                                            image_dir=folders.image_dir,
                                            instance_dir=folders.instance_dir)
            else:
                raise ValueError(f"data.source {cfg.source!r} is not file based")
            for path, reason in self.bad_files:
                log.warning("skipping %s: %s", path, reason)
            self._files = files[: cfg.max_examples] if cfg.max_examples else files
        return self._files

    def num_examples(self) -> int:
        """Examples in the split (before skipping files that fail to decode)."""
        cfg = self.config
        if cfg.source == "toy_streets":
            n = cfg.toy.num_examples
        elif cfg.source == "tfds":
            n = self._tfds().info.splits[self._tfds_split()].num_examples
        else:
            return len(self.files())
        return min(n, cfg.max_examples) if cfg.max_examples else n

    # -- datasets -----------------------------------------------------------
    def examples(self, shuffle: bool = False) -> tf.data.Dataset:
        """Unbatched, un-augmented examples at their stored resolution.

        ``image`` is uint8 here; :meth:`dataset` converts it to [-1, 1].
        With ``shuffle``, the order is shuffled before decoding (cheap indices,
        not decoded images), reshuffled each epoch.
        """
        cfg = self.config
        if cfg.source == "toy_streets":
            ds = self._toy_examples(shuffle)
        elif cfg.source == "tfds":
            ds = self._tfds_examples(shuffle)
        else:
            ds = self._file_examples(shuffle)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        return ds.with_options(options)

    def dataset(
        self,
        training: bool = True,
        batch_size: Optional[int] = None,
        repeat: Optional[bool] = None,
        drop_remainder: Optional[bool] = None,
    ) -> tf.data.Dataset:
        """Batched, preprocessed examples.

        Args:
            training: shuffle (if configured), random crop and flip.
            batch_size: global batch size; defaults to ``config.batch_size``.
            repeat: repeat forever; defaults to ``training``.
            drop_remainder: defaults to ``training`` (static batch shape for
                tf.distribute and compiled train steps).
        """
        cfg = self.config
        batch_size = batch_size or cfg.batch_size
        repeat = training if repeat is None else repeat
        drop_remainder = training if drop_remainder is None else drop_remainder
        shuffle = training and cfg.shuffle
        ds = self.examples(shuffle=shuffle and not cfg.cache)
        if cfg.cache:
            ds = ds.cache()
        if shuffle and (cfg.cache or cfg.source == "tfds"):
            ds = ds.shuffle(cfg.shuffle_buffer, seed=cfg.seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        seeds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))
        out_size = cfg.preprocess.output_size()

        def prepare(example, seed):
            example = augment(example, cfg.preprocess, training, seed)
            if out_size is not None:
                for key in MAP_KEYS + PHOTO_KEYS:
                    if key in example:
                        example[key] = tf.ensure_shape(
                            example[key], list(out_size) + example[key].shape[2:])
            return example

        ds = ds.map(prepare, num_parallel_calls=self._parallel())
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.prefetch(tf.data.AUTOTUNE)

    # -- sources --------------------------------------------------------------
    def _parallel(self):
        return self.config.num_parallel_calls or tf.data.AUTOTUNE

    def _keys(self) -> List[str]:
        """The keys of an example, in the order the readers give them."""
        if self.photo_input:
            return (["label"] if self.config.source == "toy_streets" else []) + ["input", "image"]
        return ["label"] + (["instance"] if self.has_instances else []) + (
            ["image"] if self.has_images else [])

    def _signature(self):
        return [tf.TensorSpec([None, None, 3], tf.uint8) if key in ("input", "image")
                else tf.TensorSpec([None, None], tf.int32) for key in self._keys()]

    def _pack(self, values) -> Dict[str, tf.Tensor]:
        keys = self._keys()
        out = {}
        for key, value, spec in zip(keys, values, self._signature()):
            value.set_shape(spec.shape)
            out[key] = value
        return out

    def _indices(self, n: int, shuffle: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.range(n)
        if shuffle:
            ds = ds.shuffle(n, seed=self.config.seed, reshuffle_each_iteration=True)
        return ds

    def _toy_examples(self, shuffle: bool) -> tf.data.Dataset:
        cfg, toy = self.config, self.config.toy
        table = self.label_space.raw_to_index_table(cfg.dont_care)

        def make(index):
            ex = toy_streets.generate(int(index), toy.height, toy.width, toy.seed, self.split,
                                         toy.appearance)
            out = [table[ex["label"]]]
            if self.photo_input:
                return out + [toy_streets.degrade(ex["image"]), ex["image"]]
            if self.has_instances:
                out.append(ex["instance"])
            if self.has_images:
                out.append(ex["image"])
            return out

        dtypes = [s.dtype for s in self._signature()]
        ds = self._indices(self.num_examples(), shuffle)
        return ds.map(lambda i: self._pack(tf.numpy_function(make, [i], dtypes, stateful=False)),
                      num_parallel_calls=self._parallel(), deterministic=True)

    def _file_examples(self, shuffle: bool) -> tf.data.Dataset:
        files = self.files()
        if not files:
            raise readers.DataError(self.config.resolved_root() or "", "no usable examples found")
        skip = self.config.on_bad_file == "skip"
        dtypes = [tf.bool] + [s.dtype for s in self._signature()]
        label_space, dont_care, colors = self.label_space, self.config.dont_care, self.color_codec

        bad_examples = set()  # each bad file is counted and warned about once, not per epoch

        def load(i):
            entry = files[int(i)]
            try:
                ex = (readers.load_photo_pair(entry) if self.photo_input else
                      readers.load_example(entry, label_space, dont_care, colors))
            except readers.DataError as err:
                if not skip:
                    raise
                with self._lock:
                    first = int(i) not in bad_examples
                    bad_examples.add(int(i))
                    if first:
                        self.bad_files.append((err.path, err.reason))
                    every = len(bad_examples) == len(files)
                if first:
                    log.warning("skipping %s: %s", err.path, err.reason)
                if every:
                    raise readers.DataError(
                        self.config.resolved_root() or err.path,
                        f"all {len(files)} examples failed to load (on_bad_file: skip); "
                        f"the first: {self.bad_files[0][0]}: {self.bad_files[0][1]}") from None
                return [False] + [np.zeros([1, 1] + s.shape[2:], s.dtype.as_numpy_dtype)
                                  for s in self._signature()]
            return [True] + [ex[key] for key in self._keys()]

        ds = self._indices(len(files), shuffle)
        ds = ds.map(lambda i: tf.numpy_function(load, [i], dtypes, stateful=False),
                    num_parallel_calls=self._parallel(), deterministic=True)
        if skip:
            ds = ds.filter(lambda ok, *rest: ok)
        return ds.map(lambda ok, *rest: self._pack(rest))

    # -- TFDS -----------------------------------------------------------------
    def _tfds_split(self) -> str:
        return {"val": "validation"}.get(self.split, self.split)

    def _tfds(self):
        if self._tfds_builder is not None:
            return self._tfds_builder
        import tensorflow_datasets as tfds  # heavy; only for this source

        cfg = self.config.tfds
        data_dir = os.path.expanduser(cfg.data_dir) if cfg.data_dir else None
        builder = tfds.builder(cfg.name, data_dir=data_dir)
        if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
            manual = os.path.expanduser(cfg.manual_dir) if cfg.manual_dir else None
            if not manual:
                raise readers.DataError(
                    builder.data_dir,
                    "TFDS Cityscapes is not prepared here and data.tfds.manual_dir is not set; "
                    f"put {' and '.join(_TFDS_ZIPS)} (from cityscapes-dataset.com, full-size "
                    "2048x1024 images) in a folder and set data.tfds.manual_dir to it",
                )
            missing = [z for z in _TFDS_ZIPS if not os.path.exists(os.path.join(manual, z))]
            if missing:
                raise readers.DataError(
                    manual, f"missing {', '.join(missing)} (TFDS Cityscapes needs the official "
                    "zips with full-size 2048x1024 images; nothing is downloaded)")
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual))
        self._tfds_builder = builder
        return builder

    def _tfds_examples(self, shuffle: bool) -> tf.data.Dataset:
        builder = self._tfds()
        split = self._tfds_split()
        if split not in builder.info.splits:
            raise ValueError(
                f"TFDS {builder.name}: no split {self.split!r}; available: "
                f"{', '.join(builder.info.splits)}")
        ds = builder.as_dataset(split=split, shuffle_files=shuffle)
        if self.config.max_examples:
            ds = ds.take(self.config.max_examples)
        table = tf.constant(self.label_space.raw_to_index_table(self.config.dont_care))

        def convert(item):
            raw = tf.cast(item["segmentation_label"][..., 0], tf.int32)
            label, valid = lookup_class_indices(table, raw)
            check = tf.debugging.Assert(
                tf.reduce_all(valid),
                ["label ids outside the label space in TFDS example", item["image_id"],
                 tf.boolean_mask(raw, ~valid)], summarize=10)
            with tf.control_dependencies([check]):
                out = {"label": tf.identity(label)}
            if self.has_images:
                out["image"] = item["image_left"]
            return out

        return ds.map(convert, num_parallel_calls=self._parallel())


def build_dataset(config: DataConfig, split: Optional[str] = None, training: bool = True,
                  **kwargs) -> tf.data.Dataset:
    """Shortcut for ``DataPipeline(config, split).dataset(training, **kwargs)``."""
    return DataPipeline(config, split).dataset(training=training, **kwargs)
