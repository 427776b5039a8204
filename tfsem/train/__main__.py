"""``python -m tfsem.train --config configs/NAME.json [--out DIR] [--steps N] [--resume] [--set a.b=c ...]``.

Trains the config's model into a run directory (default ``runs/<name>``):
resolved config, checkpoints, TensorBoard logs, sample grids and the final
``model.keras``. A run dir with a checkpoint resumes at its step.
``--set model.gaugan.ngf=32`` overrides one config field (repeatable; the
value is JSON, or a string), checked as strictly as the file.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="experiment config JSON")
    parser.add_argument("--out", default=None, help="run directory (default: train.out_dir)")
    parser.add_argument("--steps", type=int, default=None,
                        help="train until this total step (default: train.steps / epochs)")
    parser.add_argument("--resume", action="store_true",
                        help="require a checkpoint in the run dir and continue from it")
    parser.add_argument("--allow-config-change", action="store_true",
                        help="resume with other data / optimizer / checkpoint settings than the "
                             "run's config.json (printed and recorded in config_changes.jsonl)")
    parser.add_argument("--force", action="store_true",
                        help="train into an existing folder that is not a run dir (its files "
                             "may be overwritten); refused without it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set model.gaugan.ngf=32 "
                             "(repeatable; JSON values)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")

    from tfsem import autotune
    from tfsem.config import load_config

    config = load_config(args.config, overrides=args.set)
    # before TensorFlow starts: oneDNN on or off, whichever trains this config faster here
    autotune.choose_onednn_for_training(config, args.config, args.set)
    from tfsem.train.trainer import NonFiniteLossError, Trainer, run_dir_for

    trainer = Trainer(config, run_dir_for(config, args.out), resume=args.resume, stream=sys.stdout,
                      allow_config_change=args.allow_config_change, force=args.force)
    try:
        losses = trainer.train(args.steps)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if losses:
        print("final losses: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(losses.items())))
    print(f"run dir: {trainer.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
