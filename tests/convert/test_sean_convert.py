"""``python -m tfsem.convert`` on checkpoints written by the official SEAN code
(ZPdesu/SEAN, run here on the CPU at a test's size): the converted run renders
what the official generator renders (within 2 grey levels, eval mode, the ACE
batch norms' running statistics live, ACE noise zero on both sides), its
discriminator gives the official outputs within 1e-4, and the CelebAMask-HQ
label space is taken from the 19 channels."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")

from dev.sean_official import SEAN_CODE, official_sean, options, randomise  # noqa: E402

STYLE = 16
pytestmark = pytest.mark.skipif(not os.path.isdir(SEAN_CODE),
                                reason=f"the official SEAN code is not at {SEAN_CODE}")

OPT_TXT = """----------------- Options ---------------
             aspect_ratio: 1.0
             batchSize: 2
                crop_size: 64
             dataset_mode: custom
                label_nc: 19
                      ngf: 4
              no_instance: True
   num_upsampling_layers: normal
----------------- End -------------------
"""


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory):
    """An official G + D pair after one training forward (spectral u, v and BN
    statistics moved), saved as the official code saves them, with the official
    eval-mode outputs for a label map and a style photo."""
    folder = tmp_path_factory.mktemp("sean_official")
    rng = np.random.default_rng(3)
    labels = np.zeros((1, 64, 64), np.int64)  # a face-like layout of blocks
    labels[:, 8:56, 12:52] = 1
    labels[:, 20:28, 18:28], labels[:, 20:28, 36:46] = 4, 5
    labels[:, 40:48, 24:40] = 10
    labels[:, :10] = 13
    labels[:, 56:] = 18
    photo = rng.integers(0, 256, (1, 64, 64, 3)).astype(np.uint8)
    with official_sean(STYLE) as official:
        torch.manual_seed(1)
        generator = official.gen.SPADEGenerator(options())
        discriminator = official.disc.MultiscaleDiscriminator(options())
        randomise(generator, torch)
        with torch.no_grad():  # outputs that span the range (the fresh init is near grey)
            generator.conv_img.weight.mul_(6.0)
        seg = torch.from_numpy(np.eye(19, dtype=np.float32)[labels].transpose(0, 3, 1, 2).copy())
        image = torch.from_numpy(photo.transpose(0, 3, 1, 2) / 127.5 - 1.0).float()
        with torch.no_grad():
            generator.train()
            discriminator(torch.cat([seg, generator(seg, image)], 1))
            generator.eval()
            discriminator.eval()
            original = official.norm.torch.randn
            official.norm.torch.randn = lambda *shape, **kw: torch.zeros(*shape)
            try:
                out = generator(seg, image)
            finally:
                official.norm.torch.randn = original
            d_out = discriminator(torch.cat([seg, out], 1))
        torch.save(generator.state_dict(), folder / "latest_net_G.pth")
        torch.save(discriminator.state_dict(), folder / "latest_net_D.pth")
    (folder / "opt.txt").write_text(OPT_TXT)
    # the official util.tensor2im: (x + 1) / 2 * 255, truncated to uint8
    expected = ((out.numpy().transpose(0, 2, 3, 1) + 1) / 2 * 255).astype(np.uint8)
    return {"folder": folder, "labels": labels, "photo": photo, "expected": expected,
            "G_out": out.numpy().transpose(0, 2, 3, 1),
            "seg": seg.numpy().transpose(0, 2, 3, 1),
            "D": [[t.numpy().transpose(0, 2, 3, 1) for t in scale] for scale in d_out]}


def test_a_converted_official_sean_checkpoint_renders_the_official_photo(official_checkpoint,
                                                                          tmp_path):
    from tfsem import Pipeline
    from tfsem.convert.__main__ import main

    run = tmp_path / "run"
    assert main(["--checkpoint", str(official_checkpoint["folder"]), "--out", str(run)]) == 0
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["family"] == "sean" and provenance["reference_code"] == "ZPdesu/SEAN"
    assert provenance["options"]["label_space"] == "celebamask_hq"
    assert provenance["networks"] == ["D", "G"]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["sean"]["style_length"] == STYLE
    assert config["model"]["sean"]["ngf"] == 4 and config["model"]["sean"]["num_D"] == 2
    assert config["data"]["preprocess"]["resize_to"] == [64, 64]  # opt.txt's crop_size

    pipe = Pipeline.from_run(str(run))
    photo = pipe(official_checkpoint["labels"], style=official_checkpoint["photo"])
    diff = np.abs(photo.astype(int) - official_checkpoint["expected"].astype(int))
    assert diff.max() <= 2, diff.max()
    expected = official_checkpoint["expected"]
    assert expected.std() > 20 and np.mean((expected < 3) | (expected > 252)) < 0.2

    # the discriminator, every intermediate output of every scale
    model = pipe.task
    seg = tf.constant(official_checkpoint["seg"])
    ours = model.discriminator(tf.concat([seg, tf.constant(official_checkpoint["G_out"])], -1),
                               training=False)
    for scale_ours, scale_ref in zip(ours, official_checkpoint["D"]):
        assert len(scale_ours) == len(scale_ref)
        for a, b in zip(scale_ours, scale_ref):
            np.testing.assert_allclose(np.asarray(a), b, atol=1e-4)


def test_sean_checkpoints_refuse_what_does_not_fit(official_checkpoint, tmp_path):
    from tfsem.convert import convert_checkpoint

    with pytest.raises(ValueError, match="style encoder is inside its generator"):
        folder = tmp_path / "with_e"
        folder.mkdir()
        for name in ("latest_net_G.pth", "latest_net_D.pth"):
            (folder / name).write_bytes((official_checkpoint["folder"] / name).read_bytes())
        state = torch.load(folder / "latest_net_D.pth")
        torch.save(state, folder / "latest_net_E.pth")
        convert_checkpoint(str(folder), str(tmp_path / "out_e"))
    with pytest.raises(ValueError, match="19 channels|label space|semantic channels"):
        convert_checkpoint(str(official_checkpoint["folder"]), str(tmp_path / "out_ade"),
                           label_space="ade20k")
    assert not (tmp_path / "out_e").exists() and not (tmp_path / "out_ade").exists()
