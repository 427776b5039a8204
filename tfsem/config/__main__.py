"""``python -m tfsem.config --describe FAMILY [--markdown]`` or ``--check CONFIG [--set a.b=c]``.

``--describe``: every field of a model family's section (``gaugan``,
``pix2pixhd``, ``semgan``; ``all`` for every family) with its default and a
one-line description. ``--check``: loads a config strictly and prints the
resolved JSON (what a run's ``config.json`` would record).
"""

from __future__ import annotations

import argparse
import json
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    from tfsem import registry
    from tfsem.config import config_to_dict, load_config

    parser = argparse.ArgumentParser(prog="python -m tfsem.config",
                                     description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--describe", metavar="FAMILY",
                      help="a model family (" + ", ".join(registry.FAMILIES) + ") or 'all'")
    what.add_argument("--check", metavar="CONFIG", help="a config JSON to load and resolve")
    parser.add_argument("--markdown", action="store_true", help="--describe as Markdown tables")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --check: override a field, e.g. model.gaugan.ngf=32")
    args = parser.parse_args(argv)
    if args.check:
        config = load_config(args.check, overrides=args.set)
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    names = None if args.describe == "all" else [args.describe]
    print(registry.describe_families(names, markdown=args.markdown), end="")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
