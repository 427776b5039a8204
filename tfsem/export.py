"""``python -m tfsem.export --model RUN_or_.keras --out export/models/NAME [--version N] [--max-pixels P]``.

Writes a SavedModel in the TF Serving layout (``<out>/<version>/``) with the
``serving_default`` (int label maps -> uint8 images) and ``predict_png``
(PNG bytes -> PNG bytes) signatures; see ``tfsem/export_lib.py``.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--out", required=True, help="model base path, e.g. export/models/spade")
    parser.add_argument("--version", type=int, default=None, help="default: next free number")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="largest label map (H*W) the server accepts")
    args = parser.parse_args(argv)
    from tfsem.export_lib import DEFAULT_MAX_PIXELS, export_saved_model
    from tfsem.runs import load_run

    config, model = load_run(args.model, args.config)
    path = export_saved_model(model, config, args.out, args.version,
                              args.max_pixels or DEFAULT_MAX_PIXELS)
    print(f"exported {path} (signatures: serving_default, predict_png)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
