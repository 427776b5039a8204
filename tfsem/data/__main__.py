"""``python -m tfsem.data --config CONFIG [--out grid.png]``: see what a model will see.

Prints the number of examples, the stored and the preprocessed resolution,
and the class histogram, and writes a PNG grid with one row per example:
colourised label map | instance edges | photo (``tfsem.data.inspect``).
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.data",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="experiment config JSON")
    parser.add_argument("--out", default=None, help="write a PNG grid here")
    parser.add_argument("--split", default=None, help="split to read (default: the config's)")
    parser.add_argument("--num", type=int, default=8, help="examples to look at (default 8)")
    parser.add_argument("--augment", action="store_true",
                        help="apply training augmentation (random crop / flip)")
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    from tfsem.config import load_config
    from tfsem.data.inspect import inspect_data

    inspect_data(load_config(args.config), split=args.split, num=args.num,
                 augment=args.augment, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
