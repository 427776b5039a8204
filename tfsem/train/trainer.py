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

import atexit
import json
import math
import os
import shutil
import tempfile
import time
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfsem import registry
from tfsem.config import (ExperimentConfig, config_from_dict, config_to_dict, save_config,
                          written_config_dict)
from tfsem.data.pipeline import DataPipeline
from tfsem.data.readers import DataError
from tfsem.data.visualize import save_png
from tfsem.fileio import read_json
from tfsem.runs import load_run
from tfsem.train.build import build_model, compile_model
from tfsem.train.scores import periodic_scorer
from tfsem.train.rundir import (RunDirLock, config_changes, foreign_entries,
                                remove_temp_checkpoints, remove_temp_models,
                                model_checkpoint, restore_latest_good)

__all__ = ["NonFiniteLossError", "Trainer", "make_strategy", "run_dir_for"]



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
    if config.model is not None:
        quick = registry.family_of(config).quickstart(config.model.section)
        if quick:
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
        scorer: the periodic evaluation, batch -> {name: score}; default
            ``tfsem.train.scores.periodic_scorer`` of the task and the data.
        force: train into an existing directory that is not a run dir (one
            without ``config.json`` holding other files); refused otherwise.
    """

    def __init__(self, config: ExperimentConfig, run_dir: str, resume: bool = False,
                 strategy: Optional[tf.distribute.Strategy] = None, vgg_loss=None,
                 stream=None, allow_config_change: bool = False, scorer=None,
                 force: bool = False):
        config.validate()
        self.allow_config_change = allow_config_change
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
        foreign = foreign_entries(self.run_dir) if self.chief and not force else []
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)"
                                              if len(foreign) > 5 else "")
            raise ValueError(f"{self.run_dir}: exists and is not a tfsem run directory (no "
                             f"config.json; it holds {shown}); training would write over it: "
                             "choose another --out, or --force to train into it")
        self.lock = RunDirLock(self.run_dir)
        created = not os.path.exists(self.run_dir)
        if self.chief:
            os.makedirs(self.run_dir, exist_ok=True)
            self.lock.acquire()
            atexit.register(self.lock.release)
            if self.lock.took_over:
                self._print(f"note: took over the lock of a trainer that is gone "
                            f"(pid {self.lock.took_over.get('pid')})")
            for path in remove_temp_checkpoints(self.ckpt_dir) + remove_temp_models(self.run_dir):
                self._print(f"removed {path} (a checkpoint or model write that did not finish)")
        try:
            self._setup(config, resume, strategy, vgg_loss)
            self.scorer = scorer if scorer is not None else periodic_scorer(self.model,
                                                                            config.data)
        except BaseException:
            self.lock.release()
            if created and self.chief and not os.listdir(self.run_dir):
                os.rmdir(self.run_dir)  # a failed start leaves nothing behind
            raise

    def _setup(self, config, resume, strategy, vgg_loss):
        changes = self._check_run_dir()
        self.pipeline = DataPipeline(config.data)
        try:  # fail fast on missing data, before anything is written
            self.num_examples = self.pipeline.num_examples()
        except DataError as err:
            missing = "not found" in err.reason or err.reason.startswith("no ")
            raise DataError(err.path, err.reason + (missing_data_hint(config) if missing
                                                    else "")) from None
        self.total_steps, self.decay_steps = config.schedule(self.num_examples)
        with self.strategy.scope():
            self.model = build_model(config)
            compile_model(self.model, config, vgg_loss=vgg_loss, num_examples=self.num_examples)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = model_checkpoint(
            self.model, g_optimizer=self.model.g_optimizer,
            d_optimizer=self.model.d_optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.ckpt_dir, max_to_keep=config.train.keep_checkpoints)
        self.resumed_from = None
        # Every worker restores the chief's latest checkpoint (the run dir must be
        # on storage all workers see); non-chief workers only WRITE to scratch.
        latest = restore_latest_good(self.checkpoint, os.path.join(self.run_dir, "checkpoints"),
                                     log=self._print)
        if latest:
            self.model.restored(latest, log=self._print)
            self.resumed_from = int(self.step.numpy())
            if changes:
                self._apply_changes(changes)
        elif resume:
            raise FileNotFoundError(f"{self.run_dir}: --resume given but there is no checkpoint "
                                    f"in {os.path.join(self.run_dir, 'checkpoints')}")
        elif config.train.init_from:
            self._init_from(config.train.init_from)
        if self.chief:
            save_config(self.config, os.path.join(self.run_dir, "config.json"))

    def _init_from(self, path):
        """A new run starts from another run's weights (pix2pixHD stage 2)."""
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
        """A run dir made with another model is not reused; resuming with other
        data, optimizer or checkpoint settings needs ``allow_config_change``
        (the changes are printed and recorded in ``config_changes.jsonl``).
        Returns the changes."""
        path = os.path.join(self.run_dir, "config.json")
        if not os.path.exists(path):
            return []
        previous = written_config_dict(read_json(path, "run config"))
        try:  # as this tfsem writes it (a tfsem 0.2 config.json had every family's section)
            previous = config_to_dict(config_from_dict(ExperimentConfig, previous))
        except ValueError:
            pass  # compared as written: a mismatch is reported below
        current = config_to_dict(self.config)
        sections = ("model",) if self.allow_config_change else ("data", "model")
        for section in sections:
            if previous.get(section) != current.get(section):
                raise ValueError(
                    f"{self.run_dir}: this run dir was made with a different '{section}' "
                    "section (see its config.json); use another --out to start a new run"
                    + ("" if section == "model" else
                       ", or --allow-config-change to resume with the new one"))
        if tf.train.latest_checkpoint(os.path.join(self.run_dir, "checkpoints")) is None:
            return []  # nothing to resume: the new config starts the run afresh
        changes = config_changes(previous, current)
        if changes and not self.allow_config_change:
            shown = "; ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in changes[:6])
            raise ValueError(
                f"{self.run_dir}: the config differs from the run's config.json ({shown}"
                f"{'; ...' if len(changes) > 6 else ''}); a resumed run keeps its settings: "
                "use another --out, or --allow-config-change to apply and record the changes")
        return changes

    def _apply_changes(self, changes):
        """After restoring: the new settings take effect (a constant learning rate
        is a variable the checkpoint restored), printed and recorded."""
        opt = self.config.optimizer
        for optimizer, value in ((self.model.g_optimizer, opt.g_lr),
                                 (self.model.d_optimizer, opt.d_lr)):
            if value is None:
                continue
            try:  # a constant rate: the variable the checkpoint restored
                optimizer.learning_rate = value
            except TypeError:
                pass  # a schedule (LinearDecay): built from the new config already
        for key, old, new in changes:
            self._print(f"config change at step {int(self.step.numpy())}: {key}: {old!r} -> {new!r}")
        if self.chief:
            with open(os.path.join(self.run_dir, "config_changes.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": int(self.step.numpy()), "changes": [
                    {"field": k, "from": old, "to": new} for k, old, new in changes]}) + "\n")

    # -- the loop ----------------------------------------------------------------------
    def _train_function(self):
        model, strategy = self.model, self.strategy

        @tf.function(autograph=False)
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

    def scores(self, batch) -> Dict[str, float]:
        """The periodic evaluation (``tfsem.train.scores.periodic_scorer``)."""
        return self.scorer(batch) if self.scorer is not None else {}

    def sample_grid(self, batch) -> np.ndarray:
        """uint8 grid of the task's samples (``GANTask.preview_grid``)."""
        return self.model.preview_grid(batch, self.pipeline.label_space,
                                       self.config.data.dont_care)

    def _print(self, text):
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def train(self, steps: Optional[int] = None) -> Dict[str, float]:
        """Trains until ``steps`` (default: the config's ``train.steps``, or its
        ``train.epochs`` in steps) total steps.

        Returns the last logged losses. Raises NonFiniteLossError on NaN/Inf.
        """
        if self.chief and not self.lock.held:
            self.lock.acquire()
        try:
            return self._train(steps)
        finally:
            self.lock.release()

    def _train(self, steps: Optional[int] = None) -> Dict[str, float]:
        cfg = self.config.train
        total = int(steps or self.total_steps)
        start = int(self.step.numpy())
        if self.config.train.epochs is not None:
            self._print(f"train.epochs {self.config.train.epochs} = {self.total_steps} steps "
                        f"({self.num_examples} examples, batch "
                        f"{self.config.data.batch_size}); the rates decay over the last "
                        f"{self.decay_steps}")
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
        scored = self.scorer is not None
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
        parts = [f"{k.replace('_', ' ')} {v:.4f}" for k, v in scores.items()
                 if not k.startswith("oracle_")]
        if "oracle_miou" in scores:
            parts.insert(0, f"toy oracle mIoU {scores['oracle_miou']:.4f}, "
                            f"pixel accuracy {scores['oracle_pixel_accuracy']:.4f}")
        text = ", ".join(parts)
        self._print(f"\nstep {step}: {text}")

    def _save_final(self):
        if not self.chief:
            shutil.rmtree(self.ckpt_dir, ignore_errors=True)
            return
        bad = [v.path for v in self.model.weights if not np.isfinite(v.numpy()).all()]
        if bad:
            raise NonFiniteLossError(
                f"{len(bad)} weight tensors are not finite (first: {bad[0]}); model.keras is "
                "not written. Lower the learning rates (optimizer.g_lr/d_lr) or check the data")
        final = os.path.join(self.run_dir, "model.keras")
        tmp = os.path.join(self.run_dir, f".tmp-model-{os.getpid()}.keras")
        self.model.save(tmp)
        os.replace(tmp, final)
        self._print(f"saved {final}")
