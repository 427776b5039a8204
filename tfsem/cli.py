"""Shared plumbing of the command-line tools: quiet TF logs, one-line errors,
and the ``tfsem`` console script (``tfsem train ...`` = ``python -m tfsem.train ...``).

Import this module before TensorFlow in a CLI's ``__main__`` so TF's C++
warnings stay out of the user's way (``TF_CPP_MIN_LOG_LEVEL`` is only set if
the user has not set it).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Callable, Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["COMMANDS", "command_module", "error_line", "main", "report_to_stdout", "run_cli"]

#: ``tfsem <command>`` -> (the module ``python -m`` runs, one line of help).
COMMANDS = {
    "train": ("tfsem.train", "train a config's model into a run directory"),
    "generate": ("tfsem.generate", "photos from label maps, or label maps from seeds"),
    "edit": ("tfsem.edit", "pix2pixHD label and appearance editing"),
    "dream": ("tfsem.dream", "SemGAN label maps rendered by a label-to-photo run"),
    "encode-features": ("tfsem.encode_features", "pix2pixHD instance-feature clusters"),
    "encode-styles": ("tfsem.encode_styles", "SEAN region style codes and their class means"),
    "evaluate": ("tfsem.evaluate", "FID/KID, segmentation and label-map scores of runs"),
    "export": ("tfsem.export", "SavedModel for TF Serving, TFLite variants"),
    "convert": ("tfsem.convert", "official SPADE / SEAN / pix2pixHD / pix2pix checkpoints to run dirs"),
    "config": ("tfsem.config", "describe model fields, check a config"),
    "inspect": ("tfsem.data", "look at a config's data"),
    "serve-client": ("tfsem.serving", "query a TF Serving model (REST or gRPC)"),
    "studio": ("tfsem.studio", "paint label maps in the browser, see the photos"),
}

_PY_ERROR = re.compile(r"\b(?:DataError|ConfigError|ValueError|TypeError|FileNotFoundError): (.+)")


def error_line(err: BaseException) -> str:
    """The one line a user needs from an error, also from inside a tf.data op."""
    message = getattr(err, "message", None) or str(err)
    match = _PY_ERROR.search(message)
    if match and not isinstance(err, (ValueError, TypeError, OSError)):
        return match.group(1).strip()
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(err).__name__
    if first.endswith("in user code:"):  # a traced function's error: the cause is at the end
        causes = [line for line in lines if re.match(r"^\w+(Error|Exception): ", line)]
        first = causes[-1] if causes else lines[-1]
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", first)


class _StdoutHandler(logging.Handler):
    """Writes each record's message to the CURRENT ``sys.stdout`` (so a
    redirected or captured stdout gets it)."""

    def emit(self, record):
        print(record.getMessage(), file=sys.stdout, flush=True)


class _NotTfsem(logging.Filter):
    """Passes the records of loggers other than ``tfsem`` (a CLI prints those itself)."""

    def filter(self, record):
        return record.name != "tfsem" and not record.name.startswith("tfsem.")


def report_to_stdout() -> None:
    """The libraries report through the ``tfsem`` logger; a CLI shows those
    reports (INFO and up) on stdout, one line each (idempotent).

    The root logger gets, where it has no handler yet, the stderr handler
    ``logging.basicConfig`` would give it, without the ``tfsem`` records:
    absl's first log call (the TFLite converter's) would otherwise add one
    that prints every report a second time."""
    logger = logging.getLogger("tfsem")
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        logger.addHandler(_StdoutHandler())
    logger.setLevel(logging.INFO)
    if not logging.root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
        handler.addFilter(_NotTfsem())
        logging.root.addHandler(handler)


def add_style_control_arguments(parser) -> None:
    """``--truncation``, ``--mix-seed``, ``--mix-layer``: a style SemGAN's sampling
    (``generate --num``, ``dream``)."""
    parser.add_argument("--truncation", type=float, default=None, metavar="PSI",
                        help="SemGAN with block style: truncation psi (1: each seed's own "
                             "style, 0: the average style; StyleGAN's truncation trick)")
    parser.add_argument("--mix-seed", type=int, default=None,
                        help="SemGAN with block style: the layers from --mix-layer on take "
                             "this seed's style (style mixing)")
    parser.add_argument("--mix-layer", type=int, default=None,
                        help="with --mix-seed: the first style input taken from it (0 .. the "
                             "generator's number of style inputs; default half of them)")


def add_label_format_arguments(parser) -> None:
    """``--label-format ids|colors`` and ``--color-map FILE``: how label PNGs
    are stored (``tfsem.data.colors``)."""
    parser.add_argument("--label-format", choices=["ids", "colors"], default=None,
                        help="label PNGs hold raw ids (default; grey or palette index) or "
                             "each class in its label-space colour (exact colours only)")
    parser.add_argument("--color-map", default=None, metavar="FILE",
                        help="with --label-format colors: JSON of colour -> label id for "
                             "colours the palette shares between ids or lacks "
                             '(e.g. {"#000000": 0})')


def style_controls(args) -> dict:
    """The style-control options given on the command line (None left out)."""
    return {k: getattr(args, k) for k in ("truncation", "mix_seed", "mix_layer")
            if getattr(args, k) is not None}


def run_cli(main: Callable[[Optional[Sequence[str]]], int], argv=None) -> int:
    """Runs ``main(argv)`` with the libraries' reports on stdout; user-facing
    errors become ``error: ...`` and exit code 2, any other exception one
    ``error:`` line and exit code 1 (``TFSEM_DEBUG=1`` re-raises it, with its
    traceback). TensorFlow is not imported here: ``tfsem.train`` chooses its
    oneDNN setting before TensorFlow starts."""
    report_to_stdout()
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        tf = sys.modules.get("tensorflow")  # an OpError comes only from a running TF
        if isinstance(err, (ValueError, TypeError, OSError)) or (
                tf is not None and isinstance(err, tf.errors.OpError)):
            print(f"error: {error_line(err)}", file=sys.stderr)
            return 2
        # anything else: still one line, the traceback on request
        if os.environ.get("TFSEM_DEBUG") == "1":
            raise
        print(f"error: {type(err).__name__}: {error_line(err)} (an unexpected error: set "
              "TFSEM_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


def _usage() -> str:
    width = max(map(len, COMMANDS))
    return ("usage: tfsem COMMAND [ARGS...]   (tfsem COMMAND --help for its options)\n\n"
            "commands:\n" + "\n".join(f"  {name:<{width}}  {help_}  (python -m {module})"
                                       for name, (module, help_) in COMMANDS.items()))


def command_module(module_name: str):
    """The module whose ``main`` is ``python -m module_name`` (a package's ``__main__``)."""
    import importlib

    module = importlib.import_module(module_name)
    if not hasattr(module, "main"):  # a package: its __main__
        module = importlib.import_module(module_name + ".__main__")
    return module


def main(argv=None) -> int:
    """The ``tfsem`` console script: ``tfsem COMMAND ARGS`` runs ``python -m
    <module> ARGS`` of that command, in this process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name = argv[0].replace("_", "-")
    if name not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run_cli(command_module(COMMANDS[name][0]).main, argv[1:])
