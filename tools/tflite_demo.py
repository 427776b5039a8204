"""On-device demo: run a tfsem .tflite generator with LiteRT only (no TensorFlow).

    python tools/tflite_demo.py --model export/models/spade/tflite/v1/fp16.tflite \
        --labels examples/labels/street_0.png [--instances examples/instances/street_0.png] \
        --out photo.png [--threads 4] [--repeats 10] [--seed 0]
    python tools/tflite_demo.py --model export/models/photo/tflite/v1/fp32.tflite \
        --image input.jpg --out photo.png          # a photo-to-photo model
    python tools/tflite_demo.py --model export/models/semgan/tflite/v1/fp32.tflite \
        --seed 3 --out map.png [--truncation 0.7] [--mix-seed 5 --mix-layer 4]

Needs only ``ai-edge-litert``, ``numpy`` and ``pillow`` (``pip install
ai-edge-litert pillow``): the same runtime as on a phone or a Raspberry Pi.
The label PNG holds RAW label ids (e.g. Cityscapes labelIds), 8- or 16-bit
grey, at the model's fixed size; ids are checked against the
``label_space.json`` written next to the .tflite files. Without
``--instances`` the label map stands in for the instance map. Prints the
median latency over ``--repeats`` runs. A photo-to-photo model
(``data.input: image``) takes ``--image`` instead: any photo, resized
(bicubic) to the model's size. A SemGAN or dream model takes neither: it
samples from the latent of ``--seed``, the z tfsem's Python seed gives (drawn
with numpy: ``tfsem.seed_latents``; ``--z FILE.npy`` passes a latent
[1, z_dim] instead) and
writes the colour label map (SemGAN) or the photo (dream); a style SemGAN
also takes ``--truncation`` and ``--mix-seed`` / ``--mix-layer``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from PIL import Image


class DemoError(Exception):
    pass


def _read_ids(path: str, what: str) -> np.ndarray:
    """The ids of an id-map PNG by tfsem's one rule (``tfsem.data.readers``, which
    needs numpy and Pillow only): 8/16-bit grey or palette indices; JPEGs,
    colour and 1/2/4-bit grey PNGs are refused with the reason."""
    from tfsem.data.readers import DataError, read_instance, read_label

    try:
        return (read_instance if what == "instance map" else read_label)(path)
    except DataError as err:
        raise DemoError(str(err)) from None


def _valid_ids(label_space_path: str) -> set:
    with open(label_space_path, encoding="utf-8") as f:
        space = json.load(f)
    ids = {int(c["id"]) for c in space["classes"] if int(c["id"]) >= 0}
    if space.get("dont_care_id") is not None:
        ids.add(int(space["dont_care_id"]))
    return ids


def _read_photo(path: str, height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] of a photo file, resized (bicubic) to the model's size."""
    try:
        image = Image.open(path).convert("RGB")
    except FileNotFoundError:
        raise DemoError(f"{path}: no such photo") from None
    except Exception as err:  # PIL raises many types for corrupt files
        raise DemoError(f"{path}: cannot decode the photo ({type(err).__name__})") from None
    if image.size != (width, height):
        image = image.resize((width, height), Image.BICUBIC)
    return np.asarray(image, np.uint8)


def run(model_path, labels, out, instances=None, label_space=None, threads=None, repeats=1,
        seed=0, cluster=0, image=None, z=None, truncation=None, mix_seed=None, mix_layer=None):
    """Returns (image uint8 [H, W, 3], median seconds)."""
    from ai_edge_litert.interpreter import Interpreter

    if not os.path.isfile(model_path):
        raise DemoError(f"{model_path}: no such .tflite file")
    try:
        interpreter = Interpreter(model_path=model_path, num_threads=threads)
    except ValueError as err:
        raise DemoError(f"{model_path}: not a TFLite model ({str(err).splitlines()[0]})") from None
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    if list(details) == ["image"]:  # a photo-to-photo model
        if image is None:
            raise DemoError(f"{model_path}: a photo-to-photo model; pass --image PHOTO")
        _, height, width, _ = details["image"]["shape"]
        return _timed(runner, {"image": _read_photo(image, height, width)[None]}, repeats, out)
    if "label_map" not in details and "z" in details:  # SemGAN, or dream
        if image is not None or labels is not None:
            raise DemoError(f"{model_path}: samples label maps from a latent; it takes no "
                            "--labels or --image (pass --seed or --z)")
        return _timed(runner, _latent_inputs(details, seed, z, truncation, mix_seed, mix_layer,
                                             cluster), repeats, out)
    if truncation is not None or mix_seed is not None or mix_layer is not None or z is not None:
        raise DemoError(f"{model_path}: --z, --truncation and --mix-* are for SemGAN models")
    if image is not None:
        raise DemoError(f"{model_path}: renders label maps; pass --labels, not --image")
    if labels is None:
        raise DemoError(f"{model_path}: renders label maps; pass --labels")
    if "label_map" not in details:
        raise DemoError(f"{model_path}: not a tfsem generator (inputs: {', '.join(details)})")
    _, height, width = details["label_map"]["shape"]
    label = _read_ids(labels, "label map")
    if label.shape != (height, width):
        raise DemoError(f"{labels}: label map is {label.shape[1]}x{label.shape[0]} (WxH), "
                        f"the model takes {width}x{height}; export with --height/--width")
    label_space = label_space or os.path.join(os.path.dirname(model_path), "label_space.json")
    if os.path.isfile(label_space):
        valid = _valid_ids(label_space)
        bad = sorted(set(np.unique(label).tolist()) - valid)
        if bad:
            raise DemoError(f"{labels}: ids {bad[:10]} are not in the label space "
                            f"({label_space})")
    inputs = {"label_map": label[None]}
    if "instance_map" in details:
        instance = _read_ids(instances, "instance map") if instances else label
        if instance.shape != label.shape:
            raise DemoError(f"{instances}: instance map size differs from the label map")
        inputs["instance_map"] = instance[None]
    if "cluster" in details:  # pix2pixHD with instance features: the appearance cluster
        inputs["cluster"] = np.array([cluster], np.int32)
    if "z" in details:
        inputs["z"] = _latent(seed, int(details["z"]["shape"][-1]))
    return _timed(runner, inputs, repeats, out)


