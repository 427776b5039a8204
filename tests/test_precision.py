"""--precision: auto's choice, the rebuilt bf16 model, and bf16 on the front ends."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfsem import precision as P


def test_auto_picks_bf16_only_on_native_hardware_for_measured_families(monkeypatch):
    monkeypatch.delenv("TFSEM_PRECISION", raising=False)
    monkeypatch.setattr(P, "_gpu_capabilities", lambda: [])
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert P.resolve("auto", "gaugan") == "bfloat16"
    assert P.resolve("auto", "semgan") == "float32"  # argmax maps stay seed-exact
    # every renderer measured >= 40 dB (docs/precision_fidelity.json)
    assert P.resolve("auto", "pix2pixhd") == "bfloat16"
    assert P.resolve("auto", "pix2pix") == "bfloat16"
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx2"}))
    assert P.resolve("auto", "gaugan") == "float32"
    assert "without avx512_bf16" in P.hardware_bf16()[1]
    monkeypatch.setattr(P, "_gpu_capabilities", lambda: [(7, 5)])
    assert P.hardware_bf16()[0] is False
    monkeypatch.setenv("TFSEM_PRECISION", "bfloat16")
    assert P.resolve("auto", "semgan") == "bfloat16"


def test_bad_precisions_are_named():
    with pytest.raises(ValueError, match="unknown precision 'bf16'"):
        P.resolve("bf16")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match="float16 needs a GPU"):
            P.resolve("float16")


def test_bf16_model_has_the_same_weights_and_close_outputs(untrained_gaugan_run):
    from tfsem.runs import load_run

    config, model = load_run(untrained_gaugan_run)
    _, low = load_run(untrained_gaugan_run, precision="bfloat16")
    assert P.model_precision(model) == "float32" and P.model_precision(low) == "bfloat16"
    for a, b in zip(model.weights, low.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    h, w = model.image_size
    rng = np.random.default_rng(0)
    label = tf.constant(np.repeat(np.repeat(rng.integers(0, 5, (1, h // 8, w // 8)), 8, 1),
                                  8, 2).astype("int32"))
    batch = {"label": label, "instance": label}
    out32 = model(batch).numpy()
    out16 = low(batch)
    diff = np.abs(tf.cast(out16, tf.float32).numpy() - out32)
    assert 0 < diff.max() < 0.1


def test_export_records_the_precision_and_serves_uint8(untrained_gaugan_run, tmp_path):
    from tfsem.export import export_run

    result = export_run(str(untrained_gaugan_run), str(tmp_path / "exp"), precision="bfloat16")
    path = result["saved_model"]
    with open(f"{path}/assets/precision.json") as f:
        assert json.load(f) == {"compute": "bfloat16"}
    outputs = tf.saved_model.load(path).signatures["serving_default"].structured_outputs
    assert {o.dtype for o in outputs.values()} <= {tf.uint8, tf.int32}


def test_studio_refuses_a_precision_for_an_export(tmp_path):
    from tfsem.studio.backends import open_backend

    with pytest.raises(ValueError, match="precision chosen at export"):
        open_backend(str(tmp_path), precision="bfloat16")


def test_a_vae_renders_a_style_photo_in_bfloat16(tmp_path):
    """The encoder's mean comes out in the compute dtype: bfloat16 renders of a
    style photo used to fail converting it to the generator's float32 z."""
    import numpy as np

    from tfsem import Pipeline
    from tfsem.data import toy_streets
    from tests.testing import save_untrained_run

    run = save_untrained_run("gaugan_vae", tmp_path / "vae")
    ex = toy_streets.generate(0, 32, 64, split="val")
    pipe = Pipeline.from_run(str(run), precision="bfloat16")
    photo = pipe(ex["label"], style=ex["image"])
    assert photo.shape == (32, 64, 3) and photo.dtype == np.uint8
    # the photo's style, not a random one: its encoder mean as z gives the same photo
    import tensorflow as tf

    from tfsem.data.preprocess import style_photo

    mu, _ = pipe.task.encode(style_photo(ex["image"], (32, 64)))
    np.testing.assert_array_equal(photo, pipe(ex["label"], z=tf.cast(mu, tf.float32).numpy()))
    assert photo.std() > 1  # a picture, not a constant
