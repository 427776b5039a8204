"""torchvision's ImageNet VGG19 (``vgg19-dcbb9e9d.pth``) for the perceptual loss.

NVlabs/SPADE (``models/networks/architecture.py`` ``VGG19``) and
NVIDIA/pix2pixHD (``models/networks.py`` ``Vgg19``) take
``torchvision.models.vgg19(pretrained=True).features``: its 16 convs
(``features.{0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34}``), each followed by
a ReLU, with 2x2 max pools between the blocks, exactly Keras'
``VGG19(include_top=False)`` layer for layer. This reads the file (weights
only, never unpickling code; the classifier is ignored) into that Keras
model's conv layers.
"""

from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from tfsem.convert.state_dict import load_state_dict

__all__ = ["TORCHVISION_VGG19_FILE", "TORCHVISION_VGG19_CONVS", "find_torchvision_vgg19",
           "load_torchvision_vgg19", "torchvision_vgg19_kernels"]

#: The file torchvision downloads for ``vgg19(pretrained=True)``.
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"
#: Indices of the convs in ``vgg19().features``.
TORCHVISION_VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def torch_hub_checkpoints() -> str:
    """Where torchvision keeps downloaded weights: ``$TORCH_HOME/hub/checkpoints``
    (``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return os.path.join(home, "hub", "checkpoints")


def find_torchvision_vgg19() -> str:
    """torchvision's VGG19 file in the torch hub cache; a FileNotFoundError saying
    where to put it otherwise. Never downloads."""
    path = os.path.join(torch_hub_checkpoints(), TORCHVISION_VGG19_FILE)
    if os.path.isfile(path):
        return path
    raise FileNotFoundError(
        f"VGG19 weights for the perceptual loss not found: torchvision's {TORCHVISION_VGG19_FILE} "
        f"is not in the torch hub cache ({path}). Put it there (torchvision.models.vgg19("
        "weights='IMAGENET1K_V1') downloads it; needs the torch extra to read), set "
        "vgg_weights to its path, to Keras' VGG19 notop .h5 or keras_cache (a departure: "
        "Caffe weights and input), or set lambda_vgg to 0. tfsem never downloads weights.")


def torchvision_vgg19_kernels(state: dict, source: str = "state dict"
                              ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(kernel [kh, kw, in, out], bias) of the 16 convs of a torchvision VGG19
    state dict (keys ``features.<i>.weight`` / ``.bias``), in order."""
    out = []
    for i in TORCHVISION_VGG19_CONVS:
        try:
            w, b = state[f"features.{i}.weight"], state[f"features.{i}.bias"]
        except KeyError as err:
            raise ValueError(f"{source}: not a torchvision VGG19 state dict (no {err.args[0]!r})"
                             ) from None
        if w.ndim != 4 or w.shape[2:] != (3, 3):
            raise ValueError(f"{source}: features.{i}.weight has shape {w.shape}, expected "
                             "[out, in, 3, 3]")
        out.append((np.transpose(np.asarray(w, np.float32), (2, 3, 1, 0)),
                    np.asarray(b, np.float32)))
    extra = sorted(k for k in state if k.startswith("features.") and
                   int(k.split(".")[1]) not in TORCHVISION_VGG19_CONVS)
    if extra:
        raise ValueError(f"{source}: unexpected tensors {extra[:3]} for a VGG19's features")
    return out


def load_torchvision_vgg19(keras_vgg19, path: str) -> None:
    """Loads ``path`` (a torchvision VGG19 ``.pth``) into a Keras
    ``VGG19(include_top=False)``: conv i of the file -> the i-th Conv2D."""
    kernels = torchvision_vgg19_kernels(load_state_dict(path), path)
    convs = [layer for layer in keras_vgg19.layers if layer.__class__.__name__ == "Conv2D"]
    if len(convs) != len(kernels):
        raise ValueError(f"expected a Keras VGG19 with 16 convs, got {len(convs)}")
    for layer, (kernel, bias) in zip(convs, kernels):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise ValueError(f"{path}: {layer.name} has shape {tuple(layer.kernel.shape)}, "
                             f"the file's conv {kernel.shape}")
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
