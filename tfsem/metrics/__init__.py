"""Evaluation: FID / KID, segmentation scores, the toy_streets oracle."""

from tfsem.metrics.fid import (feature_statistics, fid_from_features, frechet_distance,
                               kernel_inception_distance, polynomial_mmd_unbiased)
from tfsem.metrics.segmentation import (confusion_matrix, scores_from_confusion,
                                        segmentation_scores, toy_oracle_scores)

__all__ = ["confusion_matrix", "feature_statistics", "fid_from_features", "frechet_distance",
           "kernel_inception_distance", "polynomial_mmd_unbiased", "scores_from_confusion",
           "segmentation_scores", "toy_oracle_scores"]
