"""The file side of the inference CLIs (``generate``, ``dream``, ``edit``):
finding label PNGs, pairing instance maps by stem, writing label maps,
photos and grids, and each CLI's read-render-write loop over a
``tfsem.Pipeline`` (which takes and returns arrays only). Only the CLIs and
these helpers touch files. Reports go to the ``tfsem.inference`` logger."""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfsem.data.colors import label_codec
from tfsem.data.readers import DataError, map_stem, read_color_label, read_instance, read_label
from tfsem.data.visualize import make_grid, save_png

__all__ = ["edit_files", "label_map_files", "png_files", "read_map_pair", "render_label_files",
           "render_photo_files",
           "save_grid", "save_image", "write_dreams", "write_label_maps", "write_samples",
           "write_served_samples"]

log = logging.getLogger("tfsem.inference")


def png_files(path: str, what: str, extensions: Tuple[str, ...] = (".png",)) -> List[str]:
    """The PNG files (or files with ``extensions``) of a file or folder path
    (sorted); a clear error if none."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(extensions))
        if not files:
            raise FileNotFoundError(f"{path}: no {'/'.join(extensions)} {what} in this folder")
        return files
    if os.path.isfile(path):
        return [path]
    raise FileNotFoundError(f"{path}: {what} not found")


def label_map_files(labels: str, instances: Optional[str] = None
                    ) -> List[Tuple[str, str, Optional[str]]]:
    """(stem, label path, instance path or None) of each label PNG of ``labels``
    (a file or folder); instance PNGs of ``instances`` are paired by stem (a
    label map without one is a DataError naming it)."""
    by_stem: Dict[str, str] = {}
    if instances:
        by_stem = {map_stem(p): p for p in png_files(instances, "instance maps")}
    out = []
    for path in png_files(labels, "label maps"):
        inst = by_stem.get(map_stem(path))
        if instances and inst is None:
            raise DataError(path, f"no instance map with the same stem in {instances}")
        out.append((map_stem(path), path, inst))
    return out


def read_map_pair(label_path: str, instance_path: Optional[str] = None, colors=None
                  ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(raw label ids [H,W], instance ids [H,W] or None) of two PNGs of one size;
    ``colors``: the :class:`tfsem.data.colors.ColorCodec` of colour label PNGs."""
    raw = read_label(label_path) if colors is None else read_color_label(label_path, colors)
    if instance_path is None:
        return raw, None
    inst = read_instance(instance_path)
    if inst.shape != raw.shape:
        raise DataError(instance_path, f"instance map is {inst.shape[1]}x{inst.shape[0]}, "
                                       f"label map is {raw.shape[1]}x{raw.shape[0]}")
    return raw, inst


def save_image(image: np.ndarray, path: str) -> str:
    """Writes a uint8 photo / colour map / id map as PNG (atomically); logs it."""
    save_png(image, path)
    log.info(f"wrote {path}")
    return path


def write_label_maps(out: str, stems: Sequence[str], maps: Dict[str, np.ndarray]) -> List[str]:
    """Per stem: ``out/label/<stem>_gtFine_labelIds.png`` (the raw ids of
    ``maps["label_map"]``, 8-bit, or 16-bit for ids above 255),
    ``out/color/<stem>_gtFine_color.png`` and, when given, the colour
    baseline's ``out/raw/<stem>_raw.png``. Returns the label paths."""
    written = []
    for i, stem in enumerate(stems):
        raw = maps["label_map"][i]
        raw = raw.astype(np.uint8 if raw.max(initial=0) <= 255 else np.uint16)
        written.append(save_image(raw, os.path.join(out, "label", f"{stem}_gtFine_labelIds.png")))
        save_png(maps["color"][i], os.path.join(out, "color", f"{stem}_gtFine_color.png"))
        if "raw_color" in maps:
            save_png(maps["raw_color"][i], os.path.join(out, "raw", f"{stem}_raw.png"))
    return written


def save_grid(rows: List[List[np.ndarray]], path: str, what: str) -> str:
    """A grid of uint8 images (one list per row) as PNG; logs ``what`` it shows."""
    save_png(make_grid(rows, max_width=2048), path)
    log.info(f"wrote {path} ({what})")
    return path


def check_generate_arguments(labels, num, cluster, controls, images=None) -> None:
    """``python -m tfsem.generate``'s choices that need no model: ``--labels``,
    ``--images`` or ``--num``, a valid ``--cluster``, and sampling ``controls``
    only with ``--num``."""
    given = sum(x is not None for x in (labels, num, images))
    if given != 1:
        raise ValueError("pass one of --labels (label-to-photo models), --images "
                         "(photo-to-photo models) or --num (SemGAN), not "
                         + ("several" if given else "none"))
    if cluster != "random" and not str(cluster).lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer or 'random', got {cluster!r}")
    if num is not None and num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    if controls and num is None:
        raise ValueError("--truncation, --mix-seed and --mix-layer are for SemGAN's sampling "
                         "(--num); they do not apply to --labels")


