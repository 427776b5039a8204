"""The model families: the one place that lists them.

Each :class:`Family` maps a ``model.type`` to its config section, its task
class(es) (per variant of the section), the Adam settings it trains with when
a config leaves them out, its quickstart config and its export module. The
trainer, the CLIs and the exporters look a family up here and then call the
task's declared methods (``tfsem.models.base.GANTask``); nothing else asks
what a model is. Adding a family: its section (``tfsem/config/<family>.py``,
which registers the family with :func:`register_family`), its task
(``tfsem/models/<family>.py``) and its networks; built-in families are
imported through ``BUILTIN_FAMILIES``.

Model: TF Model Garden's experiment registry (``official/core/exp_factory.py``)
and keras-hub's ``Task``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Dict, Mapping, Optional


__all__ = ["BUILTIN_FAMILIES", "FAMILIES", "Family", "describe_families", "family", "family_of",
           "official_checkpoints", "register_family", "unregister_family"]


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        type: ``model.type`` in configs; also the section's key.
        section: the config dataclass of ``model.<type>``.
        tasks: section variant (``section.variant()``, ``"default"`` when the
            section has none) -> ``"module:Class"`` of the task (imported on use,
            so configs load without TensorFlow), or the class itself.
        optimizer: Adam ``g_lr``, ``d_lr``, ``beta_1``, ``beta_2`` of a config
            without them, with their source.
        quickstarts: variant -> the toy_streets config (no dataset needed).
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
        official_code: the repository of the official code (converted
            checkpoints name it), or None.
        checkpoint: the name ``tfsem.convert`` gives this family's official
            checkpoints (``--family``; ``spade`` for gaugan), or None when
            there is no converter.
        auto_bf16: ``--precision auto`` renders in bfloat16 on CPUs with native
            bf16 (measured >= 40 dB PSNR against float32: ``tfsem.precision``).
        photo_input: the family also translates photos (``data.input: image``:
            pix2pix's RGB input, pix2pixHD's ``label_nc 0``).
    """

    type: str
    section: type
    tasks: Mapping[str, str]
    optimizer: Mapping[str, float]
    quickstarts: Mapping[str, str]
    summary: str
    adam: str = "pytorch"
    lr_decay: str = "niter_decay"
    drop_last: bool = False
    official_code: Optional[str] = None
    checkpoint: Optional[str] = None
    auto_bf16: bool = False
    photo_input: bool = False

    @staticmethod
    def variant(section) -> str:
        return section.variant() if hasattr(section, "variant") else "default"

    def task_class(self, section):
        """The task class of ``section``'s variant."""
        task = self.tasks[self.variant(section)]
        if not isinstance(task, str):
            return task
        module, _, name = task.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, config):
        """The (unbuilt) task of experiment ``config``, with its label space
        attached (``GANTask.attach_label_space``)."""
        from tfsem.data.labels import load_label_space

        task = self.task_class(config.model.section).from_experiment(config)
        task.attach_label_space(load_label_space(config.data.label_space),
                                config.data.dont_care)
        return task

    def quickstart(self, section) -> Optional[str]:
        return self.quickstarts.get(self.variant(section), self.quickstarts.get("default"))


#: model.type -> Family, filled by :func:`register_family` (each built-in family
#: registers in its config section's module, imported below).
FAMILIES: Dict[str, Family] = {}

#: The modules whose import registers the built-in families (their config sections).
BUILTIN_FAMILIES = ("tfsem.config.gaugan", "tfsem.config.pix2pixhd", "tfsem.config.pix2pix",
                    "tfsem.config.semgan", "tfsem.config.sean")


def register_family(entry: Family) -> Family:
    """Adds a family (at its definition site); registering the same type twice
    with another entry is an error. Returns ``entry``."""
    known = FAMILIES.get(entry.type)
    if known is not None and known != entry:
        raise ValueError(f"model family {entry.type!r} is already registered "
                         f"({known.section.__name__})")
    FAMILIES[entry.type] = entry
    return entry


def unregister_family(type_: str) -> None:
    """Removes a family (tests that register their own)."""
    FAMILIES.pop(type_, None)


def family(type_: str, path: str = "model.type") -> Family:
    """The family of ``model.type`` ``type_``; a ValueError naming the known ones."""
    from tfsem.config.schema import ConfigError

    try:
        return FAMILIES[type_]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(type_), list(FAMILIES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{path}: expected one of {', '.join(map(repr, FAMILIES))}, got "
                          f"{type_!r}{hint}") from None


def family_of(config) -> Family:
    """The family of an experiment config (a ConfigError for data-only configs)."""
    from tfsem.config.schema import ConfigError

    if config.model is None:
        raise ConfigError(f"config {config.name!r} has no 'model' section: it only describes data")
    return family(config.model.type)


def official_checkpoints() -> Dict[str, Family]:
    """``tfsem.convert``'s checkpoint name -> the family it converts into."""
    return {f.checkpoint: f for f in FAMILIES.values() if f.checkpoint}


def describe_families(types=None, markdown: bool = False) -> str:
    """Every field of each family's section (all families by default): what
    ``python -m tfsem.config --describe`` prints and the documentation's "Model fields"
    tables (``markdown``)."""
    from tfsem.config.schema import describe

    parts = []
    for type_ in types or list(FAMILIES):
        fam = family(type_, "--describe")
        title = (f"#### `model.{type_}`: {fam.summary}" if markdown
                 else f"model.{type_}: {fam.summary}")
        parts.append(f"{title}\n\n{describe(fam.section, markdown=markdown)}")
    return "\n\n".join(parts) + "\n"


for _module in BUILTIN_FAMILIES:
    importlib.import_module(_module)
# The built-in families in BUILTIN_FAMILIES' order, whatever the import order was.
_order = {module: i for i, module in enumerate(BUILTIN_FAMILIES)}
for _entry in sorted(list(FAMILIES.values()),
                     key=lambda f: _order.get(f.section.__module__, len(_order))):
    FAMILIES[_entry.type] = FAMILIES.pop(_entry.type)
