"""The file side of region style codes (SEAN): reading the sources the
generate CLI names into a :class:`tfsem.styles.StyleRecipe`, and encoding a
dataset's photos into codes files (``python -m tfsem.encode_styles``)."""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import numpy as np

from tfsem.styles import (CODES_FILE, MEAN_CODES_FILE, StyleRecipe, Styles, load_styles,
                          mean_styles, parse_class)

__all__ = ["add_style_arguments", "default_codes_paths", "encode_dataset_styles",
           "encode_file_styles", "style_recipe", "style_recipe_from_args", "write_styles"]

log = logging.getLogger("tfsem.inference")

_CODE_FILES = (".npz", ".npy")


def default_codes_paths(model_path: str):
    """(``RUN/style_codes.npz``, ``RUN/mean_codes.npz``); ``RUN``: the run dir,
    or the folder of a .keras file."""
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    return os.path.join(folder, CODES_FILE), os.path.join(folder, MEAN_CODES_FILE)


def _source(pipe, text: str, what: str):
    """A codes file -> Styles (its first photo); a photo -> uint8 [H,W,3]."""
    from tfsem.data.readers import read_image

    slots, length = pipe.style_code_shape
    if text.lower().endswith(_CODE_FILES):
        return load_styles(text, slots, length).one(0)
    if not os.path.isfile(text):
        raise FileNotFoundError(f"{text}: no such {what} (a codes file .npz/.npy or a photo)")
    return read_image(text)


def style_recipe(pipe, *, style: Optional[str] = None,
                 style_codes: Optional[str] = None, style_name: Optional[str] = None,
                 mean_codes: Optional[str] = None, style_from: Sequence[str] = (),
                 alpha: float = 1.0, interpolate: Optional[str] = None,
                 steps: int = 5) -> StyleRecipe:
    """The generate CLI's style options as a recipe (see ``tfsem.generate``)."""
    from tfsem.data.readers import read_image

    slots, length = pipe.style_code_shape
    if style and style_codes:
        raise ValueError("pass --style (a photo) or --style-codes (a codes file), not both")
    if style_name and not style_codes:
        raise ValueError("--style-name picks a photo of a --style-codes file")
    base = None
    if style_codes:
        base = load_styles(style_codes, slots, length).one(style_name or 0)
    if mean_codes:
        mean = load_styles(mean_codes, slots, length).one(0)
        log.info(f"classes without a style take the mean codes of {mean_codes}")
    else:  # the run's own: RUN/mean_codes.npz, attached to the task when the run loaded
        default = pipe.default_style_codes()
        mean = (None if default is None or not default.any()
                else Styles(default, names=["the run's mean codes"]))
        if mean is not None:
            log.info(f"classes without a style take the run's mean codes ({MEAN_CODES_FILE})")
    if mean is None and not (style or style_codes):
        log.info("note: no --style, --style-codes or mean codes (python -m tfsem.encode_styles "
                 "writes RUN/mean_codes.npz): every region has a zero style code")
    space = pipe.label_space()
    names, ids = list(space.names), [c.id for c in space.classes]
    replace = []
    for item in style_from:
        if "=" not in item:
            raise ValueError(f"--style-from {item!r}: expected CLASS=SOURCE")
        cls, source = item.split("=", 1)
        replace.append((parse_class(cls, names, ids), _source(pipe, source, "--style-from source")))
    # alpha and steps are checked where they are used (compose, interpolate)
    return StyleRecipe(photo=read_image(style) if style else None, base=base, mean=mean,
                       replace=replace, alpha=alpha,
                       towards=None if interpolate is None else _source(
                           pipe, interpolate, "--interpolate source"),
                       steps=steps if interpolate is not None else 1)


