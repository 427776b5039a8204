"""Training: ``python -m tfsem.train --config configs/NAME.json`` (``__main__``),
the :class:`Trainer` loop shared by all families (``trainer``), and the task +
optimisers of a config (``build``). The same tasks also train with
``model.fit`` (README, "Keras fit")."""

from tfsem.train.build import LinearDecay, build_model, compile_model
from tfsem.train.trainer import NonFiniteLossError, Trainer, make_strategy, run_dir_for

__all__ = ["LinearDecay", "NonFiniteLossError", "Trainer", "build_model", "compile_model",
           "make_strategy", "run_dir_for"]
