import glob
import json
import os

import pytest

from tfsem.config import (ConfigError, DataConfig, ExperimentConfig, PreprocessConfig,
                          config_from_dict, config_to_dict, load_config, save_config)
from tests.testing import REPO


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
    with pytest.raises(ConfigError, match=r"data\.preprocess\.crop_too: unknown key; did you mean 'crop_to'\?"):
        _load({"name": "x", "data": {"preprocess": {"crop_too": [1, 1]}}})
    with pytest.raises(ConfigError, match=r"data\.batchsize: unknown key; did you mean 'batch_size'"):
        _load({"name": "x", "data": {"batchsize": 2}})


def test_wrong_types_say_what_was_expected():
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected int, got str '4'"):
        _load({"name": "x", "data": {"batch_size": "4"}})
    with pytest.raises(ConfigError, match=r"data\.flip|data\.preprocess\.flip: expected true or false, got int 1"):
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
    with pytest.raises(Exception):
        config.flip = False  # frozen
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
