"""pix2pixHD label and appearance editing (paper fig. 1b/1c): the library
behind ``python -m tfsem.edit`` (see that module for the options)."""


from __future__ import annotations

import os
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tfsem.data.labels import load_label_space
from tfsem.data.readers import DataError, read_instance, read_label
from tfsem.fileio import check_outputs
from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
from tfsem.inference.feature_clusters import load_run_clusters
from tfsem.inference.generate import label_inputs
from tfsem.runs import load_run

__all__ = ["edit_image", "replace_classes"]


def _class_id(space, text: str) -> int:
    """A raw id from a class name or a number."""
    if text.strip().lstrip("-").isdigit():
        return int(text)
    for c in space.classes:
        if c.name == text.strip():
            return c.id
    raise ValueError(f"--replace: unknown class {text!r} in the {space.name} label space "
                     f"(names: {', '.join(c.name for c in space.classes[:12])}, ...)")


def replace_classes(raw: np.ndarray, instance: np.ndarray, replacements: Sequence[Tuple[int, int]]):
    """(edited raw label map, edited instance map): pixels of each source id get
    the target id; in the instance map they become one region whose id is the
    target id (the Cityscapes convention for a region without instances).
    Nothing outside the replaced pixels changes."""
    raw, instance = raw.copy(), instance.copy()
    for src, dst in replacements:
        mask = raw == src
        raw[mask] = dst
        instance[mask] = dst
    return raw, instance


def _parse_pairs(values, what) -> List[Tuple[str, str]]:
    pairs = []
    for value in values or []:
        if value.count(":") != 1:
            raise ValueError(f"{what}: expected A:B, got {value!r}")
        pairs.append(tuple(value.split(":")))
    return pairs


def edit_image(model_path, labels, out, instances=None, replace=(), instance_cluster=(),
               cluster="0", seed=0, features=None, config_path=None, stream=None):
    """Before / after images of label and appearance edits (``python -m
    tfsem.edit``); returns {name: path} of the written images."""
    stream = stream or sys.stdout
    config, model = load_run(model_path, config_path)
    space = load_label_space(config.data.label_space)
    dont_care = config.data.dont_care
    check_outputs([(os.path.join(out, f"{name}.png"), name) for name in
                   ("before", "after", "labels_before", "labels_after", "grid")],
                  [labels, instances, features])
    raw = read_label(labels)
    inst = read_instance(instances) if instances else raw.copy()
    if inst.shape != raw.shape:
        raise DataError(instances, "instance map size differs from the label map")
    pairs = [(_class_id(space, a), _class_id(space, b)) for a, b in
             _parse_pairs(replace, "--replace")]
    per_instance: Dict[int, int] = {}
    for a, b in _parse_pairs(instance_cluster, "--instance-cluster"):
        if not a.isdigit() or not b.isdigit():
            raise ValueError(f"--instance-cluster: expected INSTANCE_ID:CLUSTER, got {a}:{b}")
        if int(a) not in set(np.unique(inst).tolist()):
            raise ValueError(f"--instance-cluster: instance id {a} is not in "
                             f"{instances or labels}")
        per_instance[int(a)] = int(b)
    if not pairs and not per_instance:
        raise ValueError("nothing to edit: give --replace SRC:DST and/or --instance-cluster ID:K")
    if not model.conditional:
        raise ValueError(f"{model_path} is a {type(model).__name__} model: it samples label "
                         "maps from noise; editing needs a label-to-photo run")
    clusters = None
    if model.use_features:
        clusters = load_run_clusters(model_path, features)
    elif per_instance:
        raise ValueError("--instance-cluster needs a pix2pixHD model with instance features")

    def render(raw_map, inst_map, overrides):
        label, instance = label_inputs(model, space, dont_care, raw_map, inst_map, labels)
        inputs = model.inference_inputs(label, instance, seed=seed, clusters=clusters,
                                        cluster=cluster, per_instance=overrides)
        image = image_to_uint8(model(inputs, training=False)[0].numpy())
        return label[0].numpy(), image

    new_raw, new_inst = replace_classes(raw, inst, pairs)
    label_before, before = render(raw, inst, None)
    label_after, after = render(new_raw, new_inst, per_instance)
    written = {}
    for name, image in (("before", before), ("after", after),
                        ("labels_before", label_to_rgb(label_before, space, dont_care)),
                        ("labels_after", label_to_rgb(label_after, space, dont_care))):
        written[name] = os.path.join(out, f"{name}.png")
        save_png(image, written[name])
    written["grid"] = os.path.join(out, "grid.png")
    save_png(make_grid([[label_to_rgb(label_before, space, dont_care), before],
                        [label_to_rgb(label_after, space, dont_care), after]]), written["grid"])
    changed = int((new_raw != raw).sum())
    print(f"edited {changed} label pixels, {len(per_instance)} instance appearance(s); "
          f"wrote {out}/before.png, after.png, grid.png", file=stream)
    return written
