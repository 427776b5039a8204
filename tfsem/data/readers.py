"""Finding and decoding dataset files, with errors that name the file.

Two on-disk layouts are supported:

* the official Cityscapes layout::

      <root>/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png
      <root>/gtFine/<split>/<city>/<stem>_gtFine_labelIds.png
      <root>/gtFine/<split>/<city>/<stem>_gtFine_instanceIds.png

* the folder layout of NVIDIA/pix2pixHD and NVlabs/SPADE::

      <root>/<split>_label/<stem>[_gtFine_labelIds].png
      <root>/<split>_img/<stem>[_leftImg8bit].(png|jpg|jpeg)
      <root>/<split>_inst/<stem>[_gtFine_instanceIds].png

Files are paired by stem, with the Cityscapes suffixes removed. Decoding is
done with Pillow (in a ``tf.numpy_function`` inside tf.data), so every check
can say which file is wrong: missing partner, unreadable or corrupt file,
colour label PNG, size mismatch, label ids outside the label space.
"""

from __future__ import annotations

import dataclasses
import glob
import io
import os
import struct
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from tfsem.data.labels import LabelSpace

__all__ = [
    "DataError",
    "ExampleFiles",
    "list_cityscapes",
    "list_folder",
    "list_photo_pairs",
    "load_photo_pair",
    "map_stem",
    "png_size",
    "decode_map_png",
    "load_example",
    "read_image",
    "read_instance",
    "decode_color_png",
    "is_colour_png",
    "read_color_label",
    "read_label",
]

Image.MAX_IMAGE_PIXELS = None  # Cityscapes-size and larger label maps are legitimate

_LABEL_SUFFIXES = ("_gtFine_labelIds", "_gtCoarse_labelIds", "_labelIds", "_gtFine_color",
                   "_gtCoarse_color")
#: The Cityscapes label file of each ``data.label_format``.
_CITYSCAPES_LABELS = {"ids": "_gtFine_labelIds.png", "colors": "_gtFine_color.png"}
_IMAGE_SUFFIXES = ("_leftImg8bit",)
_INSTANCE_SUFFIXES = ("_gtFine_instanceIds", "_gtCoarse_instanceIds", "_instanceIds")
_IMAGE_EXTS = (".png", ".jpg", ".jpeg")
_MAP_EXTS = (".png",)


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent. ``path`` names it."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class ExampleFiles:
    """The files of one example; ``image``/``instance`` are None when absent."""

    key: str
    label: str
    image: Optional[str] = None
    instance: Optional[str] = None


# ---------------------------------------------------------------------------
# Listing and pairing
# ---------------------------------------------------------------------------


def map_stem(path: str) -> str:
    """A label / instance file's name without its extension and the Cityscapes
    suffixes (``_gtFine_labelIds``, ...): what label and instance maps are paired by."""
    return _strip(os.path.splitext(os.path.basename(path))[0],
                  _LABEL_SUFFIXES + _INSTANCE_SUFFIXES)


