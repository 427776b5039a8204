"""``python -m tfsem.serving (--url URL | --grpc TARGET) --model NAME (--labels PNG | --num N) --out PATH``.

Queries a tfsem export served by TF Serving, as the export's signatures
say (read from the model's metadata, TF Serving's ``GetModelMetadata``):

* label-to-photo exports: ``--labels in.png [--instances inst.png] --out
  out.png`` writes the photo (``--signature predict_png``, the default, sends
  PNG bytes; ``serving_default`` sends id arrays). A VAE export's ``z`` is
  ``latent_for_seeds(--seed)`` (its size from the metadata, the same latent
  as ``tfsem.Pipeline``), pix2pixHD's ``cluster`` is ``--cluster`` (default:
  the seed).
* SemGAN and dream exports: ``--num N [--seed S] --out DIR`` samples seeds
  S..S+N-1 and writes ``label/sample_<seed>_gtFine_labelIds.png``,
  ``color/sample_<seed>_gtFine_color.png`` (and a dream export's
  ``image/sample_<seed>.png``), as ``python -m tfsem.generate --num``.

    python -m tfsem.serving --url http://localhost:8501 --model quickstart \\
        --labels in.png [--instances inst.png] --out out.png
    python -m tfsem.serving --grpc localhost:8500 --model semgan --num 4 --out maps/
"""

from __future__ import annotations

import argparse
import io
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.serving",
                                     description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="REST base URL, e.g. http://localhost:8501")
    where.add_argument("--grpc", help="gRPC target, e.g. localhost:8500")
    parser.add_argument("--model", required=True, help="model name in the server's config")
    parser.add_argument("--version", type=int, default=None)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--labels", help="label-to-photo exports: label-id PNG (raw ids)")
    what.add_argument("--num", type=int, help="SemGAN / dream exports: maps to sample")
    parser.add_argument("--instances", default=None, help="instance-id PNG (models with instances)")
    parser.add_argument("--out", required=True, help="output photo PNG (--labels) or folder (--num)")
    parser.add_argument("--signature", default="predict_png",
                        choices=("predict_png", "serving_default"))
    parser.add_argument("--seed", type=int, default=0,
                        help="the style seed (VAE, pix2pixHD clusters) or the first sample's seed")
    parser.add_argument("--cluster", type=int, default=None,
                        help="pix2pixHD with instance features: the cluster (default: the seed)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    from tfsem.inference.files import write_served_samples
    from tfsem.serving.client import (GrpcClient, RestClient, ServingError, look_inputs,
                                      png_ids, read_png)

    if args.num is not None and args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    from tfsem.fileio import check_outputs

    check_outputs([(args.out, "the photo")], [args.labels, args.instances])
    try:
        if args.url:
            client = RestClient(args.url, args.model, args.version, args.timeout)
        else:
            client = GrpcClient(args.grpc, args.model, args.version, args.timeout)
        # the inputs are read (and checked) before the server is asked anything
        label = read_png(args.labels) if args.labels else None
        instance = read_png(args.instances) if args.instances else None
        signatures = client.signatures()
        default = signatures.get("serving_default", {"inputs": {}, "outputs": {}})
        if args.num is not None:
            if "seed" not in default["inputs"]:
                raise ValueError(f"--num: the served model {args.model} takes "
                                 f"{sorted(default['inputs'])}, not seeds; pass --labels")
            seeds = list(range(args.seed, args.seed + args.num))
            write_served_samples(client.sample(seeds, outputs=sorted(default["outputs"])),
                                 seeds, args.out)
            return 0
        if "seed" in default["inputs"]:
            raise ValueError(f"--labels: the served model {args.model} samples label maps "
                             "from seeds; pass --num N")
        z, cluster = look_inputs(default["inputs"], args.seed, args.cluster)
        if args.signature == "predict_png":
            png = client.predict_png([label], None if instance is None else [instance], z,
                                     cluster)[0]
        else:
            from PIL import Image

            image = client.predict(png_ids(label)[None],
                                   None if instance is None else png_ids(instance)[None], z,
                                   cluster)[0]
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            png = buffer.getvalue()
    except (ServingError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from tfsem.fileio import atomic_write_bytes

    atomic_write_bytes(args.out, png)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
