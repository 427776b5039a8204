import numpy as np
import tensorflow as tf

from tfsem.config import PreprocessConfig
from tfsem.data.preprocess import augment, instance_edges, one_hot


def test_instance_edges_match_hand_made_map():
    inst = np.array([
        [1, 1, 1, 2],
        [1, 1, 1, 2],
        [3, 3, 1, 2],
        [3, 3, 1, 1],
    ], np.int32)
    # A pixel is an edge if any 4-neighbour has another id, e.g. (1, 1) has a 3
    # below it; (3, 0) sees only 3s.
    expected = np.array([
        [0, 0, 1, 1],
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        [0, 1, 1, 1],
    ], np.float32)
    np.testing.assert_array_equal(instance_edges(inst).numpy(), expected)
    batched = instance_edges(np.stack([inst, np.zeros_like(inst)]))
    np.testing.assert_array_equal(batched.numpy()[0], expected)
    np.testing.assert_array_equal(batched.numpy()[1], np.zeros((4, 4)))


def test_instance_edges_match_pix2pixhd_reference():
    """The reference's four in-place ORs (NVIDIA/pix2pixHD get_edges), in numpy."""
    t = np.random.default_rng(0).integers(0, 3, (2, 9, 11))
    edge = np.zeros(t.shape, bool)
    edge[:, :, 1:] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, :, :-1] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, 1:, :] |= t[:, 1:, :] != t[:, :-1, :]
    edge[:, :-1, :] |= t[:, 1:, :] != t[:, :-1, :]
    np.testing.assert_array_equal(instance_edges(t).numpy(), edge.astype(np.float32))


def test_one_hot_minus_one_is_all_zero():
    out = one_hot(np.array([[0, 2, -1]]), 3).numpy()
    np.testing.assert_array_equal(out[0], [[1, 0, 0], [0, 0, 1], [0, 0, 0]])


def _coded_example(h=40, w=60):
    """Label, instance and image that encode each other, to check alignment."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 5, (h // 4, w // 4))
    label = np.kron(blocks, np.ones((4, 4), np.int64)).astype(np.int32)
    instance = label * 1000 + 7
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    return {"label": tf.constant(label), "instance": tf.constant(instance),
            "image": tf.constant(palette[label])}, palette


def test_augmentation_keeps_label_instance_and_image_aligned():
    example, palette = _coded_example()
    config = PreprocessConfig(resize_to=(20, 30), crop_to=(12, 16), flip=True)
    flipped = 0
    for s in range(12):
        out = augment(example, config, training=True, seed=tf.constant([s, 3], tf.int64))
        label, inst, image = out["label"].numpy(), out["instance"].numpy(), out["image"].numpy()
        assert label.shape == (12, 16) and image.shape == (12, 16, 3)
        assert image.dtype == np.float32 and -1.0 <= image.min() and image.max() <= 1.0
        np.testing.assert_array_equal(inst, label * 1000 + 7)
        # Away from block borders (bicubic blends there), the photo colour is the label's.
        pixels = np.round((image + 1) * 127.5)
        interior = np.ones_like(label, bool)
        for axis in (0, 1):
            diff = np.diff(label, axis=axis) != 0
            pad = [(0, 0), (0, 0)]
            pad[axis] = (1, 0)
            interior &= ~np.pad(diff, pad)
            pad[axis] = (0, 1)
            interior &= ~np.pad(diff, pad)
        err = np.abs(pixels[interior] - palette[label[interior]]).max()
        assert err <= 40, err
        # Compare with the unflipped crop at the same seed to count flips.
        plain = augment(example, PreprocessConfig(resize_to=(20, 30), crop_to=(12, 16), flip=False),
                        training=True, seed=tf.constant([s, 3], tf.int64))["label"].numpy()
        flipped += int(not np.array_equal(plain, label))
    assert 0 < flipped < 12  # flips happen, but not always


def test_eval_is_deterministic_centre_crop_without_flip():
    example, _ = _coded_example()
    config = PreprocessConfig(crop_to=(20, 20), flip=True)
    a = augment(example, config, training=False)
    np.testing.assert_array_equal(a["label"].numpy(), example["label"].numpy()[10:30, 20:40])


def test_scale_width_keeps_aspect_and_resizes_maps_with_nearest():
    example, _ = _coded_example(40, 60)
    out = augment(example, PreprocessConfig(scale_width=30), training=False)
    assert out["label"].shape == (20, 30)
    assert set(np.unique(out["label"].numpy())) <= set(np.unique(example["label"].numpy()))
    np.testing.assert_array_equal(out["instance"].numpy(), out["label"].numpy() * 1000 + 7)


def test_resize_map_takes_the_pixels_pil_nearest_takes():
    """The official loaders resize label maps with PIL NEAREST; so does resize_map,
    eagerly (constant indices) and in a graph with dynamic sizes."""
    from PIL import Image

    from tfsem.data.preprocess import resize_map

    rng = np.random.default_rng(0)
    graph = tf.function(lambda x, size: resize_map(x, size))
    for (h, w), (oh, ow) in [((375, 500), (286, 286)), ((1024, 2048), (300, 700)),
                             ((37, 53), (64, 17)), ((64, 128), (32, 64))]:
        ids = rng.integers(0, 255, (h, w)).astype(np.uint8)
        expected = np.asarray(Image.fromarray(ids).resize((ow, oh), Image.NEAREST))
        np.testing.assert_array_equal(resize_map(tf.constant(ids), (oh, ow)).numpy(), expected)
        np.testing.assert_array_equal(graph(tf.constant(ids), tf.constant([oh, ow])).numpy(),
                                      expected)
