"""Reading official PyTorch checkpoints and moving their tensors into Keras variables.

``load_state_dict`` reads a ``latest_net_G.pth`` with
``torch.load(map_location="cpu", weights_only=True)``: tensors only, no code
is ever unpickled. ``StateDict`` hands out tensors by name in Keras layouts
and remembers which were used, so a converter can refuse checkpoints with
keys it did not expect (or lacks keys it needs), naming them.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Dict, Optional

import numpy as np

__all__ = ["Options", "StateDict", "load_state_dict", "opt_number", "read_opt_file",
           "sha256_of"]

# InstanceNorm2d of PyTorch < 0.4 saved running statistics it never used;
# checkpoints of that era (pix2pixHD's releases) still carry them.
_LEGACY_NORM_KEY = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(path: str) -> Dict[str, np.ndarray]:
    """A checkpoint's tensors as float32/int numpy arrays, ``module.`` prefixes stripped."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "reading PyTorch checkpoints needs PyTorch: pip install 'tfsem[convert]' "
            "(on CPU-only machines: pip install torch==2.13.0 takes the CPU build)") from None
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad files (an empty one: EOF)
        first = (str(err).splitlines() or ["the file is empty or cut short"])[0][:200]
        raise ValueError(f"{path}: not a readable PyTorch checkpoint of tensors "
                         f"({type(err).__name__}: {first})") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(raw).__name__}")
    out = {}
    for key, value in raw.items():
        if not torch.is_tensor(value):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        name = key[len("module."):] if key.startswith("module.") else key
        out[name] = value.detach().cpu().numpy()
    if not out:
        raise ValueError(f"{path}: the state dict holds no tensors")
    bad = [name for name, value in out.items()
           if value.dtype.kind == "f" and not np.isfinite(value).all()]
    if bad:
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        raise ValueError(f"{path}: tensors with NaN or Inf values: {', '.join(bad[:5])}{more}; "
                         "the checkpoint is broken (a diverged run?), nothing was converted")
    return out


class Options(dict):
    """``opt.txt``'s name -> value text, remembering its file (``source``)."""

    source = "opt.txt"


def opt_number(options, name: str, kind=int, default=None):
    """Option ``name`` as a positive finite ``kind`` (``default`` when absent); a
    value that is not one is a ValueError naming the file and the option."""
    import math

    if name not in options:
        return default
    text = options[name]
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{getattr(options, 'source', 'opt.txt')}: {name}: expected a positive "
                         f"{kind.__name__}, got {text!r}")
    return value


def read_opt_file(path: str) -> Dict[str, str]:
    """The options SPADE writes next to its checkpoints (``opt.txt``): name -> value text."""
    from tfsem.fileio import read_small_file

    options = Options()
    options.source = path
    for line in read_small_file(path, "options file (opt.txt)").splitlines():
        match = re.match(r"^\s*([A-Za-z_][\w]*):\s*(.*?)\s*(\t\[default: .*\])?\s*$", line)
        if match:
            options[match.group(1)] = match.group(2)
    if not options:
        raise ValueError(f"{path}: no 'name: value' option lines found")
    return options


def _conv_kernel(w):  # torch [out, in, kh, kw] -> keras [kh, kw, in, out]
    return np.transpose(w, (2, 3, 1, 0))


