"""The official SEAN code (ZPdesu/SEAN, ``../shared/reference/code/SEAN``), loaded
for tests on the CPU.

The official code hard-codes the style length (512) twice; ``official_sean``
patches those two numbers smaller (and its ``.cuda()`` calls away, as the
reference's ``make_train_fixtures.py`` does), so the official networks run
their own code path at a test's size. Nothing of it is copied: its files are
read from the reference folder and executed with the replacements."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SEAN_CODE = os.path.join(os.path.dirname(REPO), "shared", "reference", "code", "SEAN")
STUBS = os.path.join(os.path.dirname(REPO), "shared", "reference", "code", "stubs")
_PREFIXES = ("models.", "util", "torchvision", "data", "options", "trainers")


def _patched(module, replacements):
    """Re-executes ``module``'s source with ``replacements`` (old -> new) in place."""
    source = open(module.__file__, encoding="utf-8").read()
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    exec(compile(source, module.__file__, "exec"), module.__dict__)


def _official_modules():
    return [k for k in sys.modules if k == "models" or k.startswith(_PREFIXES)]


@contextlib.contextmanager
def official_sean(style_length: int):
    """Yields a namespace with the official modules ``norm`` (normalization),
    ``gen`` (generator), ``disc`` (discriminator), patched for the CPU and
    ``style_length``; restores ``sys.modules`` afterwards."""
    saved = {k: sys.modules[k] for k in _official_modules()}
    for key in saved:
        del sys.modules[key]
    sys.path[:0] = [SEAN_CODE, STUBS]
    try:
        norm = importlib.import_module("models.networks.normalization")
        _patched(norm, [("self.style_length = 512", f"self.style_length = {style_length}"),
                        (".cuda()", "")])
        arch = importlib.import_module("models.networks.architecture")
        importlib.reload(arch)
        gen = importlib.import_module("models.networks.generator")
        importlib.reload(gen)
        _patched(gen, [("Zencoder(3, 512)", f"Zencoder(3, {style_length})")])
        assert "nn.Conv2d(256, output_nc" in open(arch.__file__).read()  # zencoder ngf 32
        disc = importlib.import_module("models.networks.discriminator")
        importlib.reload(disc)
        yield types.SimpleNamespace(norm=norm, gen=gen, disc=disc)
    finally:
        del sys.path[:2]
        for key in _official_modules():
            del sys.modules[key]
        sys.modules.update(saved)


def options(**overrides):
    """The official options the networks read, at a test's size (CelebA-HQ's
    settings: 19 labels, no instances, no don't-care)."""
    opt = dict(ngf=4, ndf=4, semantic_nc=19, label_nc=19, crop_size=64, aspect_ratio=1.0,
               num_upsampling_layers="normal", norm_G="spectralspadesyncbatch3x3",
               norm_D="spectralinstance", status="train", num_D=2, n_layers_D=3,
               netD_subarch="n_layer", output_nc=3, contain_dontcare_label=False,
               no_instance=True, no_ganFeat_loss=False)
    opt.update(overrides)
    return types.SimpleNamespace(**opt)


def pattern(b, c, h, w, salt):
    """A deterministic 'noise' both sides can make: [b, c, h, w]."""
    grid = np.meshgrid(np.arange(b), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return np.sin(1.3 * grid[0] + 0.7 * grid[2] + 0.31 * grid[3] + salt).astype(np.float32)


def randomise(net, torch):
    """Makes every tensor matter: random noise strengths, blends and BN statistics."""
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if name.endswith(("blending_gamma", "blending_beta")):
                value.copy_(torch.randn_like(value))
            elif name.endswith("noise_var"):
                value.copy_(0.3 * torch.randn_like(value))
            elif name.endswith("running_mean"):
                value.copy_(0.1 * torch.randn_like(value))
            elif name.endswith("running_var"):
                value.copy_(1.0 + torch.rand_like(value))
