"""What the trainer scores every ``train.eval_every`` steps: an evaluator it
is given, chosen from the task's inference contract and the data, not a
method every task must have.

* label-to-photo tasks on toy_streets: the toy oracle (the nearest-colour
  segmenter of the toy photos) scores the task's photos of a fixed batch;
* photo-to-photo tasks: PSNR and mean absolute error of their photos against
  the targets, and on toy_streets the toy oracle too (its scenes' label maps
  come with the batch);
* label-map tasks (SemGAN and its baselines): their own label-map statistics
  (``periodic_scores``: validity, class histogram, diversity), on any data.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from tfsem.metrics.photos import photo_errors
from tfsem.metrics.segmentation import toy_oracle_scores

__all__ = ["periodic_scorer", "photo_scorer", "toy_oracle_scorer"]


def _oracle(photos, labels) -> Dict[str, float]:
    scores = toy_oracle_scores(np.asarray(photos, np.float32), np.asarray(labels))
    return {"oracle_miou": scores["miou"], "oracle_pixel_accuracy": scores["pixel_accuracy"]}


def toy_oracle_scorer(model) -> Callable[[dict], Dict[str, float]]:
    """Toy-oracle mIoU and pixel accuracy of ``model.render_batch`` of a batch."""
    def score(batch):
        return _oracle(model.render_batch(batch), batch["label"])
    return score


def photo_scorer(model, toy: bool) -> Callable[[dict], Dict[str, float]]:
    """PSNR (dB, images in [-1, 1] as 8-bit) and mean absolute error of a
    photo-to-photo ``model``'s photos against the batch's targets; with ``toy``
    also the toy oracle against the batch's label maps."""
    def score(batch):
        fake = model.render_batch(batch)
        return {**photo_errors(fake, batch["image"]),
                **(_oracle(fake, batch["label"]) if toy else {})}
    return score


def periodic_scorer(model, data_config) -> Optional[Callable[[dict], Dict[str, float]]]:
    """The trainer's evaluator for ``model`` on ``data_config``'s data, or None."""
    names = {spec.name for spec in model.inference_specs()}
    if names == {"image"}:
        return photo_scorer(model, data_config.source == "toy_streets")
    if "label_map" in names:
        return toy_oracle_scorer(model) if data_config.source == "toy_streets" else None
    return model.periodic_scores