def _latent(seed: int, z_dim: int, stream: int = 0) -> np.ndarray:
    """z [1, z_dim] of ``seed``: the latent tfsem's Python seed gives
    (``tfsem.seed_latents``, numpy only)."""
    from tfsem.seed_latents import latent_for_seeds_numpy

    return latent_for_seeds_numpy([seed], z_dim, stream)


def _latent_inputs(details, seed, z, truncation, mix_seed, mix_layer, cluster) -> dict:
    """A SemGAN or dream model's inputs: z (``--z`` or from ``seed``), a style
    SemGAN's controls (defaults: psi 1, unmixed), a dream renderer's look."""
    z_dim = int(details["z"]["shape"][-1])
    if z is not None:
        try:
            z = np.asarray(np.load(z), np.float32).reshape(1, -1)
        except (OSError, ValueError) as err:
            raise DemoError(f"{z}: not a .npy latent ({err})") from None
        if z.shape[1] != z_dim:
            raise DemoError(f"--z: the model takes z of {z_dim} values, the file has {z.shape[1]}")
    inputs = {"z": _latent(seed, z_dim) if z is None else z}
    styled = {"truncation_psi", "mix_z", "mix_layer"} <= set(details)
    if not styled and (truncation is not None or mix_seed is not None or mix_layer is not None):
        raise DemoError("--truncation / --mix-seed / --mix-layer: this model has no style "
                        "generator (model.semgan.block: style)")
    if mix_layer is not None and mix_seed is None:
        raise DemoError("--mix-layer needs --mix-seed (whose style the layers take)")
    if styled:  # mixing z with itself is no mixing
        inputs["truncation_psi"] = np.array(1.0 if truncation is None else truncation, np.float32)
        inputs["mix_z"] = inputs["z"] if mix_seed is None else _latent(mix_seed, z_dim)
        inputs["mix_layer"] = np.array(-1 if mix_layer is None else mix_layer, np.int32)
    if "style_z" in details:  # a dream renderer with a style encoder
        inputs["style_z"] = _latent(seed, int(details["style_z"]["shape"][-1]), stream=1)
    if "cluster" in details:
        inputs["cluster"] = np.array([cluster], np.int32)
    return inputs


def _timed(runner, inputs, repeats, out):
    """(the photo the model makes of ``inputs`` (SemGAN: its colour label map),
    written to ``out``; median seconds)."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        outputs = runner(**inputs)
        times.append(time.perf_counter() - start)
    image = outputs["image"] if "image" in outputs else outputs["color"]
    image = np.asarray(image[0], dtype=np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    Image.fromarray(image).save(out)
    return image, float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=".tflite file from python -m tfsem.export")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--labels", help="label-id PNG at the model's size")
    given.add_argument("--image", help="photo-to-photo models: the input photo (any size)")
    given.add_argument("--z", default=None, help="SemGAN / dream models: the latent, a .npy "
                                                 "[1, z_dim] (default: drawn from --seed)")
    parser.add_argument("--instances", default=None, help="instance-id PNG (optional)")
    parser.add_argument("--out", required=True, help="output photo PNG")
    parser.add_argument("--label-space", default=None,
                        help="label_space.json (default: next to the model)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0,
                        help="latent seed of SemGAN / dream models, style seed of VAE models")
    parser.add_argument("--truncation", type=float, default=None, metavar="PSI",
                        help="style SemGAN: truncation psi (1: the latent's own style)")
    parser.add_argument("--mix-seed", type=int, default=None,
                        help="style SemGAN: the layers from --mix-layer on take this seed's style")
    parser.add_argument("--mix-layer", type=int, default=None,
                        help="style SemGAN: the first mixed style input (default: half of them)")
    parser.add_argument("--cluster", type=int, default=0,
                        help="pix2pixHD with features: appearance cluster of every class")
    args = parser.parse_args(argv)
    try:
        for given, what in ((args.labels, "--labels"), (args.instances, "--instances"),
                            (args.model, "--model"), (args.image, "--image"), (args.z, "--z")):
            if given and os.path.abspath(given) == os.path.abspath(args.out):
                raise DemoError(f"{args.out}: --out would overwrite the {what} input")
        image, seconds = run(args.model, args.labels, args.out, args.instances, args.label_space,
                             args.threads, args.repeats, args.seed, args.cluster, args.image,
                             args.z, args.truncation, args.mix_seed, args.mix_layer)
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # one line, never a traceback (TFSEM_DEBUG=1 shows it)
        if os.environ.get("TFSEM_DEBUG") == "1":
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        print(f"error: {type(err).__name__}: {first} (set TFSEM_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}); "
          f"latency {1000 * seconds:.1f} ms (median of {max(1, args.repeats)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
