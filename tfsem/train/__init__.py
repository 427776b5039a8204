"""Training: ``python -m tfsem.train --config configs/NAME.json`` (``__main__``),
the :class:`Trainer` loop shared by all families (``trainer``), and the task +
optimisers of a config (``build``). The same tasks also train with
``model.fit`` (docs/models/spade.md)."""

__all__ = ["LinearDecay", "NonFiniteLossError", "Trainer", "build_model", "compile_model",
           "make_strategy", "run_dir_for"]

_HOMES = {"LinearDecay": "build", "build_model": "build", "compile_model": "build",
          "NonFiniteLossError": "trainer", "Trainer": "trainer", "make_strategy": "trainer",
          "run_dir_for": "trainer"}


def __getattr__(name):
    # On use: ``python -m tfsem.train`` chooses oneDNN before TensorFlow is imported.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"tfsem.train.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'tfsem.train' has no attribute {name!r}")