def _strip(stem: str, suffixes: Tuple[str, ...]) -> str:
    for suffix in suffixes:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _index(paths: List[str], suffixes: Tuple[str, ...], base: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for path in sorted(paths):
        rel = os.path.relpath(path, base)
        key = _strip(os.path.splitext(rel)[0], suffixes)
        if key in out:
            raise DataError(path, f"two files map to example {key!r}: also {out[key]}")
        out[key] = path
    return out


def _pair(
    labels: Dict[str, str],
    images: Optional[Dict[str, str]],
    instances: Optional[Dict[str, str]],
    where: Dict[str, str],
    on_bad_file: str,
    bad_files: Optional[list],
    names: Tuple[str, str] = ("label map", "image"),
) -> List[ExampleFiles]:
    """Pairs files by key. Unpaired files raise DataError, or are recorded and
    skipped. ``names``: what the label and image files are, for the messages."""
    problems: List[DataError] = []
    examples = []
    for key, label in labels.items():
        image = instance = None
        missing = []
        if images is not None:
            image = images.get(key)
            if image is None:
                missing.append(f"{names[1]} (looked in {where['image']})")
        if instances is not None:
            instance = instances.get(key)
            if instance is None:
                missing.append(f"instance map (looked in {where['instance']})")
        if missing:
            problems.append(DataError(label, f"{names[0]} has no " + " and no ".join(missing)))
            continue
        examples.append(ExampleFiles(key=key, label=label, image=image, instance=instance))
    for kind, table in ((names[1], images), ("instance map", instances)):
        for key, path in (table or {}).items():
            if key not in labels:
                problems.append(DataError(path, f"{kind} has no {names[0]} (looked in "
                                                f"{where['label']})"))
    if problems:
        if on_bad_file == "error":
            raise problems[0]
        if bad_files is not None:
            bad_files.extend((p.path, p.reason) for p in problems)
    return examples


def _require_dir(path: str, what: str, hint: str = "") -> None:
    if not os.path.isdir(path):
        raise DataError(path, f"{what} folder not found{hint}")


def list_cityscapes(
    root: str,
    split: str,
    use_instances: bool = True,
    load_images: bool = True,
    on_bad_file: str = "error",
    bad_files: Optional[list] = None,
    label_format: str = "ids",
) -> List[ExampleFiles]:
    """Examples of one split of the official Cityscapes layout, sorted by key
    (label maps: ``*_gtFine_labelIds.png``, or ``*_gtFine_color.png`` for
    ``label_format="colors"``)."""
    label_dir = os.path.join(root, "gtFine", split)
    image_dir = os.path.join(root, "leftImg8bit", split)
    _require_dir(label_dir, "Cityscapes gtFine/<split>")
    suffix = _CITYSCAPES_LABELS[label_format]
    labels = _index(glob.glob(os.path.join(label_dir, "*", "*" + suffix)), _LABEL_SUFFIXES,
                    label_dir)
    if not labels:
        raise DataError(label_dir, f"no '<city>/*{suffix}' files found")
    images = instances = None
    if load_images:
        _require_dir(image_dir, "Cityscapes leftImg8bit/<split>")
        images = _index(glob.glob(os.path.join(image_dir, "*", "*_leftImg8bit.png")),
                        _IMAGE_SUFFIXES, image_dir)
    if use_instances:
        instances = _index(glob.glob(os.path.join(label_dir, "*", "*_gtFine_instanceIds.png")),
                           _INSTANCE_SUFFIXES, label_dir)
    where = {"label": label_dir, "image": image_dir, "instance": label_dir}
    return _pair(labels, images, instances, where, on_bad_file, bad_files)


def list_photo_pairs(
    root: str,
    split: str,
    input_dir: str = "{split}_A",
    target_dir: str = "{split}_B",
    on_bad_file: str = "error",
    bad_files: Optional[list] = None,
) -> List[ExampleFiles]:
    """Photo-to-photo examples, sorted by key: the input photos of ``input_dir``
    (as ``ExampleFiles.label``) and the target photos of ``target_dir`` (as
    ``image``), paired by file stem: NVIDIA/pix2pixHD's ``<split>_A`` /
    ``<split>_B`` layout with ``--label_nc 0``."""
    dirs = {"A": os.path.join(root, input_dir.format(split=split)),
            "B": os.path.join(root, target_dir.format(split=split))}
    _require_dir(dirs["A"], "input photo")
    _require_dir(dirs["B"], "target photo")
    inputs = _index(_files(dirs["A"], _IMAGE_EXTS), (), dirs["A"])
    if not inputs:
        raise DataError(dirs["A"], "no .png/.jpg input photos found")
    targets = _index(_files(dirs["B"], _IMAGE_EXTS), (), dirs["B"])
    where = {"label": dirs["A"], "image": dirs["B"], "instance": ""}
    return _pair(inputs, targets, None, where, on_bad_file, bad_files,
                 names=("input photo", "target photo"))


def load_photo_pair(files: ExampleFiles) -> Dict[str, np.ndarray]:
    """One photo-to-photo example: ``input`` and ``image`` uint8 [H, W, 3] of one size."""
    source, target = read_image(files.label), read_image(files.image)
    if source.shape != target.shape:
        raise DataError(files.image, f"target photo is {target.shape[1]}x{target.shape[0]} but "
                                     f"its input {files.label} is {source.shape[1]}x"
                                     f"{source.shape[0]}")
    return {"input": source, "image": target}


def _files(directory: str, exts: Tuple[str, ...]) -> List[str]:
    return [
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if name.lower().endswith(exts) and not name.startswith(".")
    ]


def list_folder(
    root: str,
    split: str,
    use_instances: bool = True,
    load_images: bool = True,
    on_bad_file: str = "error",
    bad_files: Optional[list] = None,
    label_dir: str = "{split}_label",
    image_dir: str = "{split}_img",
    instance_dir: str = "{split}_inst",
) -> List[ExampleFiles]:
    """Examples of the pix2pixHD/SPADE ``<split>_label|_img|_inst`` layout, sorted by key.

    The three sub-folder names are templates with a ``{split}`` placeholder.
    """
    dirs = {k: os.path.join(root, d.format(split=split))
            for k, d in (("label", label_dir), ("img", image_dir), ("inst", instance_dir))}
    _require_dir(dirs["label"], "label")
    labels = _index(_files(dirs["label"], _MAP_EXTS), _LABEL_SUFFIXES, dirs["label"])
    if not labels:
        raise DataError(dirs["label"], "no .png label maps found")
    images = instances = None
    if load_images:
        _require_dir(dirs["img"], "image")
        images = _index(_files(dirs["img"], _IMAGE_EXTS), _IMAGE_SUFFIXES, dirs["img"])
    if use_instances:
        _require_dir(dirs["inst"], "instance map",
                     " (set data.use_instances=false if the dataset has none)")
        instances = _index(_files(dirs["inst"], _MAP_EXTS), _INSTANCE_SUFFIXES, dirs["inst"])
    where = {"label": dirs["label"], "image": dirs["img"], "instance": dirs["inst"]}
    return _pair(labels, images, instances, where, on_bad_file, bad_files)


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def _open(path: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except Exception as err:  # PIL raises many types for corrupt files
        raise DataError(path, f"cannot decode image file ({type(err).__name__}: {err})") from None


def _single_channel(path: str, image: Image.Image, what: str) -> np.ndarray:
    if image.mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        return np.asarray(image).astype(np.int32)
    raise DataError(
        path,
        f"{what} must be a single-channel id map (8/16-bit grey or palette PNG), got mode "
        f"{image.mode!r}; colour-coded label images are not id maps",
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _not_png(head: bytes) -> str:
    """What bytes that are not a PNG are, for the message: ``a JPEG`` or ``not a PNG``."""
    return "a JPEG" if head[:3] == b"\xff\xd8\xff" else "not a PNG"


def _check_png_head(head: bytes, where: str, what: str) -> None:
    """An id map must be a PNG (a JPEG, even a grey one, holds lossy ids: wrong ids)."""
    if not head.startswith(PNG_SIGNATURE):
        raise DataError(where, f"{what} must be a PNG of ids (8/16-bit grey or palette), this "
                               f"is {_not_png(head)}: lossy or colour images hold wrong ids")


_COLOUR_TYPES = {2: "an RGB", 4: "a grey + alpha", 6: "an RGBA"}


def _ihdr(head: bytes, where: str, what: str) -> Tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise DataError(where, f"cannot decode image file ({what}: no IHDR chunk, not a whole PNG)")
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[24], head[25]


def is_colour_png(head: bytes) -> bool:
    """Whether PNG bytes hold an RGB or RGBA image (what an id map cannot be)."""
    return head.startswith(PNG_SIGNATURE) and len(head) > 25 and head[25] in (2, 6)


def png_size(head: bytes, where: str, what: str = "label map") -> Tuple[int, int]:
    """(width, height) of an id-map PNG from its first 33 bytes (the IHDR
    chunk), after checking it IS an id map, before anything is decoded: grey
    of 8 or 16 bits or a palette (read as the index). Colour, grey + alpha and
    1/2/4-bit grey PNGs (which decoders rescale: 4-bit 1 reads as 17) are a
    :class:`DataError` saying why. The one rule of every reader of label and
    instance PNGs (``read_label``, the studio, ``decode_map_png``; the
    SavedModel's ``predict_png`` checks the same bytes in its graph)."""
    _check_png_head(head, where, what)
    width, height, depth, colour = _ihdr(head, where, what)
    if colour in _COLOUR_TYPES:
        raise DataError(where, f"{what} must be a single-channel id map (8/16-bit grey or "
                               f"palette PNG), this is {_COLOUR_TYPES[colour]} PNG; colour-coded "
                               "label images are not id maps")
    if colour == 0 and depth not in (8, 16):
        raise DataError(where, f"{what}: 1, 2 or 4-bit grey PNGs are refused (their values are "
                               f"rescaled on decoding; this one is {depth}-bit); save ids as 8 "
                               "or 16-bit grey")
    if colour not in (0, 3):
        raise DataError(where, f"cannot decode the PNG ({what}: colour type {colour})")
    return width, height


def decode_map_png(data: bytes, where: str, what: str = "label map",
                   max_pixels: Optional[int] = None) -> np.ndarray:
    """Raw ids int32 [H, W] of an id-map PNG held in memory (an upload, a
    request); ``where`` names it in errors. Not an id-map PNG (``png_size``)
    or a size over ``max_pixels`` (checked on the header, before decoding) is
    a :class:`DataError`."""
    width, height = png_size(data[:33], where, what)
    if max_pixels is not None and width * height > max_pixels:
        raise DataError(where, f"{what} is {width}x{height}, more than {max_pixels} pixels")
    try:
        image = Image.open(io.BytesIO(data))
        if max_pixels is not None and image.width * image.height > max_pixels:
            raise DataError(where, f"{what} is {image.width}x{image.height}, more than "
                                   f"{max_pixels} pixels")
        image.load()
    except DataError:
        raise
    except Exception as err:  # PIL raises many types for corrupt files
        raise DataError(where, f"cannot decode the PNG ({type(err).__name__}: {err})") from None
    return _single_channel(where, image, what)


def _open_map(path: str, what: str) -> Image.Image:
    """An id map's file, opened once its header says it is one (``png_size``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as err:
        raise DataError(path, f"cannot read the file ({err})") from None
    png_size(head, path, what)
    return _open(path)


def read_label(path: str) -> np.ndarray:
    """Raw label ids, int32 [H, W], of a grey (8/16-bit) or palette PNG (the index)."""
    return _single_channel(path, _open_map(path, "label map"), "label map")


def decode_color_png(data: bytes, where: str, codec, max_pixels: Optional[int] = None,
                     what: str = "label map") -> np.ndarray:
    """Raw label ids, int32 [H, W], of a colour-coded label PNG held in memory:
    every pixel an exact colour of ``codec`` (a
    :class:`tfsem.data.colors.ColorCodec`). RGB, opaque RGBA, palette and grey
    PNGs are read as their colours; JPEG is refused (its colours are not
    exact); a size over ``max_pixels`` is refused from the header."""
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(where, f"a colour {what} must be a PNG, this is {_not_png(data)} "
                               "(JPEG colours are not exact: they would read as wrong classes)")
    width, height, _, _ = _ihdr(data[:33], where, what)
    if max_pixels is not None and width * height > max_pixels:
        raise DataError(where, f"{what} is {width}x{height}, more than {max_pixels} pixels")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as err:  # PIL raises many types for corrupt files
        raise DataError(where, f"cannot decode the PNG ({type(err).__name__}: {err})") from None
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            y, x = np.argwhere(alpha < 255)[0]
            raise DataError(where, f"{int((alpha < 255).sum())} transparent pixel(s) (first: "
                                   f"y={y}, x={x}); a colour {what} is opaque")
    try:
        return codec.to_ids(np.asarray(image.convert("RGB")))
    except ValueError as err:
        raise DataError(where, str(err)) from None


def read_color_label(path: str, codec) -> np.ndarray:
    """Raw label ids, int32 [H, W], of a colour-coded label PNG file
    (:func:`decode_color_png`)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as err:
        raise DataError(path, f"cannot read the file ({err})") from None
    return decode_color_png(data, path, codec)


def read_instance(path: str) -> np.ndarray:
    """Raw instance ids, int32 [H, W] (Cityscapes: class*1000 + index, or class id)."""
    return _single_channel(path, _open_map(path, "instance map"), "instance map")


def read_image(path: str) -> np.ndarray:
    """RGB photo, uint8 [H, W, 3]."""
    image = _open(path)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def load_example(
    files: ExampleFiles, label_space: LabelSpace, dont_care: str, colors=None
) -> Dict[str, np.ndarray]:
    """Decodes and checks one example: label as class indices, instance, uint8
    image. ``colors``: a :class:`tfsem.data.colors.ColorCodec` when the label
    maps are colour-coded."""
    raw = read_label(files.label) if colors is None else read_color_label(files.label, colors)
    height, width = raw.shape
    try:
        label = label_space.encode(raw, dont_care)
    except ValueError as err:
        raise DataError(files.label, str(err)) from None
    out = {"label": label}
    if files.instance:
        instance = read_instance(files.instance)
        if instance.shape != raw.shape:
            raise DataError(
                files.instance,
                f"instance map is {instance.shape[1]}x{instance.shape[0]} but its label map "
                f"{files.label} is {width}x{height}",
            )
        out["instance"] = instance
    if files.image:
        image = read_image(files.image)
        if image.shape[:2] != raw.shape:
            raise DataError(
                files.image,
                f"image is {image.shape[1]}x{image.shape[0]} but its label map "
                f"{files.label} is {width}x{height}",
            )
        out["image"] = image
    return out
