"""The training loop behind ``python -m tfsem.train``, shared by all model families.

A run directory holds::

    config.json            the resolved experiment config
    checkpoints/           tf.train checkpoints (model + both optimisers + step), keep N
    logs/                  TensorBoard scalars and images (label | generated | real)
    samples/step_NNNNNN.png  sample grids on a fixed validation batch (label-map
                           models: samples from fixed seeds, and real maps)
    eval.jsonl             scores over steps: toy-oracle mIoU / pixel accuracy
                           (label-to-photo models on toy_streets), label-map
                           statistics (SemGAN and its baseline, any data)
    model.keras            the final model (written atomically)

Resuming (``resume=True``, or automatically when ``checkpoints/`` has one)
restores the model, the optimiser states and the step. Checkpoints are written
with ``tf.train.CheckpointManager``, which updates its index file atomically
after the data files, so a run killed at any moment restarts from its last
complete checkpoint. A non-finite loss stops the run with an error and keeps
the last good checkpoint (no checkpoint is written after a bad step).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfsem.config import ExperimentConfig, config_to_dict, save_config
from tfsem.data.pipeline import DataPipeline
from tfsem.data.preprocess import instance_edges
from tfsem.data.readers import DataError
from tfsem.fileio import read_json
from tfsem.data.visualize import edges_to_rgb, image_to_uint8, label_to_rgb, make_grid, save_png
from tfsem.models.build import build_model, compile_model

__all__ = ["NonFiniteLossError", "Trainer", "make_strategy", "run_dir_for"]

log = logging.getLogger("tfsem.train")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The distribution strategy for ``train.strategy``.

    ``auto``: MultiWorkerMirroredStrategy when TF_CONFIG is set, MirroredStrategy
    with more than one GPU, the default strategy otherwise.
    """
    if name == "multi_worker" or (name == "auto" and os.environ.get("TF_CONFIG")):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


#: The toy_streets config of each model family, to try without any dataset.
QUICKSTARTS = {"gaugan": "configs/quickstart.json", "pix2pixhd": "configs/quickstart_pix2pixhd.json",
               "semgan": "configs/quickstart_semgan.json"}


def missing_data_hint(config: ExperimentConfig) -> str:
    """Where the dataset goes, and the quickstart config that needs none."""
    data = config.data
    if data.source == "toy_streets":
        return ""
    where = {"cityscapes": f"put Cityscapes in {data.resolved_root()} (gtFine/<split>/<city>/"
                           "*_gtFine_labelIds.png" + (", leftImg8bit/<split>/<city>/"
                                                      "*_leftImg8bit.png" if data.load_images
                                                      else "") + ")",
             "folder": f"put the dataset in {data.resolved_root()} (<split>_label/ ...)",
             "tfds": "put the Cityscapes zips in data.tfds.manual_dir"}[data.source]
    hint = f". To train on it, {where} or set data.root in the config"
    family = config.model.type if config.model else None
    if family in QUICKSTARTS:
        quick = QUICKSTARTS[family]
        if family == "semgan" and config.model.semgan.output == "colors":
            quick = "configs/quickstart_semgan_baseline.json"
        hint += f"; to try tfsem without it: python -m tfsem.train --config {quick}"
    return hint


def run_dir_for(config: ExperimentConfig, out: Optional[str] = None) -> str:
    return os.path.abspath(out or config.train.out_dir.format(name=config.name))


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


