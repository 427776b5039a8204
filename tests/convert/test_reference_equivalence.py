"""tfsem's networks compute what the official code computes: every checkpoint in
``../shared/reference/fixtures`` (written by NVlabs/SPADE and NVIDIA/pix2pixHD)
is converted with ``tfsem.convert`` and run from the RAW label and instance
maps through tfsem's own one-hot, don't-care and edge code; generator,
discriminator (every layer of every scale) and encoder outputs match the
reference within 1e-4."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.testing import reference_cases, reference_dir

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("reference_equivalence")

pytest.importorskip("torch", reason="reading .pth checkpoints needs PyTorch (tfsem[convert])")

ATOL = 1e-4


def load_case(name):
    root = os.path.join(reference_dir(), "fixtures", name)
    with open(os.path.join(root, "case.json")) as f:
        info = json.load(f)
    return root, info, dict(np.load(os.path.join(root, "io.npz")))


@pytest.fixture(scope="module", params=reference_cases())
def converted(request, tmp_path_factory):
    from tfsem.convert import convert_checkpoint
    from tfsem.data.labels import load_label_space
    from tfsem.runs import load_run

    root, info, io = load_case(request.param)
    out = str(tmp_path_factory.mktemp("converted") / request.param)
    convert_checkpoint(os.path.join(root, "checkpoint"), out,
                       image_size=(info["height"], info["width"]))
    config, model = load_run(out)
    space = load_label_space(config.data.label_space)
    raw = io.get("label_raw", io["label"])
    batch = {"label": tf.constant(space.encode(raw, config.data.dont_care))}
    if config.data.use_instances:
        batch["instance"] = tf.constant(io["instance"])
    return info, io, model, batch


def test_semantic_input_from_raw_maps(converted):
    _, io, model, batch = converted
    np.testing.assert_array_equal(
        model.semantic_input(batch["label"], batch.get("instance")).numpy(), io["semantics"])


def test_generator_output(converted):
    info, io, model, batch = converted
    if info["family"] == "spade" and model.use_vae:
        seg = model.semantic_input(batch["label"], batch.get("instance"))
        out = model.generator(seg, z=tf.constant(io["z"]), training=False)
        from_mu = model({**batch, "style_image": tf.constant(io["image"])})
        np.testing.assert_allclose(from_mu.numpy(), io["G_out_from_mu"], atol=ATOL)
    elif info["family"] == "pix2pixhd" and model.use_features:
        out = model({**batch, "image": tf.constant(io["image"])})
    else:
        out = model(batch)
    assert np.ptp(io["G_out"]) > 1.5  # the fixture spans the tanh range
    np.testing.assert_allclose(out.numpy(), io["G_out"], atol=ATOL)


def test_every_discriminator_output(converted):
    _, io, model, batch = converted
    seg = model.semantic_input(batch["label"], batch.get("instance"))
    pred = model.discriminator(tf.concat([seg, tf.constant(io["D_fake"])], -1), training=False)
    expected = sorted(k for k in io if k.startswith("D_") and k != "D_fake")
    assert len(expected) == sum(len(scale) for scale in pred)
    for i, scale in enumerate(pred):
        for j, feature in enumerate(scale):
            np.testing.assert_allclose(feature.numpy(), io[f"D_{i}_{j}"], atol=ATOL,
                                       err_msg=f"D scale {i} layer {j}")


def test_encoder_outputs(converted):
    info, io, model, batch = converted
    if "E_mu" in io:
        mu, logvar = model.encode(tf.constant(io["image"]))
        np.testing.assert_allclose(mu.numpy(), io["E_mu"], atol=ATOL)
        np.testing.assert_allclose(logvar.numpy(), io["E_logvar"], atol=ATOL)
    elif "E_features" in io:
        features = model.encode_features(tf.constant(io["image"]), model.feature_instances(batch))
        np.testing.assert_allclose(features.numpy(), io["E_features"], atol=ATOL)
    else:
        assert model.encoder is None


def test_blocks_match_where_the_structure_is_shared(converted):
    """SPADE's per-block outputs (fc, head_0, ... conv_img), to locate a departure."""
    info, io, model, batch = converted
    if info["family"] != "spade" or model.use_vae:
        pytest.skip("per-block check of the segmap-input SPADE generator")
    from tfsem.layers.interpolate import nearest_interpolate, spatial_size
    from tfsem.networks.spade_generator import upsample2x

    gen = model.generator
    seg = model.semantic_input(batch["label"], batch.get("instance"))
    x = gen.fc(nearest_interpolate(seg, spatial_size(seg, gen.factor)))
    np.testing.assert_allclose(x.numpy(), io["G_block_fc"], atol=ATOL)
    steps = [("head_0", gen.head_0, False), ("G_middle_0", gen.g_middle_0, True),
             ("G_middle_1", gen.g_middle_1, gen.num_upsampling_layers != "normal")]
    steps += [(f"up_{i}", b, True) for i, b in enumerate(gen.up_blocks)]
    for name, block, up_before in steps:
        x = block([upsample2x(x) if up_before else x, seg], training=False)
        np.testing.assert_allclose(x.numpy(), io[f"G_block_{name}"], atol=ATOL, err_msg=name)
