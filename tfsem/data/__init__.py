"""Data: label spaces, readers, the toy_streets dataset and tf.data pipelines.

Names are imported lazily so that ``python -m tfsem.data.inspect`` can set up
logging before TensorFlow loads.
"""

import importlib

_EXPORTS = {
    "BUILTIN_LABEL_SPACES": "tfsem.data.labels",
    "LabelClass": "tfsem.data.labels",
    "LabelSpace": "tfsem.data.labels",
    "load_label_space": "tfsem.data.labels",
    "ColorCodec": "tfsem.data.colors",
    "LABEL_FORMATS": "tfsem.data.colors",
    "DataError": "tfsem.data.readers",
    "ExampleFiles": "tfsem.data.readers",
    "list_cityscapes": "tfsem.data.readers",
    "list_folder": "tfsem.data.readers",
    "load_example": "tfsem.data.readers",
    "read_color_label": "tfsem.data.readers",
    "read_label": "tfsem.data.readers",
    "DataPipeline": "tfsem.data.pipeline",
    "build_dataset": "tfsem.data.pipeline",
    "augment": "tfsem.data.preprocess",
    "instance_edges": "tfsem.data.preprocess",
    "one_hot": "tfsem.data.preprocess",
    "oracle_segment": "tfsem.data.toy_streets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tfsem.data' has no attribute {name!r}")
