"""Evaluation: FID / KID, segmentation scores, the toy_streets oracle, label-map statistics."""

from tfsem.metrics.fid import (feature_statistics, fid_from_features, frechet_distance,
                               kernel_inception_distance, polynomial_mmd_unbiased)
from tfsem.metrics.label_maps import (class_frequencies, class_tv_distance, color_validity,
                                     isolated_pixel_fraction, label_map_report,
                                     nearest_palette_index, pairwise_difference,
                                     region_statistics,
                                     valid_pixel_fraction)
from tfsem.metrics.photos import photo_errors
from tfsem.metrics.segmentation import (confusion_matrix, edge_error_rates, label_edges,
                                        scores_from_confusion, segmentation_scores,
                                        toy_oracle_scores)

__all__ = ["class_frequencies", "class_tv_distance", "color_validity", "isolated_pixel_fraction",
           "label_map_report", "nearest_palette_index", "pairwise_difference", "region_statistics",
           "valid_pixel_fraction", "confusion_matrix", "edge_error_rates", "label_edges",
           "feature_statistics", "fid_from_features", "frechet_distance",
           "kernel_inception_distance", "photo_errors", "polynomial_mmd_unbiased",
           "scores_from_confusion",
           "segmentation_scores", "toy_oracle_scores"]
