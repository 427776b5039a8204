import dataclasses
import glob
import json
import os

import pytest

from tfsem.config import (ConfigError, DataConfig, ExperimentConfig, PreprocessConfig,
                          config_from_dict, config_to_dict, load_config, save_config)
from tests.testing import REPO, tiny_family_experiment


def _load(data):
    config = config_from_dict(ExperimentConfig, data)
    config.validate()
    return config


def test_defaults_fill_in_and_round_trip(tmp_path):
    config = _load({"name": "x", "data": {"preprocess": {"crop_to": [32, 64]}}})
    assert config.data.preprocess.crop_to == (32, 64)
    assert config.data.source == "toy_streets"
    path = str(tmp_path / "resolved.json")
    save_config(config, path)
    assert load_config(path) == config
    with open(path) as f:
        assert json.load(f)["data"]["preprocess"]["crop_to"] == [32, 64]


def test_unknown_key_names_dotted_path_and_suggests():
    with pytest.raises(ConfigError,
                       match=r"data\.preprocess\.crop_too: unknown key; did you mean 'crop_to'\?"):
        _load({"name": "x", "data": {"preprocess": {"crop_too": [1, 1]}}})
    with pytest.raises(ConfigError, match=r"data\.batchsize: unknown key; did you mean 'batch_size'"):
        _load({"name": "x", "data": {"batchsize": 2}})


def test_wrong_types_say_what_was_expected():
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected int, got str '4'"):
        _load({"name": "x", "data": {"batch_size": "4"}})
    with pytest.raises(ConfigError,
                       match=r"data\.flip|data\.preprocess\.flip: expected true or false, got int 1"):
        _load({"name": "x", "data": {"preprocess": {"flip": 1}}})
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected int, got bool true"):
        _load({"name": "x", "data": {"batch_size": True}})
    with pytest.raises(ConfigError, match=r"crop_to: expected a list of 2 int/int, got a list of 3"):
        _load({"name": "x", "data": {"preprocess": {"crop_to": [1, 2, 3]}}})
    with pytest.raises(ConfigError, match=r"data\.preprocess: expected an object \(PreprocessConfig\)"):
        _load({"name": "x", "data": {"preprocess": 3}})


def test_enum_value_lists_choices_and_suggests():
    with pytest.raises(ConfigError) as err:
        _load({"name": "x", "data": {"source": "cityscape"}})
    message = str(err.value)
    assert "data.source: expected one of 'toy_streets', 'cityscapes', 'folder', 'tfds'" in message
    assert "did you mean 'cityscapes'?" in message


def test_missing_required_and_cross_field_checks():
    with pytest.raises(ConfigError, match="missing required key"):
        _load({"data": {}})
    with pytest.raises(ConfigError, match=r"data\.root: source 'folder' needs a dataset folder"):
        _load({"name": "x", "data": {"source": "folder"}})
    with pytest.raises(ConfigError, match="either 'resize_to' or 'scale_width'"):
        _load({"name": "x", "data": {"preprocess": {"resize_to": [8, 8], "scale_width": 8}}})
    with pytest.raises(ConfigError, match=r"crop_to: \[16, 16\] is larger than resize_to \[8, 8\]"):
        _load({"name": "x", "data": {"preprocess": {"resize_to": [8, 8], "crop_to": [16, 16]}}})
    with pytest.raises(ConfigError, match="TFDS cityscapes/semantic_segmentation has no instance maps"):
        _load({"name": "x", "data": {"source": "tfds", "use_instances": True}})
    with pytest.raises(ConfigError, match="only the '{split}' placeholder"):
        _load({"name": "x", "data": {"folders": {"label_dir": "{splt}_label"}}})


def test_load_config_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "data": {"sourc": "toy_streets"}}')
    with pytest.raises(ConfigError, match=r"bad\.json: data\.sourc: unknown key; did you mean 'source'"):
        load_config(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        load_config(str(broken))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "missing.json"))


