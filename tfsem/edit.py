"""``python -m tfsem.edit --model RUN --labels MAP.png [--instances INST.png] --out DIR [edits]``.

Interactive-style editing of pix2pixHD (paper fig. 1b/1c), written as
before / after images:

* ``--replace SRC:DST`` (repeatable): replace a class by another in the label
  map, by name or raw id, e.g. ``--replace vegetation:building``. Replaced
  pixels become one region of the new class in the instance map too.
* ``--instance-cluster ID:K`` (repeatable; models with instance features):
  give instance ``ID`` (its id in the instance map) the appearance of cluster
  ``K`` of its class; every other instance keeps ``--cluster``.

Writes ``before.png``, ``after.png``, ``labels_before.png``,
``labels_after.png`` and ``grid.png`` (labels | photo, before over after).
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.edit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--labels", required=True, help="label-id PNG")
    parser.add_argument("--instances", default=None, help="instance-id PNG")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--replace", action="append", help="SRC:DST class (name or raw id)")
    parser.add_argument("--instance-cluster", action="append",
                        help="INSTANCE_ID:CLUSTER appearance of one instance")
    parser.add_argument("--cluster", default="0", help="cluster of the other instances, or 'random'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", default=None, help="clusters file (default: RUN/features.npz)")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    cli.add_label_format_arguments(parser)
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.inference import files

    files.edit_files(model_path=args.model, labels=args.labels, out=args.out,
                     instances=args.instances, replace=args.replace or (),
                     instance_cluster=args.instance_cluster or (), cluster=args.cluster,
                     seed=args.seed, features=args.features, config=args.config,
                     label_format=args.label_format or "ids", color_map=args.color_map)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
