"""tfsem.autotune's process-level choice: oneDNN on or off for a training
config, measured once per machine and model, before TensorFlow starts."""

import json
import os
import subprocess
import sys

import pytest

from tests.testing import REPO

# Runs in a fresh interpreter: the choice can only be made before TensorFlow is
# imported (this test process has it). The timing of the training steps is
# replaced by a table (a real one is tested below); a call not expected fails.
_SCRIPT = """
import json, os, sys
from tfsem import autotune
from tfsem.config import load_config
timings = json.loads(sys.argv[1])
calls = []
def fake(config_path, overrides, setting, timeout=900):
    calls.append(setting)
    return timings[setting]
autotune._time_train_steps = fake
config = load_config(os.path.join({repo!r}, "configs", "quickstart.json"))
lines = []
chosen = autotune.choose_onednn_for_training(config, "configs/quickstart.json",
                                             print_fn=lines.append)
print(json.dumps({{"chosen": chosen, "env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                  "calls": calls, "lines": lines,
                  "tensorflow": "tensorflow" in sys.modules}}))
"""


def _choose(tmp_path, timings, **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("TF_ENABLE_ONEDNN_OPTS", "TFSEM_ONEDNN")}
    environ.update(TFSEM_AUTOTUNE_CACHE=str(tmp_path), **env)
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(repo=REPO), json.dumps(timings)],
                         cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_onednn_is_measured_once_per_machine_and_model_then_read_back(tmp_path):
    first = _choose(tmp_path, {"on": 0.4, "off": 0.7})
    assert first["chosen"] == "on" and first["env"] == "1"
    assert sorted(first["calls"]) == ["off", "on"] and not first["tensorflow"]
    assert "training with oneDNN on" in first["lines"][-1]
    # the next training process of the same config reads the file: nothing is timed
    again = _choose(tmp_path, {"on": 9.0, "off": 0.1})
    assert again["chosen"] == "on" and again["env"] == "1" and again["calls"] == []
    (path,) = [p for p in tmp_path.glob("*.json")]
    (entry,) = json.loads(path.read_text())["choices"].values()
    assert entry == {"method": "on", "ms": {"off": 700.0, "on": 400.0}}


def test_onednn_off_when_faster_and_the_users_setting_or_a_pin_wins(tmp_path):
    assert _choose(tmp_path, {"on": 0.9, "off": 0.5})["env"] == "0"
    mine = _choose(tmp_path / "b", {"on": 0.1, "off": 0.9}, TF_ENABLE_ONEDNN_OPTS="0")
    assert mine["chosen"] is None and mine["env"] == "0" and mine["calls"] == []
    pinned = _choose(tmp_path / "c", {}, TFSEM_ONEDNN="on")
    assert pinned["env"] == "1" and pinned["calls"] == []
    default = _choose(tmp_path / "d", {}, TFSEM_ONEDNN="default")
    assert default["chosen"] is None and default["env"] is None
    bad = subprocess.run([sys.executable, "-c", _SCRIPT.format(repo=REPO), "{}"], cwd=REPO,
                         env=dict(os.environ, TFSEM_ONEDNN="fast"), capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "TFSEM_ONEDNN='fast': use auto or one of" in bad.stderr


@pytest.mark.slow  # a fresh TensorFlow process building and stepping a model (~30 s)
def test_the_train_step_timing_process_times_the_configs_step(tmp_path):
    """What the choice runs twice: the config's training step in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from tfsem.autotune import train_step_process; "
         "sys.exit(train_step_process(sys.argv[1:]))", "--config", "configs/quickstart.json",
         "--set", "data.batch_size=1", "--set", "data.toy.height=32",
         "--set", "data.toy.width=64", "--set", "data.toy.num_examples=4",
         "--set", "model.gaugan.ngf=4", "--set", "model.gaugan.ndf=4"],
        cwd=REPO, env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0"), capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert 0 < result["seconds_per_step"] < 60 and result["onednn"] == "0"


def test_the_choice_is_kept_per_model_and_map_size_not_per_schedule():
    from tfsem.autotune import train_step_key
    from tfsem.config import load_config

    path = os.path.join(REPO, "configs", "quickstart.json")
    key = train_step_key(load_config(path))
    for change in ("data.preprocess.crop_to=[32,64]", "data.batch_size=2",
                   "model.gaugan.ngf=16", "train.mixed_precision=mixed_bfloat16"):
        assert train_step_key(load_config(path, overrides=[change])) != key, change
    for same in ("train.steps=5", "optimizer.g_lr=0.001"):
        assert train_step_key(load_config(path, overrides=[same])) == key, same


def test_two_cpus_of_one_name_and_flags_keep_apart_caches(monkeypatch, tmp_path):
    """A virtual machine names a Zen 4 and a Zen 5 both "AMD EPYC", often with the
    same flags: the family and model numbers keep their measured choices apart
    (an ARM CPU's implementer and part likewise)."""
    from tfsem import autotune

    monkeypatch.setenv("TFSEM_AUTOTUNE_CACHE", str(tmp_path))
    x86 = {"model name": "AMD EPYC", "flags": "avx2 fma avx512f avx512_bf16"}
    arm = {"model name": "", "Features": "asimd bf16", "CPU implementer": "0x41"}
    seen = {}
    for name, info in (("zen4", {**x86, "cpu family": "25", "model": "17"}),
                       ("zen5", {**x86, "cpu family": "26", "model": "2"}),
                       ("neoverse_v1", {**arm, "CPU part": "0xd40"}),
                       ("neoverse_n2", {**arm, "CPU part": "0xd49"})):
        monkeypatch.setattr(autotune, "cpuinfo", lambda info=info: info)
        autotune._machine_base.cache_clear()
        seen[name] = (autotune.machine()["cpu_id"], autotune.cache_path())
    autotune._machine_base.cache_clear()
    assert seen["zen4"][0] == "family 25 model 17"
    assert seen["neoverse_n2"][0] == "implementer 0x41 part 0xd49"
    assert len({path for _, path in seen.values()}) == 4
