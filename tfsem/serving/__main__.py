"""``python -m tfsem.serving (--url URL | --grpc T) --model NAME (--labels | --image | --num N) --out P``.

Queries a tfsem export served by TF Serving, as the export's signatures
say (read from the model's metadata, TF Serving's ``GetModelMetadata``):

* label-to-photo exports: ``--labels in.png [--instances inst.png] --out
  out.png`` writes the photo (``--signature predict_png``, the default, sends
  PNG bytes; ``serving_default`` sends id arrays). A VAE export's ``z`` is
  ``latent_for_seeds(--seed)`` (its size from the metadata, the same latent
  as ``tfsem.Pipeline``), pix2pixHD's ``cluster`` is ``--cluster`` (default:
  the seed).
* photo-to-photo exports: ``--image in.png --out out.png`` (``predict_png``;
  the photo's height and width must be multiples of the model's factor).
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
    what.add_argument("--image", help="photo-to-photo exports: the input photo PNG")
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
    from tfsem.serving.client import GrpcClient, RestClient, ServingError, read_png

    if args.num is not None and args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    from tfsem.fileio import check_outputs

    check_outputs([(args.out, "the photo")], [args.labels, args.instances, args.image])
    try:
        if args.url:
            client = RestClient(args.url, args.model, args.version, args.timeout)
        else:
            client = GrpcClient(args.grpc, args.model, args.version, args.timeout)
        # the inputs are read (and checked) before the server is asked anything
        label = read_png(args.labels) if args.labels else None
        instance = read_png(args.instances) if args.instances else None
        photo = read_png(args.image) if args.image else None
        signatures = client.signatures()
        default = signatures.get("serving_default", {"inputs": {}, "outputs": {}})
        if args.num is not None:
            if "seed" not in default["inputs"]:
                raise ValueError(f"--num: the served model {args.model} takes "
                                 f"{sorted(default['inputs'])}, not seeds; pass --labels or --image")
            seeds = list(range(args.seed, args.seed + args.num))
            write_served_samples(client.sample(seeds, outputs=sorted(default["outputs"])),
                                 seeds, args.out)
            return 0
        if "seed" in default["inputs"]:
            raise ValueError(f"--labels/--image: the served model {args.model} samples label "
                             "maps from seeds; pass --num N")
        if ("image" in default["inputs"]) != (photo is not None):
            raise ValueError(f"the served model {args.model} takes {sorted(default['inputs'])}:"
                             f" pass {'--image' if photo is None else '--labels'}")
        png = client.translate_png([photo])[0] if photo is not None else client.render_pngs(
            label, instance, args.seed, args.cluster, args.signature, default["inputs"])
    except (ServingError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from tfsem.fileio import atomic_write_bytes

    atomic_write_bytes(args.out, png)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