def add_style_arguments(parser) -> None:
    """The generate CLI's region-style options (see ``tfsem.generate``)."""
    sean = parser.add_argument_group("region styles (SEAN)")
    sean.add_argument("--style-codes", default=None,
                      help="codes file of python -m tfsem.encode_styles (.npz) or a .npy [S, L]")
    sean.add_argument("--style-name", default=None,
                      help="the photo (stem) of a --style-codes file with several")
    sean.add_argument("--mean-codes", default=None,
                      help="per-class mean codes for classes the base lacks (default: "
                           "RUN/mean_codes.npz when it exists)")
    sean.add_argument("--style-from", action="append", default=[], metavar="CLASS=SOURCE",
                      help="take CLASS's style (a name or label id) from SOURCE (a codes file "
                           "or a photo); repeatable")
    sean.add_argument("--alpha", type=float, default=1.0,
                      help="blend of --style-from: (1 - A) current + A source (default 1)")
    sean.add_argument("--interpolate", default=None, metavar="SOURCE",
                      help="render --steps photos from the styles asked for to SOURCE's")
    sean.add_argument("--steps", type=int, default=5, help="frames of --interpolate")


def style_recipe_from_args(pipe, args) -> Optional[StyleRecipe]:
    """The recipe of parsed generate arguments; None for a model without region
    codes (where any of these options is an error)."""
    if pipe.style_code_shape is None:
        if (args.style_codes or args.mean_codes or args.style_from or args.interpolate
                or args.style_name):
            raise ValueError("--style-codes/--mean-codes/--style-from/--interpolate need a "
                             "model with region style codes (SEAN)")
        return None
    if (args.style and not pipe.encodes_styles and not (args.style_from or args.interpolate
                                                        or args.style_codes)):
        return None  # an export renders the style photo whole (its predict_style)
    return style_recipe(pipe, style=args.style,
                        style_codes=args.style_codes, style_name=args.style_name,
                        mean_codes=args.mean_codes, style_from=args.style_from,
                        alpha=args.alpha, interpolate=args.interpolate, steps=args.steps)


def _meta(pipe, space_name: str) -> dict:
    slots, length = pipe.style_code_shape
    space = pipe.label_space()
    return {"label_space": space_name, "classes": list(space.names), "slots": slots,
            "length": length, "model": pipe.name}


def encode_file_styles(pipe, pairs, space_name: str) -> Styles:
    """Codes of (stem, label PNG, photo) triples, each photo over its own map."""
    from tfsem.data.readers import DataError, read_image, read_label

    codes, stems = [], []
    for stem, label_path, image_path in pairs:
        raw, photo = read_label(label_path), read_image(image_path)
        if raw.shape != photo.shape[:2]:
            raise DataError(image_path, f"photo is {photo.shape[1]}x{photo.shape[0]}, its label "
                                        f"map {label_path} is {raw.shape[1]}x{raw.shape[0]}")
        try:
            codes.append(pipe.encode_styles(raw, photo))
        except ValueError as err:
            raise DataError(label_path, str(err)) from None
        stems.append(stem)
    codes = np.stack(codes)
    return Styles(codes, names=stems, meta=_meta(pipe, space_name))


def encode_dataset_styles(pipe, config, split: Optional[str] = None,
                          max_examples: Optional[int] = None) -> Styles:
    """Codes of the photos of ``split`` of the run's dataset (in the reader's order)."""
    from tfsem.data.pipeline import DataPipeline

    split = split or config.data.split
    pipeline = DataPipeline(config.data, split)
    dataset = pipeline.dataset(training=False, batch_size=config.data.batch_size, repeat=False)
    codes = []
    for batch in dataset:
        codes.append(pipe.task.batch_style_codes(batch).numpy())
        if max_examples and sum(len(c) for c in codes) >= max_examples:
            break
    if not codes:
        raise ValueError(f"the {split!r} split holds no examples")
    codes = np.concatenate(codes)[:max_examples]
    return Styles(codes, names=[f"{split}_{i:06d}" for i in range(len(codes))],
                  meta=_meta(pipe, config.data.label_space))


def write_styles(out: str, styles: Styles, mean_out: str) -> None:
    """The per-photo codes file and the per-class mean codes file."""
    from tfsem.styles import save_styles

    save_styles(out, styles)
    log.info(f"wrote {out} ({len(styles.names)} photos)")
    mean = mean_styles(styles)
    save_styles(mean_out, mean)
    names = styles.meta.get("classes", [])
    seen = ", ".join(f"{names[i] if i < len(names) else i}: {int(c)}"
                     for i, c in enumerate(mean.count) if c)
    log.info(f"wrote {mean_out} (photos per class: {seen})")
