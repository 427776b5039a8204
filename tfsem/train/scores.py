"""What the trainer scores every ``train.eval_every`` steps: an evaluator it
is given, chosen from the task's inference contract and the data, not a
method every task must have.

* label-to-photo tasks on toy_streets: the toy oracle (the nearest-colour
  segmenter of the toy photos) scores the task's photos of a fixed batch;
* label-map tasks (SemGAN and its baselines): their own label-map statistics
  (``periodic_scores``: validity, class histogram, diversity), on any data.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

from tfsem.metrics.segmentation import toy_oracle_scores

__all__ = ["periodic_scorer", "toy_oracle_scorer"]


def toy_oracle_scorer(model) -> Callable[[dict], Dict[str, float]]:
    """Toy-oracle mIoU and pixel accuracy of ``model.render_batch`` of a batch."""
    def score(batch):
        scores = toy_oracle_scores(model.render_batch(batch).numpy(), batch["label"].numpy())
        return {"oracle_miou": scores["miou"], "oracle_pixel_accuracy": scores["pixel_accuracy"]}
    return score


def periodic_scorer(model, data_config) -> Optional[Callable[[dict], Dict[str, float]]]:
    """The trainer's evaluator for ``model`` on ``data_config``'s data, or None."""
    if "label_map" in {spec.name for spec in model.inference_specs()}:
        return toy_oracle_scorer(model) if data_config.source == "toy_streets" else None
    return model.periodic_scores
