"""Export: SavedModels in the TF Serving layout and TFLite variants.

* ``base``: named-input binding (``bind``), the serving-module base
  (``input_specs()``, ``serve(**inputs)``) and the atomic version layout;
* ``generator``: the label-to-photo families (SPADE/GauGAN, pix2pixHD);
* ``label_maps``: SemGAN / its baseline, and the dream model;
* ``tflite``: one conversion and one size/latency/fidelity report for all;
* ``api.export_run``: a run to all of these (``python -m tfsem.export``).

Which module serves a family is ``tfsem.registry``'s ``export`` entry.
"""

from tfsem.export.api import export_run
from tfsem.export.base import DEFAULT_MAX_PIXELS, ServingModule, bind, next_version, write_version

__all__ = ["DEFAULT_MAX_PIXELS", "ServingModule", "bind", "export_run", "next_version",
           "write_version"]