def test_frozen_and_field_names_match_constructor_kwargs():
    config = PreprocessConfig(resize_to=(4, 8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.flip = False
    assert config_to_dict(DataConfig())["preprocess"] == {
        "resize_to": None, "scale_width": None, "crop_to": None, "flip": True}


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*.json"))),
                         ids=os.path.basename)
def test_every_shipped_config_loads_and_validates(path):
    config = load_config(path)
    assert config.name == os.path.splitext(os.path.basename(path))[0]
    assert config_from_dict(ExperimentConfig, config_to_dict(config)) == config


def test_configs_folder_is_not_empty():
    assert len(glob.glob(os.path.join(REPO, "configs", "*.json"))) >= 4


# -- the model one-of, overrides, epochs, descriptions ---------------------------------


def _gaugan(**section):
    return {"name": "x", "model": {"type": "gaugan", "gaugan": section}}


def test_another_familys_section_is_an_error_naming_it():
    data = _gaugan(ngf=8)
    data["model"]["pix2pixhd"] = {"ngf": 8}
    with pytest.raises(ConfigError, match=r"model\.pix2pixhd: a 'pix2pixhd' section in a model "
                                          r"of type 'gaugan'; only model\.gaugan is read"):
        _load(data)
    with pytest.raises(ConfigError, match=r"model\.type: expected one of 'gaugan', 'pix2pixhd', "
                                          r"'pix2pix', 'semgan', 'sean', got 'gaugn'; did you mean "
                                          r"'gaugan'\?"):
        _load({"name": "x", "model": {"type": "gaugn"}})
    with pytest.raises(ConfigError, match=r"model\.gaugann: unknown key; did you mean 'gaugan'\?"):
        _load({"name": "x", "model": {"type": "gaugan", "gaugann": {}}})


@pytest.mark.parametrize("model, field, why", [
    ({"type": "gaugan", "gaugan": {"z_dim": 64}}, "gaugan.z_dim", "use_vae is false"),
    ({"type": "pix2pixhd", "pix2pixhd": {"nef": 8}}, "pix2pixhd.nef", "use_features is false"),
    ({"type": "pix2pixhd", "pix2pixhd": {"niter_fix_global": 5}}, "pix2pixhd.niter_fix_global",
     "n_local_enhancers is 0"),
    ({"type": "semgan", "semgan": {"output": "colors", "relaxation": "softmax"}},
     "semgan.relaxation", "output is 'colors'"),
    ({"type": "semgan", "semgan": {"tau_end": 0.5}}, "semgan.tau_end", "relaxation is 'softmax'"),
    ({"type": "semgan", "semgan": {"smoothing_anneal_steps": 50}}, "semgan.smoothing_anneal_steps",
     "smoothing_end is null"),
    ({"type": "semgan", "semgan": {"output": "colors", "smoothing_end": 0.1}},
     "semgan.smoothing_end", "output is 'colors'"),
])
def test_a_field_the_variant_ignores_is_an_error(model, field, why):
    data = {"name": "x", "data": {"use_instances": False, "load_images": False}, "model": model}
    if model["type"] != "semgan":
        data = {"name": "x", "model": model}
    with pytest.raises(ConfigError, match=rf"model\.{field}: not used by this model \({why}"):
        _load(data)


def test_semgan_fake_smoothing_defaults_by_block_and_is_for_classes_only():
    from tfsem.models import SemGAN

    for case, on in (("semgan", False), ("semgan_style", True)):
        config = config_from_dict(ExperimentConfig, tiny_family_experiment(case))
        assert config.model.semgan.fake_smoothing is None
        assert SemGAN.from_experiment(config).fake_smoothing is on, case
    data = {"name": "x", "data": {"use_instances": False, "load_images": False},
            "model": {"type": "semgan", "semgan": {"fake_smoothing": True,
                                                   "real_smoothing": 0.0}}}
    assert _load(data).model.semgan.fake_smoothing is True  # no error: nothing to add
    data["model"]["semgan"] = {"output": "colors", "fake_smoothing": False}
    with pytest.raises(ConfigError, match=r"fake_smoothing: not used by this model"):
        _load(data)


def test_only_the_chosen_section_and_its_used_fields_are_written(tmp_path):
    config = _load(_gaugan(ngf=8))
    written = config_to_dict(config)["model"]
    assert set(written) == {"type", "gaugan"} and written["gaugan"]["ngf"] == 8
    assert "z_dim" not in written["gaugan"] and "lambda_kld" not in written["gaugan"]
    assert config.model.gaugan is config.model.section
    with pytest.raises(AttributeError, match="this config's model type is 'gaugan'"):
        _ = config.model.pix2pixhd
    vae = config_to_dict(_load(_gaugan(use_vae=True, z_dim=16)))["model"]["gaugan"]
    assert vae["z_dim"] == 16 and vae["lambda_kld"] == 0.05


def test_a_tfsem_0_2_run_config_with_every_section_still_loads(tmp_path):
    """tfsem 0.2 wrote every family's section and every field into config.json."""
    old = config_to_dict(_load(_gaugan(ngf=8)))
    old["model"] = {"type": "gaugan", "gaugan": {**old["model"]["gaugan"], "z_dim": 256,
                                                 "lambda_kld": 0.05},
                    "pix2pixhd": {"ngf": 64}, "semgan": {"z_dim": 128}}
    path = str(tmp_path / "config.json")
    with open(path, "w") as f:
        json.dump(old, f)
    with pytest.raises(ConfigError, match="a 'pix2pixhd' section"):
        load_config(path)  # a config a user writes is strict
    assert load_config(path, written=True) == _load(_gaugan(ngf=8))


def test_set_overrides_are_strict_and_typed(tmp_path):
    path = os.path.join(REPO, "configs", "quickstart.json")
    config = load_config(path, overrides=["model.gaugan.ngf=16", "data.batch_size=2",
                                          "train.mixed_precision=mixed_bfloat16",
                                          "data.preprocess.resize_to=[32, 64]"])
    assert config.model.gaugan.ngf == 16 and config.data.batch_size == 2
    assert config.train.mixed_precision == "mixed_bfloat16"
    assert config.data.preprocess.resize_to == (32, 64)
    with pytest.raises(ConfigError, match=r"quickstart\.json: model\.gaugan\.ngff: unknown key; "
                                          r"did you mean 'ngf'\?"):
        load_config(path, overrides=["model.gaugan.ngff=16"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(path, overrides=["model.gaugan.ngf"])
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected int, got str 'two'"):
        load_config(path, overrides=["data.batch_size=two"])


def test_epochs_resolve_to_steps_with_the_data_size():
    data = {"name": "x", "data": {"batch_size": 4},
            "optimizer": {"decay_epochs": 1}, "train": {"epochs": 3}}
    config = _load(data)
    assert config.schedule(10) == (9, 3)  # ceil(10 / 4) = 3 steps per epoch
    # An epoch as each official loader counts it: SPADE drops the last, smaller batch.
    for family, per_epoch in (("gaugan", 2), ("pix2pixhd", 3)):
        model = _load({**data, "model": {"type": family}})
        assert model.steps_per_epoch(10) == per_epoch
        assert model.schedule(10) == (3 * per_epoch, per_epoch)
    assert _load({"name": "x"}).schedule() == (1000, 0)
    assert _load({"name": "x", "train": {"steps": 7}}).schedule() == (7, 0)
    with pytest.raises(ConfigError, match="set steps or epochs, not both"):
        _load({"name": "x", "train": {"steps": 7, "epochs": 2}})
    with pytest.raises(ConfigError, match="decay_epochs: counts epochs; set train.epochs"):
        _load({"name": "x", "optimizer": {"decay_epochs": 1}})
    with pytest.raises(ConfigError, match="decay_epochs: 5 is more than train.epochs"):
        _load({"name": "x", "optimizer": {"decay_epochs": 5}, "train": {"epochs": 2}})


def test_every_config_field_has_a_description():
    """The config reference of the documentation is generated from these."""
    from tfsem import registry
    from tfsem.config.data import FolderLayoutConfig, TFDSConfig, ToyStreetsConfig
    from tfsem.config.experiment import OptimizerConfig, TrainConfig
    from tfsem.config.schema import field_docs

    sections = [family.section for family in registry.FAMILIES.values()] + [
        DataConfig, PreprocessConfig, FolderLayoutConfig, ToyStreetsConfig, TFDSConfig,
        OptimizerConfig, TrainConfig]
    for section in sections:
        for name, _, _, doc in field_docs(section):
            assert doc.strip(), f"{section.__name__}.{name} has no description"


def test_config_cli_describes_and_checks(tmp_path):
    from tests.testing import run_module

    result = run_module("tfsem.config", "--describe", "pix2pixhd")
    assert result.returncode == 0 and "n_local_enhancers" in result.stdout
    assert "local enhancers around G1" in result.stdout
    result = run_module("tfsem.config", "--check", "configs/quickstart.json", "--set",
                        "model.gaugan.ngf=12")
    assert result.returncode == 0 and json.loads(result.stdout)["model"]["gaugan"]["ngf"] == 12
    result = run_module("tfsem.config", "--describe", "spade")
    assert result.returncode == 2
    assert ("error: --describe: expected one of 'gaugan', 'pix2pixhd', 'pix2pix', 'semgan', "
            "'sean'") in result.stderr


def test_tfsem_console_script_dispatches_subcommands(capsys):
    from tfsem import cli

    assert cli.main(["config", "--describe", "semgan"]) == 0
    assert "real_smoothing" in capsys.readouterr().out
    assert cli.main([]) == 0 and "encode-features" in capsys.readouterr().out
    assert cli.main(["trian"]) == 2 and "unknown command 'trian'" in capsys.readouterr().err


def test_tfsem_console_script_in_a_fresh_process():
    """The smoke test of the ``tfsem`` entry point (``tfsem.cli:main``) and of
    ``python -m tfsem.config`` (through it)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import sys; from tfsem.cli import main; sys.exit(main())",
         "config", "--describe", "gaugan"], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "num_upsampling_layers" in result.stdout