class StateDict:
    """Tensors of one network, handed out in Keras layouts; tracks what was used."""

    def __init__(self, tensors: Dict[str, np.ndarray], source: str):
        self.tensors = dict(tensors)
        self.source = source
        self.used = set()

    def has(self, key: str) -> bool:
        return key in self.tensors

    def take(self, key: str, shape: Optional[tuple] = None) -> np.ndarray:
        if key not in self.tensors:
            near = sorted(k for k in self.tensors if k.split(".")[0] == key.split(".")[0])[:6]
            raise ValueError(f"{self.source}: missing key {key!r} (keys under that prefix: "
                             f"{near or 'none'})")
        self.used.add(key)
        value = np.asarray(self.tensors[key])
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ValueError(f"{self.source}: {key!r} has shape {tuple(value.shape)}, the "
                             f"converted network needs {tuple(shape)}")
        return value

    def skip(self, key: str) -> None:
        """Marks a tensor that has no counterpart by design (a bias that a norm cancels)."""
        self.take(key)

    def finish(self) -> None:
        """Raises if any tensor was not used (legacy InstanceNorm statistics excepted)."""
        left = sorted(k for k in self.tensors if k not in self.used
                      and not _LEGACY_NORM_KEY.search(k))
        if left:
            raise ValueError(f"{self.source}: unexpected key(s) {left[:8]}"
                             f"{' (+%d more)' % (len(left) - 8) if len(left) > 8 else ''}: the "
                             "checkpoint has layers the inferred architecture lacks")

    # -- layouts -----------------------------------------------------------
    def _assign(self, variable, value, key):
        if tuple(variable.shape) != tuple(value.shape):
            original = tuple(np.shape(self.tensors[key])) if key in self.tensors else "?"
            raise ValueError(
                f"{self.source}: {key!r} has shape {original} ({tuple(value.shape)} in Keras "
                f"layout), but the inferred network's {variable.path} is "
                f"{tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype))

    def conv(self, layer, prefix: str, bias_cancelled: bool = False) -> None:
        """``nn.Conv2d`` (weight, bias) -> Conv2D; ``bias_cancelled``: the reference's
        bias sits before an instance norm, which removes it, and the layer has none."""
        self._assign(layer.kernel, _conv_kernel(self.take(prefix + ".weight")), prefix + ".weight")
        self._bias(layer, prefix, bias_cancelled)

    def _bias(self, layer, prefix: str, bias_cancelled: bool) -> None:
        if layer.use_bias:
            self._assign(layer.bias, self.take(prefix + ".bias"), prefix + ".bias")
        elif self.has(prefix + ".bias"):
            if not bias_cancelled:
                raise ValueError(f"{self.source}: {prefix + '.bias'!r} has no place in the "
                                 "converted network (its conv has no bias)")
            self.skip(prefix + ".bias")

    def conv_transpose(self, layer, prefix: str, bias_cancelled: bool = False) -> None:
        """``nn.ConvTranspose2d`` [in, out, kh, kw] -> Conv2DTranspose [kh, kw, out, in]."""
        w = self.take(prefix + ".weight")
        self._assign(layer.kernel, np.transpose(w, (2, 3, 1, 0)), prefix + ".weight")
        self._bias(layer, prefix, bias_cancelled)

    def spectral_conv(self, layer, prefix: str) -> None:
        """``spectral_norm(nn.Conv2d)``: weight_orig, weight_u [out], weight_v [in*kh*kw]
        (flattened in (in, kh, kw) order) -> SpectralConv2D kernel, sn_u, sn_v (kh, kw, in)."""
        w = self.take(prefix + ".weight_orig")
        self._assign(layer.kernel, _conv_kernel(w), prefix + ".weight_orig")
        out_c, in_c, kh, kw = w.shape
        self._assign(layer.sn_u, self.take(prefix + ".weight_u", (out_c,))[None],
                     prefix + ".weight_u")
        v = self.take(prefix + ".weight_v", (in_c * kh * kw,)).reshape(in_c, kh, kw)
        self._assign(layer.sn_v, np.transpose(v, (1, 2, 0)).reshape(1, -1), prefix + ".weight_v")
        self._bias(layer, prefix, bias_cancelled=False)

    def any_conv(self, layer, prefix: str) -> None:
        """A conv that may or may not carry spectral norm in the checkpoint."""
        from tfsem.layers.spectral_conv2d import SpectralConv2D

        spectral = self.has(prefix + ".weight_orig")
        if spectral != isinstance(layer, SpectralConv2D):
            raise ValueError(f"{self.source}: {prefix!r} is {'' if spectral else 'not '}"
                             "spectrally normalised in the checkpoint but the inferred "
                             "network says otherwise")
        (self.spectral_conv if spectral else self.conv)(layer, prefix)

    def batch_norm_stats(self, layer, prefix: str) -> None:
        """Running statistics of a parameter-free BatchNorm2d -> moving mean / variance."""
        self._assign(layer.moving_mean, self.take(prefix + ".running_mean"),
                     prefix + ".running_mean")
        self._assign(layer.moving_variance, self.take(prefix + ".running_var"),
                     prefix + ".running_var")
        if self.has(prefix + ".num_batches_tracked"):
            self.skip(prefix + ".num_batches_tracked")

    def batch_norm(self, layer, prefix: str) -> None:
        """``BatchNorm2d(affine=True)``: weight, bias and running statistics."""
        self._assign(layer.gamma, self.take(prefix + ".weight"), prefix + ".weight")
        self._assign(layer.beta, self.take(prefix + ".bias"), prefix + ".bias")
        self.batch_norm_stats(layer, prefix)

    def dense(self, layer, prefix: str, in_perm=None, out_perm=None) -> None:
        """``nn.Linear`` [out, in] -> Dense [in, out]; ``in_perm`` / ``out_perm`` reorder
        the features where the reference flattens or views NCHW and tfsem NHWC."""
        w = self.take(prefix + ".weight").T
        b = self.take(prefix + ".bias")
        if in_perm is not None:
            w = w[in_perm]
        if out_perm is not None:
            w, b = w[:, out_perm], b[out_perm]
        self._assign(layer.kernel, w, prefix + ".weight")
        self._assign(layer.bias, b, prefix + ".bias")


def nchw_to_nhwc_order(channels: int, height: int, width: int) -> np.ndarray:
    """Index map: entry j of an NHWC-flattened vector is entry ``order[j]`` of the
    NCHW-flattened one (the reference's ``view``)."""
    return np.arange(channels * height * width).reshape(channels, height, width).transpose(
        1, 2, 0).reshape(-1)
