"""Official PyTorch checkpoints (NVlabs/SPADE, NVIDIA/pix2pixHD) -> tfsem run directories.

``python -m tfsem.convert --checkpoint DIR_or_FILE --out RUN_DIR`` (see
``tfsem.convert.converter``). Needs PyTorch to read ``.pth`` files
(``pip install 'tfsem[convert]'``); nothing else in tfsem does.
"""

from tfsem.convert.converter import (FAMILIES, convert_checkpoint, convert_model,
                                     find_checkpoint_files, save_converted)

__all__ = ["FAMILIES", "convert_checkpoint", "convert_model", "find_checkpoint_files",
           "save_converted"]
