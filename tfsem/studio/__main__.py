"""``python -m tfsem.studio --model RUN_or_EXPORT [--semgan RUN] [--port 8000]``
(``tfsem studio ...``): the painting studio, a local web app.

``--model``: a run dir or ``.keras`` file (rendered in this process, all
controls: seed, style photo, per-object clusters), or a SavedModel export
(``python -m tfsem.export``; its ``predict_png`` signature: seed only). With
``--serving-url URL --serving-model NAME`` the export given as ``--model``
describes the model and TF Serving renders it over REST. ``--semgan RUN``
adds the dream button (SemGAN samples a label map to edit). Listens on
127.0.0.1 unless ``--host`` says otherwise; ``--max-upload-mb`` limits
request bodies. The API is documented at ``/docs``.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli, precision

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.studio", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="run dir, .keras file or SavedModel export")
    parser.add_argument("--semgan", help="a SemGAN run dir: the dream button")
    parser.add_argument("--serving-url", help="TF Serving REST URL, e.g. http://localhost:8501")
    parser.add_argument("--serving-model", help="the model's name on that server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-upload-mb", type=float, default=32.0)
    parser.add_argument("--max-pixels", type=int, default=4096 * 4096,
                        help="largest label map or photo decoded (pixels; default 4096x4096)")
    parser.add_argument("--max-concurrent", type=int, default=2,
                        help="requests decoding or rendering at once (the others wait, then 503)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a Host name to serve besides 127.0.0.1, localhost and ::1 "
                             "(repeatable; e.g. the machine's name when --host 0.0.0.0)")
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    import math

    if not (math.isfinite(args.max_upload_mb) and 0 < args.max_upload_mb <= 4096):
        raise ValueError(f"--max-upload-mb must be > 0 and <= 4096, got {args.max_upload_mb}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    for name, value in (("--max-pixels", args.max_pixels),
                        ("--max-concurrent", args.max_concurrent)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    _check_port_free(args.host, args.port)
    try:
        import uvicorn

        from tfsem.studio.app import create_app
    except ImportError as err:
        raise ValueError(f"the studio needs FastAPI and uvicorn ({err}): pip install "
                         "'tfsem[studio]'") from None
    from tfsem.studio.backends import DreamSource, open_backend

    backend = open_backend(args.model, serving_url=args.serving_url,
                           serving_model=args.serving_model, precision=args.precision)
    dream = (DreamSource(args.semgan, backend.info, precision=args.precision) if args.semgan
             else None)
    app = create_app(backend, dream, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                     max_pixels=args.max_pixels, max_concurrent=args.max_concurrent,
                     allowed_hosts=tuple(args.allow_host) + (args.host,))
    computes = f", {backend.precision}" if hasattr(backend, "precision") else ""
    print(f"tfsem studio: {backend.info.name} ({backend.info.backend}{computes}, "
          f"{backend.info.width}x{backend.info.height}) on http://{args.host}:{args.port}/",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _check_port_free(host: str, port: int) -> None:
    """A clear error before the model loads when ``host:port`` cannot be bound."""
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as err:
        raise ValueError(f"--host {host} --port {port}: cannot listen there "
                         f"({err.strerror or err})") from None


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
