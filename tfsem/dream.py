"""``python -m tfsem.dream --semgan RUN --renderer RUN --num N --out DIR [--seed S]``.

The "dream" pipeline of the SemGAN paper: SemGAN invents label maps, a
label-to-photo model (a SPADE/GauGAN, pix2pixHD or pix2pix run) renders them. Sample
``i`` uses seed ``S + i`` for its map (the same map ``tfsem.generate --num``
gives for that seed) and for the renderer's randomness (a VAE style, or
pix2pixHD's random feature clusters). Both runs must use the same label
space; maps are resized (nearest) to the renderer's size when the sizes
differ. Writes ``label/dream_<seed>_gtFine_labelIds.png``,
``color/dream_<seed>_gtFine_color.png``, ``image/dream_<seed>.png`` and
``grid.png`` (map | photo).

The renderer gets no instance map: where it uses instance edges, the label
map stands in (edges follow class boundaries). pix2pixHD with instance
features takes its clusters from ``--features`` (default
``RENDERER/features.npz``): ``--cluster K``, ``random`` (per instance) or
``seed`` (default: cluster ``seed mod k`` of each class, what the exported
dream model does). A VAE renderer's style is ``latent_for_seeds(seed,
stream=1)``, also as the exported model.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tfsem import cli, precision

__all__ = ["main"]

log = logging.getLogger("tfsem.dream")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.dream",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--semgan", required=True, help="SemGAN run directory or .keras file")
    parser.add_argument("--renderer", required=True,
                        help="SPADE/GauGAN, pix2pixHD or pix2pix run directory or .keras file")
    parser.add_argument("--num", type=int, default=8, help="samples (default 8)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="first sample's seed")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD renderer: clusters file (default RENDERER/features.npz)")
    parser.add_argument("--cluster", default="seed",
                        help="pix2pixHD renderer: cluster index, 'random' (per instance) or "
                             "'seed' (default: cluster = the sample's seed, as the exported "
                             "dream model)")
    cli.add_style_control_arguments(parser)
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.inference import files
    from tfsem.inference.feature_clusters import load_run_clusters
    from tfsem.pipeline import DreamPipeline, Pipeline

    cluster = args.cluster
    if cluster not in ("random", "seed") and not str(cluster).lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer, 'random' or 'seed', got {cluster!r}")
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    labels = Pipeline.from_run(args.semgan, precision=args.precision)
    renderer = Pipeline.from_run(args.renderer, precision=args.precision, features=args.features)
    dream = DreamPipeline(labels, renderer)
    if renderer.needs_clusters():
        load_run_clusters(args.renderer, args.features)  # no clusters: its error says what to run
    if labels.image_size != renderer.image_size:
        log.info(f"note: SemGAN maps are {labels.image_size[0]}x{labels.image_size[1]}, the "
                 f"renderer works at {renderer.image_size[0]}x{renderer.image_size[1]}: maps "
                 "are resized (nearest)")
    files.write_dreams(dream, out=args.out, seeds=range(args.seed, args.seed + args.num),
                 cluster=None if cluster == "seed" else cluster, **cli.style_controls(args))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
