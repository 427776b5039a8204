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
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
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
    app = create_app(backend, dream, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    computes = f", {backend.precision}" if hasattr(backend, "precision") else ""
    print(f"tfsem studio: {backend.info.name} ({backend.info.backend}{computes}, "
          f"{backend.info.width}x{backend.info.height}) on http://{args.host}:{args.port}/",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