def write_samples(pipe, *, out: str, seeds, **controls) -> list:
    """``python -m tfsem.generate --num``: the label maps of ``seeds``
    (:func:`write_label_maps`) and a grid; returns the label paths. ``controls``:
    ``truncation``, ``mix_seed``, ``mix_layer`` of a style generator."""
    if pipe.takes_label_maps or pipe.takes_photos:
        raise ValueError(f"{pipe.name} is a {type(getattr(pipe, 'task', pipe)).__name__} model: "
                         "it renders photos from " + ("photos; pass --images PHOTO_or_FOLDER"
                                                      if pipe.takes_photos else
                                                      "label maps; pass --labels PNG_or_FOLDER")
                         + " instead of --num")
    seeds = list(seeds)
    maps = pipe.sample(seeds, **controls)
    stems = [f"sample_{s:06d}" for s in seeds]
    written = write_label_maps(out, stems, maps)
    colour = "raw_color" in maps
    rows = [([maps["raw_color"][i]] if colour else []) + [maps["color"][i]]
            for i in range(len(seeds))]
    per_row = 2 if colour else 4
    save_grid([sum(rows[r:r + per_row], []) for r in range(0, len(rows), per_row)],
                    os.path.join(out, "grid.png"),
                    "raw colours | snapped label map" if colour else "label maps")
    return written


def check_label_outputs(pairs, out: str, variants: int = 1, style=None) -> None:
    """The files :func:`render_label_files` writes for the label maps ``pairs``
    (:func:`label_map_files`'s: ``out/<stem>.png``, ``<stem>_v<k>.png`` for
    variants, the grid), checked against the inputs and each other
    (``fileio.check_outputs``) before anything is written."""
    from tfsem.fileio import check_outputs

    check_outputs([(os.path.join(out, "grid.png"), "the grid")] + [
        (os.path.join(out, stem + (f"_v{v}" if v else "") + ".png"), path)
        for stem, path, _ in pairs for v in range(max(1, variants))],
        [p for _, path, inst in pairs for p in (path, inst) if p] + [style])


def precheck_label_outputs(labels: str, out: str, instances=None, variants: int = 1,
                           style=None) -> None:
    """``python -m tfsem.generate --labels`` before the model loads: outputs that
    would overwrite an input are refused at once (:func:`check_label_outputs`).
    Inputs that cannot be listed are left to :func:`render_label_files`, which
    names them after the model's own checks (a SemGAN given ``--labels`` hears
    that first)."""
    try:
        pairs = label_map_files(labels, instances)
    except (OSError, ValueError):
        return
    check_label_outputs(pairs, out, variants, style)


