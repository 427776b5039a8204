"""What keeps a run directory safe: one trainer at a time (a lock naming its
holder), resuming only with the settings the run was made with (or the
changes printed and recorded), no leftovers of killed checkpoint writes, and
a fallback past a corrupt latest checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

__all__ = ["FREE_TRAIN_FIELDS", "RunDirLock", "config_changes", "remove_temp_checkpoints",
           "restore_latest_good"]

#: train fields a resumed run may change freely: when to stop, log, sample, score,
#: checkpoint, and how to distribute. Every other field of the run's config
#: (data, optimizer, keep_checkpoints, mixed_precision, init_from, ...) needs
#: --allow-config-change; the model never changes in a run dir.
FREE_TRAIN_FIELDS = ("steps", "epochs", "checkpoint_every", "sample_every", "log_every",
                     "num_samples", "eval_every", "eval_examples", "strategy", "out_dir")


def _flatten(data, prefix="") -> Dict[str, object]:
    out = {}
    for key, value in (data or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def config_changes(previous: dict, current: dict) -> List[Tuple[str, object, object]]:
    """(field, run's value, new value) for every field that differs, except the
    free train fields and the name."""
    old, new = _flatten(previous), _flatten(current)
    free = {f"train.{name}" for name in FREE_TRAIN_FIELDS} | {"name"}
    return [(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new))
            if key not in free and old.get(key) != new.get(key)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class RunDirLock:
    """``RUN/.lock``: the holder's PID, host and start time, created atomically.
    A second trainer is refused with the holder named; a lock whose process is
    gone (on this host) is stale and taken over."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, ".lock")
        self.held = False
        self.took_over: Optional[dict] = None

    def acquire(self) -> "RunDirLock":
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # removed meanwhile, or unreadable and removed: try again
                if holder.get("host") == me["host"] and (
                        holder.get("pid") == me["pid"] or not _alive(int(holder.get("pid", -1)))):
                    self.took_over = holder  # a killed run's lock (or this process's own)
                    os.remove(self.path)
                    continue
                raise ValueError(
                    f"{os.path.dirname(self.path)}: another trainer is using this run dir "
                    f"(pid {holder.get('pid')} on {holder.get('host')}, since "
                    f"{holder.get('started')}); wait for it to finish, or if it is gone "
                    f"(another machine), remove {self.path}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise ValueError(f"{self.path}: cannot take the run dir's lock")

    def _holder(self) -> Optional[dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # a lock half-written by a killed process
            if time.time() - os.path.getmtime(self.path) > 10:
                os.remove(self.path)
                return None
            return {"pid": "?", "host": "?", "started": "just now"}

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass


#: What a run dir holds before its config.json is written (a start that was killed).
_EARLY_ENTRIES = {".lock", "checkpoints", "logs", "samples"}


def foreign_entries(run_dir: str) -> List[str]:
    """What in an existing ``run_dir`` says it is not a tfsem run dir: its
    entries when it has no ``config.json``, less what a killed start leaves
    (``.lock`` and empty run folders); [] for a run dir, a new or an empty one."""
    if not os.path.isdir(run_dir) or os.path.exists(os.path.join(run_dir, "config.json")):
        return []
    out = []
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        if name in _EARLY_ENTRIES and (not os.path.isdir(path) or not os.listdir(path)):
            continue
        out.append(name)
    return out


def remove_temp_models(run_dir: str) -> List[str]:
    """Removes the ``.tmp-model-<pid>.keras`` files a killed final save leaves."""
    removed = []
    if os.path.isdir(run_dir):
        for name in sorted(os.listdir(run_dir)):
            if name.startswith(".tmp-model-") and name.endswith(".keras"):
                path = os.path.join(run_dir, name)
                try:
                    os.remove(path)
                    removed.append(path)
                except OSError:
                    pass
    return removed


def remove_temp_checkpoints(ckpt_dir: str) -> List[str]:
    """Removes the ``ckpt-N_temp`` folders a killed checkpoint write leaves; returns them."""
    removed = []
    if os.path.isdir(ckpt_dir):
        for name in sorted(os.listdir(ckpt_dir)):
            path = os.path.join(ckpt_dir, name)
            if "_temp" in name and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


class _AllWeights(tf.Module):
    """Every weight of a model by its path. Checkpoints reach a Keras 3 model's
    weights through its optimisers, which miss what no optimiser trains: the
    batch-norm statistics, the spectral-norm vectors, G_ema; this holds them all."""

    def __init__(self, model):
        super().__init__(name="weights")
        self.by_path = {v.path: v.value for v in model.weights}


def model_checkpoint(model, **others) -> tf.train.Checkpoint:
    """The checkpoint of ``model`` (every weight, ``_AllWeights``) and ``others``
    (optimisers, the step): what the trainer writes and ``load_run`` reads."""
    return tf.train.Checkpoint(model=model, weights=_AllWeights(model), **others)


def restore_latest_good(checkpoint: tf.train.Checkpoint, ckpt_dir: str,
                        log=print) -> Optional[str]:
    """Restores the newest checkpoint of ``ckpt_dir`` that reads back whole
    (newest first: a truncated or bit-flipped one is reported and skipped);
    returns its path, or None when there is none."""
    state = tf.train.get_checkpoint_state(ckpt_dir) if os.path.isdir(ckpt_dir) else None
    candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
    if state and state.model_checkpoint_path and state.model_checkpoint_path not in candidates:
        candidates.insert(0, state.model_checkpoint_path)
    failures = []
    for path in candidates:
        try:
            checkpoint.restore(path).expect_partial()  # eager: reads every tensor now
        except (tf.errors.OpError, ValueError, IndexError) as err:
            reason = (getattr(err, "message", None) or str(err)).strip().splitlines()[0][:200]
            failures.append(path)
            log(f"warning: checkpoint {path} is unreadable ({type(err).__name__}: {reason}); "
                "trying the previous one")
            continue
        if failures:
            log(f"resumed from {path}, the newest checkpoint that reads back whole")
        return path
    if failures:
        raise ValueError(f"{ckpt_dir}: no checkpoint reads back whole (tried "
                         f"{', '.join(failures)}); start a new run dir or restore a backup")
    return None
