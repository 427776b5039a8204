"""Writes a SEAN training case: what ZPdesu/SEAN's TRAINING loop does, in the
layout of ``../shared/reference/train_fixtures`` (read by ``dev/train_fidelity.py``
and ``tests/test_train_equivalence.py``).

    python dev/make_sean_train_case.py OUT [--seed S] [--iterations N] [--size PX]

The official code (``../shared/reference/code/SEAN``, read there, never
copied) runs on the CPU with the patches of ``dev/sean_official.py``: its
``.cuda()`` calls removed and its hard-coded style length 512 made 16 (a
test's size; 512 gives 75M ``fc_mu`` weights). Its own options parser, its
``Pix2PixTrainer`` and its ``Pix2PixModel`` run the README's training
setting (``--dataset_mode custom --label_nc 19 --no_instance``; VGG off,
it needs torchvision's pretrained weights): per iteration
``run_generator_one_step`` (E + G forward, D on fake and real in one batch,
G_GAN + GAN_Feat, the G + Zencoder update) then
``run_discriminator_one_step`` (a new E + G forward without gradients,
D_Fake + D_real, the D update); TTUR Adam (G lr/2, D 2 lr, betas (0, 0.9)).

The ACE noise (``torch.randn(B, W, H, 1)`` at every ACE call) is drawn from a
seeded generator and recorded: ``ace_noise.npz``, ``call_<k>`` [iterations,
B, H, W, 1] for the k-th ACE call of an iteration (18 in the G step's
forward, then 18 in the D step's).

Files: ``w0/``, ``w2/`` (``latest_net_G.pth``, ``latest_net_D.pth``,
``opt.txt``), ``data/train_label``, ``data/train_img`` (PNGs: ids 0..18,
uint8 photos), ``losses.json``, ``case.json``, ``ace_noise.npz``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dev.sean_official import SEAN_CODE, official_sean  # noqa: E402

STYLE = 16


def _blocky(rng, h, w, values, block):
    small = rng.choice(values, size=(h // block + 1, w // block + 1))
    return np.kron(small, np.ones((block, block), dtype=small.dtype))[:h, :w]


def make_case(out: str, seed: int = 0, iterations: int = 2, size: int = 64,
              batch: int = 2) -> dict:
    import torch
    from PIL import Image

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels, photos = [], []
    for d in ("train_label", "train_img"):
        os.makedirs(os.path.join(out, "data", d), exist_ok=True)
    for i in range(batch):
        label = _blocky(rng, size, size, np.arange(19), 8).astype(np.uint8)
        photo = np.clip(_blocky(rng, size, size, np.arange(256), 4)[..., None]
                        * np.array([1.0, 0.7, 0.4]) + rng.normal(0, 20, (size, size, 3)),
                        0, 255).astype(np.uint8)
        Image.fromarray(label).save(os.path.join(out, "data", "train_label", f"x{i}.png"))
        Image.fromarray(photo).save(os.path.join(out, "data", "train_img", f"x{i}.png"))
        labels.append(label)
        photos.append(photo)
    tmp = os.path.join(out, "tmp")
    args = ["--gpu_ids", "-1", "--no_vgg_loss", "--batchSize", str(batch), "--checkpoints_dir",
            tmp, "--name", "sean", "--dataset_mode", "custom", "--label_dir", "/nonexistent",
            "--image_dir", "/nonexistent", "--label_nc", "19", "--no_instance", "--ngf", "4",
            "--ndf", "4", "--crop_size", str(size), "--load_size", str(size)]
    drawn = []
    with official_sean(STYLE) as official:
        sys.argv = ["train.py"] + args
        from options.train_options import TrainOptions
        from trainers.pix2pix_trainer import Pix2PixTrainer

        torch.manual_seed(seed)
        adam = torch.optim.Adam
        # SEAN's create_optimizers passes betas (0, 0.9), an int and a float, which
        # torch >= 2.x refuses; the same numbers as floats
        torch.optim.Adam = lambda params, lr, betas: adam(params, lr=lr,
                                                         betas=tuple(map(float, betas)))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                opt = TrainOptions().parse(save=True)
                trainer = Pix2PixTrainer(opt)
        finally:
            torch.optim.Adam = adam
        noise_rng = np.random.default_rng(seed + 1)

        def randn(*shape, **kwargs):  # ACE's torch.randn(B, W, H, 1), seeded and recorded
            value = noise_rng.standard_normal(shape).astype(np.float32)
            drawn.append(value.transpose(0, 2, 1, 3))  # -> [B, H, W, 1]
            return torch.from_numpy(value)

        official.norm.torch.randn = randn
        data = {"label": torch.from_numpy(np.stack(labels)[:, None].astype(np.int64)),
                "instance": torch.zeros(1),
                # ToTensor + Normalize((0.5,)*3, (0.5,)*3), as the official loader
                "image": (torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255.0
                          - 0.5) / 0.5,
                "path": [f"x{i}" for i in range(batch)]}
        model = trainer.pix2pix_model
        opt_txt = os.path.join(tmp, "sean", "opt.txt")

        def save(tag):
            folder = os.path.join(out, tag)
            os.makedirs(folder, exist_ok=True)
            torch.save(model.netG.state_dict(), os.path.join(folder, "latest_net_G.pth"))
            torch.save(model.netD.state_dict(), os.path.join(folder, "latest_net_D.pth"))
            shutil.copy(opt_txt, os.path.join(folder, "opt.txt"))

        save("w0")
        losses = []
        for _ in range(iterations):
            trainer.run_generator_one_step(data)
            trainer.run_discriminator_one_step(data)
            losses.append({k: float(v.mean()) for k, v in
                           {**trainer.g_losses, **trainer.d_losses}.items()})
        save("w2")
    shutil.rmtree(tmp)
    calls = len(drawn) // iterations
    np.savez(os.path.join(out, "ace_noise.npz"), **{
        f"call_{k}": np.stack([drawn[it * calls + k] for it in range(iterations)])
        for k in range(calls)})
    case = {"family": "sean", "reference": f"ZPdesu/SEAN 04c7536 ({SEAN_CODE}), style length "
            f"{STYLE}", "argv": args, "height": size, "width": size, "batch": batch,
            "iterations": iterations, "G_lr": opt.lr / 2, "D_lr": opt.lr * 2, "label_nc": 19,
            "no_instance": True, "vgg": False, "ace_calls_per_iteration": calls,
            "order": "per iteration: G step, then D step; ace_noise.npz: each ACE call's noise"}
    with open(os.path.join(out, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    with open(os.path.join(out, "losses.json"), "w") as f:
        json.dump(losses, f, indent=1)
    return case


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    print(json.dumps(make_case(args.out, args.seed, args.iterations, args.size), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
