"""Test setup: quiet TF, two logical CPU devices (for tf.distribute tests), no grappler
in this process, --run-slow, the shared tiny GauGAN run."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# --precision auto picks bfloat16 on CPUs with avx512_bf16 / AMX: the tests compare
# float32 outputs on every machine (tests of bf16 ask for it; tests of auto patch it).
os.environ.setdefault("TFSEM_PRECISION", "float32")
# Kernel choices are measured per machine (tfsem.autotune); the tests pin
# oneDNN's conv and the fused instance norm so their results and times do not
# depend on the machine (the autotuner's own tests set "auto" with a temporary cache).
os.environ.setdefault("TFSEM_CONV3X3", "conv")
os.environ.setdefault("TFSEM_INSTANCE_NORM", "fused")
# ... and keep TensorFlow's own oneDNN rule (python -m tfsem.train would otherwise
# time the config's steps with oneDNN on and off the first time it trains it).
os.environ.setdefault("TFSEM_ONEDNN", "default")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices let MirroredStrategy run on this machine. This must
# happen before TensorFlow initialises its devices, so it is done at import.
_cpus = tf.config.list_physical_devices("CPU")
if _cpus:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


# Grappler's graph rewrites cost ~6 s per tiny GAN train step here (~1/7 of the
# suite) and change nothing a test asserts; the tests that run the CLIs in a fresh
# process (run_subprocess, the TF1 loader, multi-worker) keep them, as users do.
# TFSEM_TEST_GRAPPLER=1 keeps them in this process too.
if os.environ.get("TFSEM_TEST_GRAPPLER") != "1":
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (real sizes, long training)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: real sizes or long runs; needs --run-slow")
    # pytest-xdist's mark (make test runs --dist loadgroup); registered for plain runs too
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one worker")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _shared_run(tmp_path_factory, name, make):
    """``make(root)`` once for the whole test run, not once per pytest-xdist worker:
    the workers share pytest's base temp dir and take a file lock; the first
    builds ``<base>/<name>``, the others wait for it and reuse it (read-only:
    tests copy a run before writing into it)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-of-USER/pytest-N/: the workers' common parent
    root = base / name
    with FileLock(str(root) + ".lock"):
        if not (root / ".complete").exists():
            if root.exists():  # a worker failed half-way: build it again
                import shutil
                shutil.rmtree(root)
            root.mkdir()
            make(root)
            (root / ".complete").write_text("")
    return root


@pytest.fixture(scope="session")
def tiny_gaugan_run(tmp_path_factory):
    """A tiny GauGAN trained 2 steps by the train CLI (``tests.testing.tiny_experiment``),
    shared by the tests that only need some trained label-to-photo run (copy it
    before writing into it). Training a model costs ~25 s of tracing here, paid
    once per test run (``_shared_run``). Beside it: ``tiny.json`` (its config)
    and ``train_stdout.txt`` (what the CLI printed)."""
    from tests.testing import run_module, tiny_experiment, write_json

    def make(root):
        config = write_json(root / "tiny.json", tiny_experiment(steps=2))
        result = run_module("tfsem.train", "--config", config, "--out", str(root / "run"))
        assert result.returncode == 0, result.stderr[-3000:]
        (root / "train_stdout.txt").write_text(result.stdout)

    return _shared_run(tmp_path_factory, "tiny_gaugan", make) / "run"


@pytest.fixture(scope="session")
def untrained_gaugan_run(tmp_path_factory):
    """A run dir (``config.json`` + ``model.keras``) of the tiny GauGAN, initialised
    and not trained: for the tests that only need a label-to-photo run to load
    (evaluate, dream, generate), without paying for a training trace."""
    from tests.testing import save_untrained_run

    return _shared_run(tmp_path_factory, "untrained_gaugan",
                       lambda root: save_untrained_run("gaugan", root / "run")) / "run"


@pytest.fixture(scope="session")
def tiny_gaugan_export(tmp_path_factory, untrained_gaugan_run):
    """The SavedModel of ``untrained_gaugan_run`` (``max_pixels`` 64 * 64), version
    1 under ``<root>/models/tiny``: shared by the tests that serve an export
    without changing it (each export costs a trace of every signature). Returns
    the version dir; read-only (copy the base dir before writing into it)."""
    from tfsem.export.saved_model import export_saved_model
    from tfsem.runs import load_run

    def make(root):
        config, model = load_run(str(untrained_gaugan_run))
        export_saved_model(model, config, str(root / "models" / "tiny"), max_pixels=64 * 64)

    return str(_shared_run(tmp_path_factory, "tiny_gaugan_export", make) / "models" / "tiny" / "1")