def render_label_files(pipe, *, labels: str, out: str, model_path: str, instances=None,
                       style=None, seed: int = 0, features=None, cluster="0",
                       variants: int = 1, styles=None, label_format: str = "ids",
                       color_map=None) -> list:
    """``python -m tfsem.generate --labels``: renders every label PNG of ``labels``
    (instance maps of ``instances`` by stem): ``out/<stem>.png``
    (``<stem>_v<k>.png`` for variants k > 0) and a grid; returns the photo
    paths. Nothing is written over an input.
    ``styles``: a :class:`tfsem.styles.StyleRecipe` for tasks taking region
    style codes (its frames are the variants). ``label_format`` ``colors``:
    the label PNGs are colour-coded (``color_map``: a colour -> id JSON file)."""
    from tfsem.data.preprocess import resize_map
    from tfsem.data.readers import read_image
    from tfsem.data.visualize import label_to_rgb
    from tfsem.inference.feature_clusters import load_run_clusters

    if pipe.takes_photos:
        raise ValueError(f"{model_path} is a photo-to-photo model: pass --images "
                         "PHOTO_or_FOLDER instead of --labels")
    if not pipe.takes_label_maps:
        raise ValueError(f"{model_path} is a {pipe.name} model: it samples label maps from "
                         "noise; pass --num N (and --seed S) instead of --labels")
    names = pipe.input_names
    if styles is not None:
        style = None  # the recipe holds the style photo
    if style and "style_image" not in pipe.optional_names:
        raise ValueError("--style needs a VAE model (use_vae) or a pix2pixHD model with "
                         "instance features (use_features)")
    if (variants > 1 or features) and "cluster" not in names:
        raise ValueError("--variants/--features need a pix2pixHD model trained with "
                         "use_features: true")
    if pipe.needs_clusters() and not style:
        load_run_clusters(model_path, features)  # no clusters: its error says what to run
    if "cluster" in names and variants > 1:
        cluster = "random"
    if styles is not None:
        variants = styles.steps
    pairs = label_map_files(labels, instances)
    check_label_outputs(pairs, out, variants, style)
    if "instance_map" in names and not instances:
        log.info("note: no --instances given; the label maps stand in for instance maps "
                 "(edges follow class boundaries)")
    photo = read_image(style) if style else None
    grid_path = os.path.join(out, "grid.png")
    space, dont_care = pipe.label_space(), pipe.dont_care
    colors = label_codec(space, label_format, color_map)
    written, rows = [], []
    for stem, path, inst_path in pairs:
        raw, inst = read_map_pair(path, inst_path, colors)
        try:
            index = space.encode(resize_map(raw[None], pipe.image_size)[0].numpy(), dont_care)
        except ValueError as err:
            raise DataError(path, str(err)) from None
        row = [label_to_rgb(index, space, dont_care)]
        frames = None if styles is None else styles.frames(pipe, raw, inst)
        for v in range(max(1, variants)):
            look = {} if frames is None else {"style_codes": frames[v:v + 1]}
            image = pipe(raw, inst, seed=seed + v, style=photo,
                         cluster=cluster if "cluster" in names else None, **look)
            target = os.path.join(out, stem + (f"_v{v}" if v else "") + ".png")
            written.append(save_image(image, target))
            row.append(image)
        rows.append(row)
    save_grid(rows, grid_path, "label | generated")
    return written


def render_photo_files(pipe, *, images: str, out: str, model_path: str) -> list:
    """``python -m tfsem.generate --images``: translates every photo of
    ``images`` (a file or folder; PNG or JPEG, any size, resized to the model's)
    into ``out/<stem>.png`` and a grid (input | generated); returns the paths.
    Nothing is written over an input."""
    from tfsem.data.preprocess import photo_at_size
    from tfsem.data.readers import read_image
    from tfsem.fileio import check_outputs

    if not pipe.takes_photos:
        raise ValueError(f"{model_path} is a {pipe.name} model; --images is for photo-to-photo "
                         "models (data.input: image)" + (": pass --labels" if
                                                          pipe.takes_label_maps else ": pass --num"))
    paths = png_files(images, "photos", (".png", ".jpg", ".jpeg"))
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    grid_path = os.path.join(out, "grid.png")
    check_outputs([(grid_path, "the grid")] + [(os.path.join(out, f"{s}.png"), p)
                                               for s, p in zip(stems, paths)], paths)
    written, rows = [], []
    for stem, path in zip(stems, paths):
        photo = photo_at_size(read_image(path), pipe.image_size)  # resized once, shown as given
        image = pipe(photo)
        written.append(save_image(image, os.path.join(out, f"{stem}.png")))
        rows.append([photo, image])
    save_grid(rows, grid_path, "input | generated")
    return written


def write_dreams(dream, *, out: str, seeds, cluster=None, **controls) -> list:
    """``python -m tfsem.dream``: each seed's map (``label/``, ``color/``), photo (``image/``) and a
    grid (map | photo); returns the photo paths. ``controls``: as :func:`write_samples`."""
    seeds = list(seeds)
    stems = [f"dream_{s:06d}" for s in seeds]
    written, rows = [], []
    for seed, stem in zip(seeds, stems):
        sample = dream.sample([seed], cluster=cluster, **controls)
        write_label_maps(out, [stem], sample)
        written.append(save_image(sample["image"][0],
                                        os.path.join(out, "image", f"{stem}.png")))
        rows.append([_colour_at(sample, dream.renderer.image_size), sample["image"][0]])
    save_grid(rows, os.path.join(out, "grid.png"), "dreamed map | rendered photo")
    return written


def _colour_at(sample, size):
    """The sample's colour map resized (nearest) to ``size``, as the renderer saw it."""
    import numpy as np

    from tfsem.data.preprocess import resize_map

    colour = sample["color"][0]
    channels = [resize_map(colour[None, ..., c].astype(np.int32), size)[0].numpy()
                for c in range(3)]
    return np.stack(channels, -1).astype(np.uint8)


