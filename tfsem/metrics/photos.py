"""Photos against their targets (photo-to-photo translation)."""

from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["photo_errors"]


def photo_errors(fake, real) -> Dict[str, float]:
    """``psnr`` (dB, the [-1, 1] images taken as [0, 1]) and ``l1`` (mean
    absolute error in [-1, 1] units) of photos ``fake`` against ``real``."""
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    error = np.mean((fake - real) ** 2) / 4.0  # [-1, 1] -> [0, 1]
    return {"psnr": float(10 * np.log10(1.0 / max(error, 1e-12))),
            "l1": float(np.mean(np.abs(fake - real)))}
