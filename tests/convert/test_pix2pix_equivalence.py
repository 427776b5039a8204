"""tfsem's pix2pix networks compute what the official pix2pix code computes.

``tests/fixtures/pix2pix_<case>.npz`` were written by
``dev/make_pix2pix_fixture.py`` with junyanz/pytorch-CycleGAN-and-pix2pix's
``UnetGenerator`` and ``NLayerDiscriminator`` (no PyTorch needed here: the
state dicts are stored as arrays). Their weights go through
``tfsem.convert.pix2pix`` into ``Pix2Pix`` models built from what the
checkpoint says; the generator output (official ``test.py`` without and with
``--eval``) and the PatchGAN logits match within 1e-4.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
ATOL = 1e-4


def _load(case):
    with np.load(os.path.join(FIXTURES, f"pix2pix_{case}.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("case"))), arrays


def _states(arrays):
    from tfsem.convert.state_dict import StateDict

    G = StateDict({k[2:]: v for k, v in arrays.items() if k.startswith("G.")}, "G.pth")
    D = StateDict({k[2:]: v for k, v in arrays.items() if k.startswith("D.")}, "D.pth")
    return G, D


def _converted(case, arrays, eval_mode=False):
    from tfsem.convert.pix2pix import infer_pix2pix, load_pix2pix_weights
    from tfsem.models import Pix2Pix

    G, D = _states(arrays)
    info = infer_pix2pix(G, D)
    assert info["model"] == {"num_downs": case["num_downs"], "ngf": case["ngf"],
                             "norm": case["norm"], "ndf": case["ndf"],
                             "n_layers_D": case["n_layers"]}
    channels = info["in_channels"]
    kwargs = dict(label_input="colors", palette=np.zeros([channels, 3])) if channels == 3 else \
        dict(label_input="onehot")
    if case["norm"] == "batch":
        kwargs["eval_mode"] = eval_mode
    model = Pix2Pix(num_classes=channels, image_size=(case["height"], case["width"]),
                    **info["model"], **kwargs)
    model.build_networks()
    load_pix2pix_weights(model, G, D)
    return model


@pytest.mark.parametrize("case_name", ["batch", "instance"])
def test_generator_and_patchgan_match_the_official_code(case_name):
    case, arrays = _load(case_name)
    model = _converted(case, arrays)
    x = tf.constant(arrays["input"])
    out = model.generator(x, training=False).numpy()
    np.testing.assert_allclose(out, arrays["G_out"], atol=ATOL)
    logits = model.discriminator(tf.concat([x, arrays["G_out"]], -1), training=True)[-1]
    np.testing.assert_allclose(logits.numpy(), arrays["D_out"], atol=ATOL)
    # Inference normalises each image on its own: the same with another image beside it.
    pair = model.generator(tf.concat([x, -x], 0), training=False).numpy()
    np.testing.assert_allclose(pair[:1], arrays["G_out"], atol=ATOL)
    if case_name == "batch":
        eval_model = _converted(case, arrays, eval_mode=True)
        np.testing.assert_allclose(eval_model.generator(x, training=False).numpy(),
                                   arrays["G_out_eval"], atol=ATOL)
        assert np.abs(arrays["G_out_eval"] - arrays["G_out"]).mean() > 0.05  # the stats differ


def test_a_checkpoint_with_an_unknown_layer_is_refused():
    from tfsem.convert.pix2pix import load_pix2pix_weights

    case, arrays = _load("instance")
    model = _converted(case, arrays)
    G, _ = _states({**arrays, "G.model.model.9.weight": np.zeros([1])})
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['model.model.9.weight'\]"):
        load_pix2pix_weights(model, G)


def test_convert_cli_turns_an_official_pth_into_a_run_that_generates_the_same(tmp_path):
    """python -m tfsem.convert on a latest_net_G.pth (+ D) that the official code
    would save; the run renders the fixture's colour input as the official G."""
    torch = pytest.importorskip("torch", reason="writing .pth files needs PyTorch")
    from tfsem.convert.__main__ import main
    from tfsem.runs import load_run

    case, arrays = _load("batch")
    ckpt = tmp_path / "cityscapes_label2photo"
    ckpt.mkdir()
    for tag in ("G", "D"):
        torch.save({k[2:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                    if k.startswith(tag + ".")}, ckpt / f"latest_net_{tag}.pth")
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "run"), "--image-size",
                 str(case["height"]), str(case["width"])]) == 0
    config, model = load_run(str(tmp_path / "run"))
    assert config.model.type == "pix2pix" and model.label_input == "colors"
    assert (model.num_downs, model.ngf, model.norm) == (6, 4, "batch")
    out = model.generator(tf.constant(arrays["input"]), training=False).numpy()
    np.testing.assert_allclose(out, arrays["G_out"], atol=ATOL)
    provenance = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert provenance["reference_code"] == "junyanz/pytorch-CycleGAN-and-pix2pix"