def edit_files(*, model_path: str, labels: str, out: str, instances=None, replace=(),
               instance_cluster=(), cluster="0", seed: int = 0, features=None,
               config=None, label_format: str = "ids", color_map=None) -> None:
    """``python -m tfsem.edit``: before / after photos of label and appearance
    edits of one label PNG (see that module for the options)."""
    from tfsem.data.preprocess import resize_map
    from tfsem.data.visualize import label_to_rgb
    from tfsem.fileio import check_outputs
    from tfsem.inference.edit import class_id, parse_pairs, replace_classes
    from tfsem.inference.feature_clusters import load_run_clusters
    from tfsem.pipeline import Pipeline

    check_outputs([(os.path.join(out, f"{name}.png"), name) for name in
                   ("before", "after", "labels_before", "labels_after", "grid")],
                  [labels, instances, features])
    pipe = Pipeline.from_run(model_path, precision="float32", features=features,
                             config=config)
    space, dont_care = pipe.label_space(), pipe.dont_care
    raw, inst = read_map_pair(labels, instances, label_codec(space, label_format, color_map))
    if inst is None:
        inst = raw.copy()
    pairs = [(class_id(space, a), class_id(space, b))
             for a, b in parse_pairs(replace, "--replace")]
    per_instance: Dict[int, int] = {}
    for a, b in parse_pairs(instance_cluster, "--instance-cluster"):
        if not a.isdigit() or not b.isdigit():
            raise ValueError(f"--instance-cluster: expected INSTANCE_ID:CLUSTER, got {a}:{b}")
        if int(a) not in set(np.unique(inst).tolist()):
            raise ValueError(f"--instance-cluster: instance id {a} is not in "
                             f"{instances or labels}")
        per_instance[int(a)] = int(b)
    if not pairs and not per_instance:
        raise ValueError("nothing to edit: give --replace SRC:DST and/or --instance-cluster ID:K")
    if not pipe.takes_label_maps:
        raise ValueError(f"{model_path} is a {pipe.name} model: it samples label "
                         "maps from noise; editing needs a label-to-photo run")
    takes_clusters = "cluster" in pipe.input_names
    if pipe.needs_clusters():
        load_run_clusters(model_path, features)  # no clusters: its error says what to run
    if per_instance and not takes_clusters:
        raise ValueError("--instance-cluster needs a pix2pixHD model with instance features")

    def render(raw_map, inst_map, overrides):
        try:
            index = space.encode(resize_map(raw_map[None], pipe.image_size)[0].numpy(), dont_care)
        except ValueError as err:
            raise DataError(labels, str(err)) from None
        image = pipe(raw_map, inst_map, seed=seed,
                     cluster=cluster if takes_clusters else None,
                     instance_clusters=overrides or None)
        return label_to_rgb(index, space, dont_care), image

    new_raw, new_inst = replace_classes(raw, inst, pairs)
    labels_before, before = render(raw, inst, None)
    labels_after, after = render(new_raw, new_inst, per_instance)
    for name, image in (("before", before), ("after", after), ("labels_before", labels_before),
                        ("labels_after", labels_after)):
        save_image(image, os.path.join(out, f"{name}.png"))
    save_grid([[labels_before, before], [labels_after, after]],
                    os.path.join(out, "grid.png"), "labels | photo, before over after")
    log.info(f"edited {int((new_raw != raw).sum())} label pixels, {len(per_instance)} instance "
             f"appearance(s); wrote {out}/before.png, after.png, grid.png")


def write_served_samples(values: Dict[str, object], seeds: Sequence[int], out: str) -> None:
    """``python -m tfsem.serving --num``: a served SemGAN's (or dream model's)
    answer for ``seeds`` as ``tfsem.generate --num`` writes it (plus a dream
    model's ``image/``)."""
    import io as _io

    from PIL import Image

    maps = {"label_map": np.asarray(values["label_map"])}
    for name, pngs in values.items():
        if name.endswith("_png_bytes"):
            maps[name[:-len("_png_bytes")]] = np.stack(
                [np.asarray(Image.open(_io.BytesIO(p)).convert("RGB")) for p in pngs])
        elif name == "image":
            maps["image"] = np.asarray(values["image"], np.uint8)
    stems = [f"sample_{s:06d}" for s in seeds]
    if "color" in maps:
        write_label_maps(out, stems, maps)
    else:  # a dream model answers label maps without colours
        for i, stem in enumerate(stems):
            raw = maps["label_map"][i]
            save_image(raw.astype(np.uint8 if raw.max(initial=0) <= 255 else np.uint16),
                       os.path.join(out, "label", f"{stem}_gtFine_labelIds.png"))
    for i, stem in enumerate(stems):
        if "image" in maps:
            save_image(maps["image"][i], os.path.join(out, "image", f"{stem}.png"))