class Trainer:
    """Trains the model of an experiment config into a run directory.

    Args:
        config: the experiment config (must have a model section).
        run_dir: where everything is written.
        resume: require a checkpoint to resume from (a run dir with one
            resumes anyway).
        strategy: a tf.distribute strategy; default from ``config.train.strategy``.
        vgg_loss: an explicit VGG loss layer (tests pass random weights).
    """

    def __init__(self, config: ExperimentConfig, run_dir: str, resume: bool = False,
                 strategy: Optional[tf.distribute.Strategy] = None, vgg_loss=None,
                 stream=None):
        config.validate()
        self.config = config
        self.run_dir = os.path.abspath(run_dir)
        self.stream = stream
        if config.train.mixed_precision != "float32":
            keras.mixed_precision.set_global_policy(config.train.mixed_precision)
        self.strategy = strategy or make_strategy(config.train.strategy)
        self.chief = _is_chief(self.strategy)
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")
        if not self.chief:  # non-chief workers write to a scratch dir (removed at the end)
            self.ckpt_dir = tempfile.mkdtemp(prefix="tfsem-worker-")
        self._check_run_dir()
        self.pipeline = DataPipeline(config.data)
        try:  # fail fast on missing data, before anything is written
            self.pipeline.num_examples()
        except DataError as err:
            missing = "not found" in err.reason or err.reason.startswith("no ")
            raise DataError(err.path, err.reason + (missing_data_hint(config) if missing
                                                    else "")) from None
        with self.strategy.scope():
            self.model = build_model(config)
            compile_model(self.model, config, vgg_loss=vgg_loss)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, g_optimizer=self.model.g_optimizer,
            d_optimizer=self.model.d_optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.ckpt_dir, max_to_keep=config.train.keep_checkpoints)
        self.resumed_from = None
        # Every worker restores the chief's latest checkpoint (the run dir must be
        # on storage all workers see); non-chief workers only WRITE to scratch.
        latest = tf.train.latest_checkpoint(os.path.join(self.run_dir, "checkpoints"))
        if latest:
            self.checkpoint.restore(latest).expect_partial()
            self.resumed_from = int(self.step.numpy())
        elif resume:
            raise FileNotFoundError(f"{self.run_dir}: --resume given but there is no checkpoint "
                                    f"in {os.path.join(self.run_dir, 'checkpoints')}")
        elif config.train.init_from:
            self._init_from(config.train.init_from)
        if self.chief:
            save_config(self.config, os.path.join(self.run_dir, "config.json"))

    def _init_from(self, path):
        """A new run starts from another run's weights (pix2pixHD stage 2)."""
        from tfsem.runs import load_run

        if not hasattr(self.model, "load_stage_weights"):
            raise ValueError(f"train.init_from: {type(self.model).__name__} models cannot start "
                             "from another run's weights")
        try:
            _, source = load_run(path)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"train.init_from: {err}") from None
        with self.strategy.scope():
            copied = self.model.load_stage_weights(source)
        self._print(f"initialised from {path}: " +
                    ", ".join(f"{part} ({n} variables)" for part, n in copied.items()))

    # -- run directory ---------------------------------------------------------------
    def _check_run_dir(self):
        """A run dir made with other data or model settings is not silently reused."""
        path = os.path.join(self.run_dir, "config.json")
        if not os.path.exists(path):
            return
        previous, current = read_json(path, "run config"), config_to_dict(self.config)
        for section in ("data", "model"):
            if previous.get(section) != current.get(section):
                raise ValueError(
                    f"{self.run_dir}: this run dir was made with a different '{section}' "
                    "section (see its config.json); use another --out to start a new run")

    # -- the loop ----------------------------------------------------------------------
    def _train_function(self):
        model, strategy = self.model, self.strategy

        @tf.function
        def train_step(batch):
            model.reset_metrics()
            out = strategy.run(model.train_step, args=(batch,))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in out.items()}

        return train_step

    def sample_batch(self, size=None):
        """A fixed batch of examples (validation split for toy data) for sample grids."""
        data = self.config.data
        split = "val" if data.source == "toy_streets" else data.split
        pipeline = DataPipeline(data, split)
        return next(iter(pipeline.dataset(
            training=False, batch_size=size or self.config.train.num_samples, repeat=True)))

    @property
    def unconditional(self) -> bool:
        """The model generates label maps from noise (SemGAN and its baseline)."""
        return getattr(self.model, "unconditional", False)

    def scores(self, batch) -> Dict[str, float]:
        """The periodic evaluation: label-map statistics of samples from fixed
        seeds against ``batch``'s real maps (label-map models), else the toy oracle."""
        if not self.unconditional:
            return self.oracle_scores(batch)
        from tfsem.generate import sample_label_maps
        from tfsem.metrics import label_maps as M

        labels, output = sample_label_maps(self.model, range(len(batch["label"])))
        real, classes = batch["label"].numpy(), self.model.num_classes
        scores = {"valid_pixel_fraction": M.valid_pixel_fraction(labels, classes),
                  "class_tv_distance": M.class_tv_distance(labels, real, classes),
                  "isolated_pixel_fraction": M.isolated_pixel_fraction(labels),
                  "pairwise_difference": M.pairwise_difference(labels)}
        if self.model.outputs_colors:  # the baseline
            scores["color_validity"] = M.color_validity(output, self.model.palette)
        return scores

    def oracle_scores(self, batch) -> Dict[str, float]:
        """Toy-oracle mIoU and pixel accuracy of the generated photos of ``batch``."""
        from tfsem.metrics.segmentation import toy_oracle_scores

        fake = self._render(batch)
        scores = toy_oracle_scores(fake.numpy(), batch["label"].numpy())
        return {"oracle_miou": scores["miou"], "oracle_pixel_accuracy": scores["pixel_accuracy"]}

    def _render(self, batch):
        """Generated photos of ``batch``; the photo is passed along only for
        models that encode instance features from it (pix2pixHD with features:
        the features of the real photo), a GauGAN never sees it here."""
        inputs = dict(batch)
        if not getattr(self.model, "use_features", False):
            inputs.pop("image", None)
        return self.model(inputs, training=False)

    def sample_grid(self, batch) -> np.ndarray:
        """uint8 grid: one row per example, label | instance edges | generated | real
        (label-map models: generated maps | raw colours (baseline) | real maps)."""
        space, dont_care = self.pipeline.label_space, self.config.data.dont_care
        if self.unconditional:
            from tfsem.generate import sample_label_maps

            labels, output = sample_label_maps(self.model, range(len(batch["label"])))
            rows = []
            for i, label in enumerate(labels):
                row = [label_to_rgb(label, space, dont_care)]
                if self.model.outputs_colors:
                    row.append(image_to_uint8(output[i]))
                rows.append(row + [label_to_rgb(batch["label"][i].numpy(), space, dont_care)])
            return make_grid(rows)
        fake = self._render(batch)
        rows = []
        for i in range(int(batch["label"].shape[0])):
            row = [label_to_rgb(batch["label"][i].numpy(), space, dont_care)]
            if "instance" in batch:
                row.append(edges_to_rgb(instance_edges(batch["instance"][i]).numpy()))
            row.append(image_to_uint8(fake[i].numpy()))
            row.append(image_to_uint8(batch["image"][i].numpy()))
            rows.append(row)
        return make_grid(rows)

    def _print(self, text):
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def train(self, steps: Optional[int] = None) -> Dict[str, float]:
        """Trains until ``steps`` (default ``config.train.steps``) total steps.

        Returns the last logged losses. Raises NonFiniteLossError on NaN/Inf.
        """
        cfg = self.config.train
        total = int(steps or cfg.steps)
        start = int(self.step.numpy())
        if self.resumed_from is not None:
            self._print(f"resuming {self.run_dir} at step {start}")
        if start >= total:
            self._print(f"already at step {start} >= {total}; nothing to train")
            self._save_final()
            return {}
        dataset = self.strategy.experimental_distribute_dataset(self.pipeline.dataset(training=True))
        iterator = iter(dataset)
        train_step = self._train_function()
        samples = self.sample_batch()
        scored = self.unconditional or self.config.data.source == "toy_streets"
        eval_batch = self.sample_batch(cfg.eval_examples) if scored else None
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "logs")) if self.chief \
            else tf.summary.create_noop_writer()
        progbar = keras.utils.Progbar(total, stateful_metrics=None, verbose=1 if self.stream else 0,
                                      unit_name="step")
        progbar.update(start)
        losses: Dict[str, float] = {}
        tick, tick_step = time.perf_counter(), start
        for step in range(start + 1, total + 1):
            out = train_step(next(iterator))
            losses = {k: float(v) for k, v in out.items()}
            bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
            if bad:
                last = self.manager.latest_checkpoint or "none"
                raise NonFiniteLossError(
                    f"non-finite loss at step {step}: "
                    + ", ".join(f"{k}={v}" for k, v in bad.items())
                    + f"; training stopped, the last good checkpoint is kept ({last}). Lower the "
                      "learning rates (optimizer.g_lr/d_lr) or check the data")
            self.step.assign(step)
            now = time.perf_counter()
            rate = (step - tick_step) / max(now - tick, 1e-9)
            progbar.update(step, values=[(k, v) for k, v in losses.items()
                                         if k in ("G_loss", "D_loss")] + [("steps/s", rate)])
            tick, tick_step = now, step
            if step % cfg.log_every == 0 or step == total:
                with writer.as_default(step=step):
                    for k, v in losses.items():
                        tf.summary.scalar(f"loss/{k}", v)
                    tf.summary.scalar("steps_per_second", rate)
            if step % cfg.sample_every == 0 or step == total:
                grid = self.sample_grid(samples)
                if self.chief:
                    save_png(grid, os.path.join(self.run_dir, "samples", f"step_{step:06d}.png"))
                with writer.as_default(step=step):
                    tf.summary.image("samples", grid[None], max_outputs=1)
            if scored and (step % cfg.eval_every == 0 or step == total):
                self._log_scores(step, eval_batch, writer)
            if step % cfg.checkpoint_every == 0 or step == total:
                self.manager.save(checkpoint_number=step)
        writer.flush()
        self._save_final()
        return losses

    def _log_scores(self, step, batch, writer):
        scores = self.scores(batch)
        with writer.as_default(step=step):
            for k, v in scores.items():
                tf.summary.scalar(f"eval/{k}", v)
        if self.chief:
            path = os.path.join(self.run_dir, "eval.jsonl")
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, **scores}) + "\n")
        if "oracle_miou" in scores:
            text = (f"toy oracle mIoU {scores['oracle_miou']:.4f}, "
                    f"pixel accuracy {scores['oracle_pixel_accuracy']:.4f}")
        else:
            text = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in scores.items())
        self._print(f"\nstep {step}: {text}")

    def _save_final(self):
        if not self.chief:
            shutil.rmtree(self.ckpt_dir, ignore_errors=True)
            return
        final = os.path.join(self.run_dir, "model.keras")
        tmp = os.path.join(self.run_dir, ".tmp-model.keras")
        self.model.save(tmp)
        os.replace(tmp, final)
        self._print(f"saved {final}")
