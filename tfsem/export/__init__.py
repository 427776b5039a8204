"""Export: SavedModels in the TF Serving layout and TFLite variants.

* ``base``: named-input binding (``bind``), the serving-module base
  (``input_specs()``, ``serve(**inputs)``) and the atomic version layout;
* ``graph``: a task's own ``infer`` (``InferenceGraph``) and the dream chain
  of two tasks (``DreamGraph``): what every export serves and converts;
* ``saved_model``: the served module of any task (signatures from its
  ``inference_specs``, in-graph checks and PNG coding) and the dream model;
* ``tflite``: one conversion and one size/latency/fidelity report for all;
* ``api.export_run``: a run to all of these (``python -m tfsem.export``).

Nothing here knows a family: a new family needs no change in this package.
"""

from tfsem.export.api import export_run
from tfsem.export.base import DEFAULT_MAX_PIXELS, ServingModule, bind, next_version, write_version

__all__ = ["DEFAULT_MAX_PIXELS", "ServingModule", "bind", "export_run", "next_version",
           "write_version"]
