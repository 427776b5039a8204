"""Helpers shared by the tests: paths to the real sample data, tiny configs, CLI runs."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfsem.config import DataConfig, ToyStreetsConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir() -> str:
    """``$TFSEM_SHARED_DATA`` or ``../shared/data``; the test skips when it is absent."""
    path = os.environ.get("TFSEM_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
    if not os.path.isdir(path):
        pytest.skip(f"real sample data not found at {path} (set TFSEM_SHARED_DATA)")
    return os.path.abspath(path)


def reference_dir() -> str:
    """``$TFSEM_REFERENCE`` or ``../shared/reference`` (checkpoints and outputs of the
    official code); the test skips when it is absent."""
    path = os.environ.get("TFSEM_REFERENCE", os.path.join(REPO, "..", "shared", "reference"))
    if not os.path.isdir(os.path.join(path, "fixtures")):
        pytest.skip(f"official-code reference fixtures not found at {path} (set TFSEM_REFERENCE)")
    return os.path.abspath(path)


def reference_cases(names=None, slow=()):
    """pytest params of the fixture cases in the reference dir (every case found, or
    ``names``); cases whose checkpoints exceed 50 MB (full widths), and those in
    ``slow``, are marked slow. Collected without skipping, so a missing reference
    dir shows up in each test."""
    path = os.environ.get("TFSEM_REFERENCE", os.path.join(REPO, "..", "shared", "reference"))
    fixtures = os.path.join(path, "fixtures")
    found = sorted(os.listdir(fixtures)) if os.path.isdir(fixtures) else list(names or ())
    params = []
    for name in found:
        if names is not None and name not in names:
            continue
        ckpt = os.path.join(fixtures, name, "checkpoint")
        size = sum(os.path.getsize(os.path.join(ckpt, f)) for f in os.listdir(ckpt)) \
            if os.path.isdir(ckpt) else 0
        marks = [pytest.mark.slow] if size > 50e6 or name in slow else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params or [pytest.param("spade_cityscapes", id="spade_cityscapes")]


def toy_data_config(**overrides) -> DataConfig:
    """A tiny toy_streets data config (32x64, 8 examples, batch 2)."""
    settings = dict(source="toy_streets", batch_size=2,
                    toy=ToyStreetsConfig(num_examples=8, height=32, width=64, seed=0))
    settings.update(overrides)
    return DataConfig(**settings)


def write_png(path: str, array: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def run_subprocess(module: str, *args: str, cwd: str = REPO, timeout: int = 300):
    """Runs ``python -m module args`` in a fresh process; returns CompletedProcess.
    For the one smoke test per CLI, and what needs a process of its own."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_module(module: str, *args: str, cwd: str = REPO, timeout: int = 300):
    """Runs the CLI ``python -m module args`` IN THIS PROCESS, as a user would
    see it: ``main(argv)`` through ``tfsem.cli.run_cli`` (errors become one
    ``error:`` line and exit code 2; argparse errors exit 2), stdout and
    stderr captured, in ``cwd``. Returns a CompletedProcess like
    :func:`run_subprocess`; ``timeout`` is accepted for the same signature.
    Global Keras state a CLI may change (the dtype policy) is restored."""
    import contextlib
    import importlib
    import io

    import keras

    from tfsem import cli

    target = importlib.import_module(module)
    if not hasattr(target, "main"):  # a package: python -m runs its __main__
        target = importlib.import_module(module + ".__main__")
    out, err = io.StringIO(), io.StringIO()
    policy, here = keras.mixed_precision.global_policy(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.run_cli(target.main, list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        os.chdir(here)
        keras.mixed_precision.set_global_policy(policy)
    return subprocess.CompletedProcess([sys.executable, "-m", module, *args], code,
                                       out.getvalue(), err.getvalue())


def run_layer_test(layer_cls, init_kwargs, inputs, expected_output_shape, call_kwargs=None):
    """Config round trip, eager call with the expected shape, and the same output
    from a layer rebuilt from its config with the same weights. Returns the layer."""
    import keras

    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    out = layer(inputs, **call_kwargs)
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == value, (key, config[key], value)
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    clone(inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(inputs, training=False)),
        keras.ops.convert_to_numpy(layer(inputs, training=False)), rtol=1e-5, atol=1e-5)
    return layer


def tiny_gaugan_kwargs(**overrides):
    """GauGAN at 32x64 with 4-8 filters: seconds per step on 2 CPU cores."""
    kwargs = dict(num_classes=35, image_size=(32, 64), use_instances=True, ngf=4, ndf=4,
                  hidden_channels=8, num_D=2, n_layers_D=3, z_dim=8, seed=0)
    kwargs.update(overrides)
    return kwargs


def tiny_experiment(**train):
    """A complete tiny GauGAN experiment dict on toy_streets 32x64 (no VGG)."""
    settings = dict(steps=2, checkpoint_every=1, sample_every=2, log_every=1, num_samples=2)
    settings.update(train)
    return {
        "name": "tiny",
        "data": {"source": "toy_streets", "batch_size": 2,
                 "toy": {"num_examples": 8, "height": 32, "width": 64}},
        "model": {"type": "gaugan", "gaugan": {
            "ngf": 4, "ndf": 4, "hidden_channels": 8, "n_layers_D": 3, "norm_G": "instance",
            "lambda_vgg": 0.0, "seed": 0}},
        "train": settings,
    }


def write_json(path, data) -> str:
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return str(path)


def two_replica_strategy():
    """MirroredStrategy over the two logical CPUs of conftest. It reduces without
    collective ops: a second collective MirroredStrategy in one process (test_gaugan
    has one) reuses collective instance keys and collides."""
    import tensorflow as tf

    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def mirrored_train_step(strategy, model, batch):
    """One ``model.train_step`` on ``batch`` split over the strategy's replicas."""
    import tensorflow as tf

    dist = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
    tf.function(lambda b: strategy.run(model.train_step, args=(b,)))(next(iter(dist)))


def assert_same_update(initial, single, mirrored, names=None) -> int:
    """Every weight moved by the same amount on one device (``single``) and over
    replicas (``mirrored``), within 1e-3 relative and 1e-4 of the largest change,
    which must be > 0. Returns how many weights moved by > 1e-3 of it."""
    largest = max(np.abs(a - w0).max() for a, w0 in zip(single, initial))
    assert largest > 0
    moved = 0
    for i, (w0, a, b) in enumerate(zip(initial, single, mirrored)):
        np.testing.assert_allclose(b - w0, a - w0, rtol=1e-3, atol=1e-4 * largest,
                                   err_msg=names[i] if names else str(i))
        moved += int(np.abs(a - w0).max() > 1e-3 * largest)
    return moved


def tiny_family_experiment(case: str) -> dict:
    """A tiny experiment dict of each family variant (toy_streets 32x64, no VGG):
    ``gaugan``, ``gaugan_vae``, ``pix2pix``, ``pix2pixhd``, ``pix2pixhd_features``, ``sean``,
    ``semgan``, ``semgan_colors``, ``semgan_style``, ``photogan``."""
    base = tiny_experiment()
    if case.startswith("gaugan"):
        if case == "gaugan_vae":
            base["model"]["gaugan"].update(use_vae=True, z_dim=8)
        return base
    if case.startswith("pix2pixhd"):
        section = {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "ndf": 4,
                   "num_D": 1, "n_layers_D": 2, "lambda_vgg": 0.0}
        if case == "pix2pixhd_features":
            section.update(use_features=True, feat_num=3, nef=4, n_downsample_E=2)
        return {**base, "name": f"tiny_{case}", "model": {"type": "pix2pixhd", "pix2pixhd": section}}
    if case == "sean":
        section = {"ngf": 4, "ndf": 4, "num_D": 1, "n_layers_D": 2, "hidden_channels": 8,
                   "style_length": 8, "zencoder_ngf": 4, "lambda_vgg": 0.0}
        return {**base, "name": "tiny_sean", "data": {**base["data"], "use_instances": False},
                "model": {"type": "sean", "sean": section}}
    if case == "pix2pix":  # 32x64: num_downs 5 reaches 1x2
        section = {"num_downs": 5, "ngf": 4, "ndf": 4, "n_layers_D": 2}
        return {**base, "name": "tiny_pix2pix", "model": {"type": "pix2pix", "pix2pix": section}}
    output = {"semgan": "classes", "semgan_colors": "colors", "semgan_style": "classes",
              "photogan": "photos"}[case]
    section = {"output": output, "z_dim": 8, "ngf": 4, "n_upsample": 3, "ndf": 4, "n_layers_D": 3}
    if case == "semgan_style":
        section.update(block="style", mapping_layers=2)
    return {**base, "name": f"tiny_{case}",
            "data": {**base["data"], "use_instances": False, "load_images": case == "photogan"},
            "model": {"type": "semgan", "semgan": section}}


def save_untrained_run(case: str, run, **section):
    """Writes a run dir (``config.json`` + ``model.keras``) of
    ``tiny_family_experiment(case)`` (``section``: model fields to change),
    initialised (seed 0), not trained; returns it."""
    import keras

    from tfsem.config import ExperimentConfig, config_from_dict, save_config
    from tfsem.train.build import build_model

    keras.utils.set_random_seed(0)
    os.makedirs(run, exist_ok=True)
    experiment = tiny_family_experiment(case)
    model_section = experiment["model"]
    model_section[model_section["type"]].update(section)
    config = config_from_dict(ExperimentConfig, experiment)
    model = build_model(config)
    model.build_networks()
    model.save(os.path.join(run, "model.keras"))
    save_config(config, os.path.join(run, "config.json"))
    return run


FAMILY_CASES = ("gaugan", "gaugan_vae", "pix2pix", "pix2pixhd", "pix2pixhd_features", "sean",
                "semgan", "semgan_colors", "semgan_style", "photogan")
