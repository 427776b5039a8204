import numpy as np
import pytest
import scipy.linalg

from tfsem.data import toy_streets
from tfsem.metrics import (confusion_matrix, edge_error_rates, fid_from_features, frechet_distance,
                           kernel_inception_distance, label_edges, polynomial_mmd_unbiased,
                           segmentation_scores, toy_oracle_scores)


def _scipy_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_of_identical_sets_is_zero():
    f = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(fid_from_features(f, f)) < 1e-8


def test_fid_matches_scipy_on_random_features():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 12))
    b = rng.normal(loc=0.3, scale=1.5, size=(250, 12)) @ rng.normal(size=(12, 12)) * 0.3
    assert fid_from_features(a, b) == pytest.approx(_scipy_fid(a, b), rel=1e-6)


def test_fid_closed_form_for_isotropic_gaussians():
    # mu differ by 1 in each of d dims, covariances I and 4I: d*1 + d*(1 + 4 - 2*2) = 2d.
    d = 5
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), 4 * np.eye(d)) == pytest.approx(2 * d)


def test_fid_handles_rank_deficient_covariances():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 32))  # N < D: singular covariance
    b = rng.normal(size=(10, 32))
    value = fid_from_features(a, b)
    assert np.isfinite(value) and value > 0


def test_kid_is_unbiased_for_same_distribution():
    rng = np.random.default_rng(3)
    values = [polynomial_mmd_unbiased(rng.normal(size=(50, 8)), rng.normal(size=(50, 8)))
              for _ in range(300)]
    # The unbiased estimator averages to 0 (a biased one stays clearly positive).
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    shifted = kernel_inception_distance(rng.normal(size=(200, 8)), rng.normal(1.0, size=(200, 8)),
                                        num_subsets=10, subset_size=100)
    assert shifted["kid"] > 10 * shifted["kid_std"] / np.sqrt(10)


def test_miou_on_hand_made_maps_with_ignore():
    target = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 255]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 0, 2, 0]])
    scores = segmentation_scores(pred, target, num_classes=3, ignore=[255])
    # class 0: TP 3, target 4, pred 3 -> IoU 3/4; class 1: TP 2, target 3, pred 3 -> 2/4;
    # class 2: TP 0, pred 1 -> 0. Ignored pixel (255) not counted.
    assert scores["per_class_iou"] == {"0": 0.75, "1": 0.5, "2": 0.0}
    assert scores["miou"] == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(5 / 7) and scores["pixels"] == 7
    conf = confusion_matrix(pred, target, 3, ignore=[255])
    assert conf.shape == (3, 4) and conf.sum() == 7 and conf[1, 2] == 1


def test_out_of_range_predictions_count_as_errors():
    scores = segmentation_scores(np.array([0, 9]), np.array([0, 0]), num_classes=2)
    assert scores["pixel_accuracy"] == 0.5 and scores["miou"] == 0.5


def test_toy_oracle_scores_real_images_high_and_noise_low():
    exs = [toy_streets.generate(i, 64, 128, split="val") for i in range(6)]
    labels = np.stack([e["label"] for e in exs]).astype(np.int32)
    real = toy_oracle_scores(np.stack([e["image"] for e in exs]), labels)
    assert real["miou"] >= 0.95 and real["pixel_accuracy"] >= 0.95
    noise = np.random.default_rng(0).integers(0, 256, (6, 64, 128, 3), dtype=np.uint8)
    low = toy_oracle_scores(noise, labels)
    assert low["miou"] < 0.2 and low["pixel_accuracy"] < 0.3


def test_label_edges_and_edge_error_rates_on_a_hand_made_map():
    target = np.zeros((4, 6), np.int32)
    target[:, 3:] = 1  # one vertical edge between columns 2 and 3
    edges = label_edges(target)
    assert edges[:, 2:4].all() and not edges[:, [0, 1, 4, 5]].any()
    assert label_edges(target[None]).shape == (1, 4, 6)
    pred = target.copy()
    pred[0, 3] = 0  # one error on the edge
    pred[3, 0] = 1  # one error inside a region
    rates = edge_error_rates(pred, target)
    assert rates["edge_pixels"] == pytest.approx(8 / 24)
    assert rates["edge_error"] == pytest.approx(1 / 8)
    assert rates["interior_error"] == pytest.approx(1 / 16)
    assert rates["errors_on_edges"] == pytest.approx(0.5)
    assert edge_error_rates(target, target)["errors_on_edges"] == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        edge_error_rates(pred[:3], target)
