"""Writes tests/fixtures/pix2pix_train.npz: what the official pix2pix TRAINING
step does (junyanz/pytorch-CycleGAN-and-pix2pix), for
``tests/test_train_equivalence.py``.

    python dev/make_pix2pix_train_fixture.py --official DIR [--out tests/fixtures]

``DIR`` holds the official ``models/networks.py`` (``get_norm_layer``,
``init_weights``, ``GANLoss``, ``UnetGenerator``, ``UnetSkipConnectionBlock``,
``NLayerDiscriminator``, unchanged); nothing of it is copied into the fixture,
only the tensors it computes. Needs PyTorch (CPU).

The iterations are ``Pix2PixModel.optimize_parameters`` (``models/pix2pix_model.py``)
with its training options (``--model pix2pix``: ``netG unet``, ``norm batch``,
``gan_mode vanilla``, ``lambda_L1 100``, ``pool_size 0``, Adam 2e-4 with betas
(0.5, 0.999), ``init_type normal`` 0.02):

    fake_B = netG(real_A)                                            # forward()
    D step: loss_D = 0.5 (GAN(netD(cat(A, fake_B).detach()), False)
                          + GAN(netD(cat(A, B)), True)); optimizer_D.step()
    G step: loss_G = GAN(netD(cat(A, fake_B)), True) + 100 L1(fake_B, B); optimizer_G.step()

with ``--no_dropout`` (dropout's masks are random in both codes: they cannot be
compared) and a colour label input, as the official Cityscapes labels -> photo
data (``input_nc`` 3): A is each class's palette colour, ``x / 127.5 - 1``.

Stored: the state dicts before (``G0.<key>``, ``D0.<key>``) and after the last
iteration (``G1.<key>``, ``D1.<key>``), the batch as ids (``label``), the
``palette`` and the photos as uint8 (``photo``), every loss term of every
iteration (``losses``: G_GAN, G_L1, D_real, D_fake, as ``get_current_losses``
reports them) and the case (``case``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

CASE = dict(num_downs=6, ngf=4, ndf=4, n_layers=3, norm="batch", height=64, width=128,
            batch=2, iterations=3, num_classes=12, lr=2e-4, beta1=0.5, lambda_L1=100.0, seed=3)


def _official(path):
    spec = importlib.util.spec_from_file_location(
        "official_networks", os.path.join(path, "models", "networks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(nets, out):
    import torch

    case = CASE
    torch.manual_seed(case["seed"])
    rng = np.random.default_rng(case["seed"])
    h, w, k = case["height"], case["width"], case["num_classes"]
    palette = rng.integers(0, 256, (k, 3)).astype(np.uint8)
    small = rng.integers(0, k, (case["batch"], h // 8, w // 8))
    label = np.kron(small, np.ones((1, 8, 8), np.int64)).astype(np.int32)
    photo = np.clip(palette[label].astype(np.float64) * 0.8 + rng.normal(0, 25, label.shape + (3,)),
                    0, 255).astype(np.uint8)
    # ToTensor + Normalize((0.5,)*3, (0.5,)*3), as the official aligned dataset
    real_A = (torch.from_numpy(palette[label]).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
    real_B = (torch.from_numpy(photo).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5

    norm_layer = nets.get_norm_layer(case["norm"])
    netG = nets.UnetGenerator(3, 3, case["num_downs"], case["ngf"], norm_layer=norm_layer,
                              use_dropout=False)
    netD = nets.NLayerDiscriminator(6, case["ndf"], case["n_layers"], norm_layer=norm_layer)
    nets.init_weights(netG, "normal", 0.02)
    nets.init_weights(netD, "normal", 0.02)
    netG.train()
    netD.train()
    state = lambda net: {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}  # noqa: E731
    arrays = {**{f"G0.{k}": v for k, v in state(netG).items()},
              **{f"D0.{k}": v for k, v in state(netD).items()}}
    criterionGAN = nets.GANLoss("vanilla")
    criterionL1 = torch.nn.L1Loss()
    optimizer_G = torch.optim.Adam(netG.parameters(), lr=case["lr"], betas=(case["beta1"], 0.999))
    optimizer_D = torch.optim.Adam(netD.parameters(), lr=case["lr"], betas=(case["beta1"], 0.999))
    losses = []
    for _ in range(case["iterations"]):
        fake_B = netG(real_A)                                        # forward()
        for p in netD.parameters():                                  # set_requires_grad(netD, True)
            p.requires_grad = True
        optimizer_D.zero_grad()                                      # backward_D()
        pred_fake = netD(torch.cat((real_A, fake_B), 1).detach())    # fake_AB_pool (pool_size 0)
        loss_D_fake = criterionGAN(pred_fake, False)
        pred_real = netD(torch.cat((real_A, real_B), 1))
        loss_D_real = criterionGAN(pred_real, True)
        ((loss_D_fake + loss_D_real) * 0.5).backward()
        optimizer_D.step()
        for p in netD.parameters():                                  # set_requires_grad(netD, False)
            p.requires_grad = False
        optimizer_G.zero_grad()                                      # backward_G()
        pred_fake = netD(torch.cat((real_A, fake_B), 1))
        loss_G_GAN = criterionGAN(pred_fake, True)
        loss_G_L1 = criterionL1(fake_B, real_B) * case["lambda_L1"]
        (loss_G_GAN + loss_G_L1).backward()
        optimizer_G.step()
        losses.append({"G_GAN": float(loss_G_GAN), "G_L1": float(loss_G_L1),
                       "D_real": float(loss_D_real), "D_fake": float(loss_D_fake)})
    arrays.update({f"G1.{k}": v for k, v in state(netG).items()})
    arrays.update({f"D1.{k}": v for k, v in state(netD).items()})
    path = os.path.join(out, "pix2pix_train.npz")
    np.savez_compressed(path, case=json.dumps(case), losses=json.dumps(losses), label=label,
                        palette=palette, photo=photo, **arrays)
    print(f"wrote {path}: {len(arrays)} arrays, losses {losses}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True,
                        help="folder with the official models/networks.py")
    parser.add_argument("--out", default="tests/fixtures")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    make(_official(args.official), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
