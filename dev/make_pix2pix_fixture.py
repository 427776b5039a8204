"""Writes tests/fixtures/pix2pix_<case>.npz with the official pix2pix networks
(junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``), for
``tests/convert/test_pix2pix_equivalence.py``.

    python dev/make_pix2pix_fixture.py --official DIR [--out tests/fixtures]

``DIR`` holds the official ``networks.py`` (or a file with its
``get_norm_layer``, ``UnetGenerator``, ``UnetSkipConnectionBlock`` and
``NLayerDiscriminator``, unchanged); nothing of it is copied into the
fixture, only the tensors it computes. Needs PyTorch (CPU).

Each case: a U-Net and a PatchGAN at tiny widths with the official
initialisation (N(0, 0.02); batch-norm scales N(1, 0.02)), three training-mode
forwards (running statistics away from their start), random batch-norm
offsets and a larger output layer (outputs span [-1, 1]). Stored: the state
dicts (``G.<key>``, ``D.<key>``), the generator input, its output as the
official ``test.py`` computes it without ``--eval`` (train-mode batch norm
at batch 1; dropout switched off: ``G_out``) and with ``--eval``
(``G_out_eval``), and the discriminator's logits for concat(input, G_out)
in train mode (``D_out``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

CASES = {
    # colour input (the official Cityscapes labels->photo data), batch norm, one dropout level
    "batch": dict(input_nc=3, num_downs=6, ngf=4, ndf=4, n_layers=3, norm="batch",
                  height=64, width=128),
    # one-hot input (9 channels), instance norm, no dropout level
    "instance": dict(input_nc=9, num_downs=5, ngf=4, ndf=4, n_layers=2, norm="instance",
                     height=32, width=64),
}


def _official(path):
    spec = importlib.util.spec_from_file_location("official_networks", os.path.join(path, "networks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_case(nets, name, case, out):
    import torch

    torch.manual_seed(0)
    norm_layer = nets.get_norm_layer(case["norm"])
    G = nets.UnetGenerator(case["input_nc"], 3, case["num_downs"], case["ngf"], norm_layer=norm_layer,
                           use_dropout=True)
    D = nets.NLayerDiscriminator(case["input_nc"] + 3, case["ndf"], case["n_layers"],
                                 norm_layer=norm_layer)
    for net in (G, D):  # networks.py init_weights('normal', 0.02)
        for m in net.modules():
            cls = m.__class__.__name__
            if hasattr(m, "weight") and ("Conv" in cls or "Linear" in cls):
                torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
                if m.bias is not None:
                    torch.nn.init.constant_(m.bias.data, 0.0)
            elif "BatchNorm2d" in cls:
                torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
                torch.nn.init.normal_(m.bias.data, 0.0, 0.3)  # offsets away from 0
            if "Conv" in cls and m.bias is not None:
                torch.nn.init.normal_(m.bias.data, 0.0, 0.05)
    outer_up = G.model.model[3]
    outer_up.weight.data *= 8.0
    shape = (1, case["input_nc"], case["height"], case["width"])
    with torch.no_grad():
        G.train()
        D.train()
        for _ in range(3):
            x = torch.rand((2,) + shape[1:]) * 2 - 1
            G(x)
            D(torch.cat([x, torch.rand(2, 3, *shape[2:])], 1))
        x = torch.rand(shape) * 2 - 1
        for m in G.modules():  # test.py without --eval, dropout off
            if isinstance(m, torch.nn.Dropout):
                m.eval()
        g_out = G(x)
        D_out = D(torch.cat([x, g_out], 1))
        G.eval()
        g_eval = G(x)

    def nhwc(t):
        return t.numpy().transpose(0, 2, 3, 1).astype(np.float32)

    arrays = {f"G.{k}": v.numpy() for k, v in G.state_dict().items()}
    arrays.update({f"D.{k}": v.numpy() for k, v in D.state_dict().items()})
    arrays.update(input=nhwc(x), G_out=nhwc(g_out), G_out_eval=nhwc(g_eval), D_out=nhwc(D_out))
    path = os.path.join(out, f"pix2pix_{name}.npz")
    np.savez_compressed(path, case=json.dumps(case), **arrays)
    print(f"wrote {path}: G_out in [{g_out.min():.3f}, {g_out.max():.3f}], "
          f"{len(arrays)} arrays")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="folder with the official networks.py")
    parser.add_argument("--out", default="tests/fixtures")
    args = parser.parse_args(argv)
    nets = _official(args.official)
    os.makedirs(args.out, exist_ok=True)
    for name, case in CASES.items():
        make_case(nets, name, case, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
