"""The model families: the one place that lists them.

Each :class:`Family` maps a ``model.type`` to its config section, its task
class(es) (per variant of the section), the Adam settings it trains with when
a config leaves them out, its quickstart config and its export module. The
trainer, the CLIs and the exporters look a family up here and then call the
task's declared methods (``tfsem.models.base.GANTask``); nothing else asks
what a model is. Adding a family: its section (``tfsem/config/<family>.py``),
its task (``tfsem/models/<family>.py``) and one entry below.

Model: TF Model Garden's experiment registry (``official/core/exp_factory.py``)
and keras-hub's ``Task``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Dict, Mapping

from tfsem.config.gaugan import GauGANConfig
from tfsem.config.pix2pix import Pix2PixConfig
from tfsem.config.pix2pixhd import Pix2PixHDConfig
from tfsem.config.schema import ConfigError, describe
from tfsem.config.semgan import SemGANConfig

__all__ = ["FAMILIES", "Family", "describe_families", "family", "family_of"]


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        type: ``model.type`` in configs; also the section's key.
        section: the config dataclass of ``model.<type>``.
        tasks: section variant (``section.variant()``, ``"default"`` when the
            section has none) -> ``"module:Class"`` of the task (imported on use,
            so configs load without TensorFlow).
        optimizer: Adam ``g_lr``, ``d_lr``, ``beta_1``, ``beta_2`` of a config
            without them, with their source.
        quickstarts: variant -> the toy_streets config (no dataset needed).
        export: module with ``export_saved_model`` / ``tflite_graph`` /
            ``calibration_inputs`` for this family's tasks.
        summary: one line for listings.
        adam: ``pytorch`` (``tfsem.optimizers.TorchAdam``: the official
            code's ``torch.optim.Adam``, epsilon 1e-8) or ``keras``
            (``FusedAdam``, Keras' formula, for families without official code).
        lr_decay: how ``optimizer.decay_epochs`` / ``decay_steps`` decay the
            rates (``tfsem.train.build.LinearDecay``): ``niter_decay``
            (NVlabs/SPADE and NVIDIA/pix2pixHD) or ``pix2pix``
            (junyanz/pytorch-CycleGAN-and-pix2pix's ``lr_policy linear``).
        drop_last: the official loader drops the last, smaller batch of an
            epoch (NVlabs/SPADE), so an epoch is floor(examples / batch) steps.
    """

    type: str
    section: type
    tasks: Mapping[str, str]
    optimizer: Mapping[str, float]
    quickstarts: Mapping[str, str]
    export: str
    summary: str
    adam: str = "pytorch"
    lr_decay: str = "niter_decay"
    drop_last: bool = False

    @staticmethod
    def variant(section) -> str:
        return section.variant() if hasattr(section, "variant") else "default"

    def task_class(self, section):
        """The task class of ``section``'s variant."""
        module, _, name = self.tasks[self.variant(section)].partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, config):
        """The (unbuilt) task of experiment ``config``."""
        return self.task_class(config.model.section).from_experiment(config)

    def quickstart(self, section) -> str:
        return self.quickstarts.get(self.variant(section), self.quickstarts["default"])

    def export_module(self):
        return importlib.import_module(self.export)


FAMILIES: Dict[str, Family] = {f.type: f for f in (
    Family(
        type="gaugan", section=GauGANConfig,
        tasks={"default": "tfsem.models.gaugan:GauGAN"},
        # NVlabs/SPADE train_options.py: lr 2e-4 with TTUR (G lr / 2, D lr * 2),
        # beta1 0, beta2 0.9: the maintainers' setting for TTUR (NVlabs/SPADE #50).
        optimizer={"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
        quickstarts={"default": "configs/quickstart.json"},
        export="tfsem.export.generator",
        summary="SPADE / GauGAN: label map (+ instances, + style) -> photo",
        drop_last=True),
    Family(
        type="pix2pixhd", section=Pix2PixHDConfig,
        tasks={"default": "tfsem.models.pix2pixhd:Pix2PixHD"},
        # NVIDIA/pix2pixHD train_options.py: lr 2e-4 for both, beta1 0.5; beta2
        # 0.999 (pix2pixHD_model.py).
        optimizer={"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
        quickstarts={"default": "configs/quickstart_pix2pixhd.json"},
        export="tfsem.export.generator",
        summary="pix2pixHD: label + instance map (+ instance features) -> photo"),
    Family(
        type="pix2pix", section=Pix2PixConfig,
        tasks={"default": "tfsem.models.pix2pix:Pix2Pix"},
        # junyanz/pytorch-CycleGAN-and-pix2pix train_options.py: lr 2e-4, beta1 0.5;
        # beta2 0.999 (pix2pix_model.py).
        optimizer={"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
        quickstarts={"default": "configs/quickstart_pix2pix.json"},
        export="tfsem.export.generator",
        summary="pix2pix: label map (+ instance edges) -> photo (U-Net + PatchGAN)",
        lr_decay="pix2pix"),
    Family(
        type="semgan", section=SemGANConfig,
        tasks={"classes": "tfsem.models.semgan:SemGAN",
               "colors": "tfsem.models.color_label_gan:ColorLabelGAN",
               "photos": "tfsem.models.photo_gan:PhotoGAN"},
        # The TTUR setting its report was measured with (the paper publishes none).
        optimizer={"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
        quickstarts={"default": "configs/quickstart_semgan.json",
                     "colors": "configs/quickstart_semgan_baseline.json",
                     "photos": "configs/quickstart_photogan.json"},
        export="tfsem.export.label_maps",
        summary="SemGAN: noise -> label map (classes), its colour-GAN baseline (colors), or the "
                "one-stage photo GAN (photos)",
        adam="keras"),
)}


def family(type_: str, path: str = "model.type") -> Family:
    """The family of ``model.type`` ``type_``; a ValueError naming the known ones."""
    try:
        return FAMILIES[type_]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(type_), list(FAMILIES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{path}: expected one of {', '.join(map(repr, FAMILIES))}, got "
                          f"{type_!r}{hint}") from None


def family_of(config) -> Family:
    """The family of an experiment config (a ConfigError for data-only configs)."""
    if config.model is None:
        raise ConfigError(f"config {config.name!r} has no 'model' section: it only describes data")
    return family(config.model.type)


def describe_families(types=None, markdown: bool = False) -> str:
    """Every field of each family's section (all families by default): what
    ``python -m tfsem.config --describe`` prints and README's "Model fields"
    tables (``markdown``)."""
    parts = []
    for type_ in types or list(FAMILIES):
        fam = family(type_, "--describe")
        title = (f"#### `model.{type_}`: {fam.summary}" if markdown
                 else f"model.{type_}: {fam.summary}")
        parts.append(f"{title}\n\n{describe(fam.section, markdown=markdown)}")
    return "\n\n".join(parts) + "\n"
