"""SEAN's networks against the official code (ZPdesu/SEAN, ``../shared/reference/
code/SEAN``), run here on the CPU: a generator made by the official code,
its tensors converted (``tfsem.convert.sean``), and the style codes and the
photo compared, in eval mode (the ACE batch norms' running statistics live)
and with the same injected ACE noise.

The official code hard-codes the style length (512) twice; the test patches
those two numbers smaller (and its ``.cuda()`` calls away, as the
reference's ``make_train_fixtures.py`` does), so the official networks run
their own code path at a test's size."""

import os

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")

from dev.sean_official import SEAN_CODE, official_sean, options, pattern, randomise  # noqa: E402

STYLE = 16
pytestmark = pytest.mark.skipif(not os.path.isdir(SEAN_CODE),
                                reason=f"the official SEAN code is not at {SEAN_CODE}")


@pytest.fixture(scope="module")
def official():
    with official_sean(STYLE) as modules:
        yield modules.norm, modules.gen


def test_generator_and_zencoder_equal_the_official_code(official):
    from tfsem.convert.sean import load_sean_generator_weights
    from tfsem.convert.state_dict import StateDict
    from tfsem.networks.sean import SEANGenerator, Zencoder

    norm, gen_module = official
    torch.manual_seed(0)
    generator = gen_module.SPADEGenerator(options())
    randomise(generator, torch)
    generator.train()  # batch statistics: activations stay normalised
    # the tensors as they are BEFORE the forward (a training forward moves the
    # spectral norms' u, v and the running statistics)
    before = {k: v.detach().clone().numpy() for k, v in generator.state_dict().items()}
    # The ACE noise: torch.randn(B, W, H, 1) per call, in call order; recorded here.
    drawn = []

    def randn(*shape, **kwargs):
        b, w, h, _ = shape
        value = torch.from_numpy(pattern(b, 1, h, w, len(drawn))[:, 0].transpose(0, 2, 1)
                                 [..., None].copy())
        drawn.append(value)
        return value

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 19, (2, 64, 64))
    labels[1][labels[1] == 7] = 8  # class 7 is absent from image 1
    seg = np.eye(19, dtype=np.float32)[labels]  # [B,H,W,19]
    photo = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    seg_t = torch.from_numpy(seg.transpose(0, 3, 1, 2).copy())
    photo_t = torch.from_numpy(photo.transpose(0, 3, 1, 2).copy())
    original = norm.torch.randn
    norm.torch.randn = randn
    try:
        with torch.no_grad():
            codes_ref = generator.Zencoder(input=photo_t, segmap=seg_t).numpy()
            out_ref = generator(seg_t, photo_t).numpy().transpose(0, 2, 3, 1)
    finally:
        norm.torch.randn = original
    assert len(drawn) == 18  # 7 blocks x 2 ACEs + 4 shortcut ACEs (up_0..up_3)

    ours = SEANGenerator(ngf=4, style_length=STYLE)
    encoder = Zencoder(style_length=STYLE)
    codes = encoder(tf.constant(photo), tf.constant(seg))
    ours(tf.constant(seg), codes)
    state = StateDict(before, "official G")
    load_sean_generator_weights(ours, encoder, state)

    codes = encoder(tf.constant(photo), tf.constant(seg)).numpy()
    np.testing.assert_allclose(codes, codes_ref, atol=1e-5)
    assert np.abs(codes[0, 7]).sum() > 0 and np.all(codes_ref[1, 7] == 0)  # absent: zeros
    order = iter(range(len(drawn)))

    def noise(name, x):
        i = next(order)
        return tf.constant(drawn[i].numpy().transpose(0, 2, 1, 3))  # [B,W,H,1] -> [B,H,W,1]

    out = ours(tf.constant(seg), tf.constant(codes_ref), training=True, noise=noise).numpy()
    assert np.mean(np.abs(out_ref) > 0.999) < 0.5  # not saturated: the values test the network
    np.testing.assert_allclose(out, out_ref, atol=1e-4)
    after = generator.state_dict()  # the statistics moved as the official ones did
    for block, key in ((ours.blocks[0], "head_0"), (ours.blocks[-1], "up_3")):
        bn = block.ace_1.param_free_norm
        np.testing.assert_allclose(bn.moving_mean.numpy(),
                                   after[f"{key}.ace_1.param_free_norm.running_mean"].numpy(),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(bn.moving_variance.numpy(),
                                   after[f"{key}.ace_1.param_free_norm.running_var"].numpy(),
                                   rtol=1e-4, atol=1e-5)
