"""SemGAN from the command line: train, generate, evaluate (side by side), dream."""

import json

import numpy as np
import pytest
from PIL import Image

from tfsem.config import load_config
from tfsem.data.labels import load_label_space
from tfsem.data.readers import read_label
from tfsem.data.labels import raw_label_ids
from tests.testing import REPO, run_module, run_subprocess, write_json

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("semgan_cli")


#: Cityscapes' 'license plate' (raw id -1, class index 34): labelIds files hold it as 0.
LICENSE_PLATE = load_label_space("cityscapes").index_of("license plate")


def semgan_experiment(output="classes", name="tiny_semgan"):
    return {
        "name": name,
        "data": {"source": "toy_streets", "batch_size": 4, "use_instances": False,
                 "load_images": False, "toy": {"num_examples": 8, "height": 32, "width": 64}},
        "model": {"type": "semgan", "semgan": {"output": output, "z_dim": 8, "ngf": 4,
                                               "n_upsample": 3, "ndf": 4, "n_layers_D": 3}},
        "train": {"steps": 2, "checkpoint_every": 1, "sample_every": 2, "log_every": 1,
                  "num_samples": 2, "eval_every": 2, "eval_examples": 4},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, untrained_gaugan_run):
    """A 2-step SemGAN run, a 2-step baseline run and a GauGAN renderer (the
    shared tiny run dir)."""
    root = tmp_path_factory.mktemp("semgan")
    out = {"renderer": untrained_gaugan_run}
    for key, config in (("semgan", semgan_experiment()),
                        ("baseline", semgan_experiment("colors", "tiny_baseline"))):
        path = write_json(root / f"{key}.json", config)
        result = run_module("tfsem.train", "--config", path, "--out", str(root / key))
        assert result.returncode == 0, result.stderr[-3000:]
        out[key] = root / key
        out[key + "_stdout"] = result.stdout
    return out


def test_train_writes_samples_and_label_map_scores(runs):
    run = runs["semgan"]
    for name in ("model.keras", "config.json", "samples/step_000002.png"):
        assert (run / name).exists(), name
    entry = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert entry["step"] == 2 and entry["valid_pixel_fraction"] == 1.0
    assert 0.0 <= entry["class_tv_distance"] <= 1.0
    assert "valid pixel fraction 1.0000" in runs["semgan_stdout"]
    baseline = json.loads((runs["baseline"] / "eval.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= baseline["color_validity"] <= 1.0


def test_generate_writes_label_id_pngs_that_are_the_model_samples(runs, tmp_path):
    out = tmp_path / "gen"
    result = run_module("tfsem.generate", "--model", str(runs["semgan"]), "--num", "3",
                        "--seed", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    from tfsem.runs import load_run

    _, model = load_run(str(runs["semgan"]))
    expected = model.sample_seeds([5, 6, 7]).numpy()
    space = load_label_space("cityscapes")
    for i, seed in enumerate((5, 6, 7)):
        raw = read_label(str(out / "label" / f"sample_{seed:06d}_gtFine_labelIds.png"))
        np.testing.assert_array_equal(raw, raw_label_ids(expected[i], space))
        exact = expected[i] != LICENSE_PLATE  # its id -1 is written as 0, as in Cityscapes
        np.testing.assert_array_equal(space.encode(raw)[exact], expected[i][exact])
        colour = np.asarray(Image.open(out / "color" / f"sample_{seed:06d}_gtFine_color.png"))
        np.testing.assert_array_equal(colour, space.colorize(expected[i]))
    Image.open(out / "grid.png").verify()
    # usable as training labels: a 'folder' dataset over the output reads them back
    from tfsem.config import DataConfig, FolderLayoutConfig
    from tfsem.data.pipeline import DataPipeline

    data = DataConfig(source="folder", root=str(out), use_instances=False, load_images=False,
                      folders=FolderLayoutConfig(label_dir="label"))
    labels = [ex["label"].numpy() for ex in DataPipeline(data).examples()]
    np.testing.assert_array_equal(np.stack(labels), space.encode(raw_label_ids(expected, space)))

    base = tmp_path / "base"
    result = run_module("tfsem.generate", "--model", str(runs["baseline"]), "--num", "2",
                        "--out", str(base))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (base / "raw" / "sample_000000_raw.png").exists()
    assert (base / "label" / "sample_000001_gtFine_labelIds.png").exists()


def test_evaluate_side_by_side(runs, tmp_path):
    metrics = tmp_path / "m.json"
    result = run_module("tfsem.evaluate", "--model", str(runs["semgan"]), str(runs["baseline"]),
                        "--num", "4", "--out", str(metrics))
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "| metric | SemGAN (tiny_semgan) | ColorLabelGAN (tiny_baseline) | data |" in table
    assert "| valid pixels (class ids) | 1.0000 | 1.0000 | 1.0000 |" in table
    assert "pixels within tolerance of a palette colour | n/a |" in table
    runs_json = json.loads(metrics.read_text())["runs"]
    assert runs_json[0]["label_maps"]["valid_pixel_fraction"] == 1.0
    assert 0 <= runs_json[1]["label_maps"]["color_validity"] <= 1.0
    assert runs_json[0]["label_maps"]["data_isolated_pixel_fraction"] >= 0.0

    single = run_module("tfsem.evaluate", "--model", str(runs["semgan"]), "--num", "3")
    assert single.returncode == 0, single.stderr[-3000:]
    assert "3 sampled maps (seeds 0..2)" in single.stdout


def test_dream_renders_the_sampled_maps(runs, tmp_path):
    out = tmp_path / "dream"
    result = run_subprocess("tfsem.dream", "--semgan", str(runs["semgan"]), "--renderer",
                        str(runs["renderer"]), "--num", "2", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    for seed in (3, 4):
        image = Image.open(out / "image" / f"dream_{seed:06d}.png")
        assert image.size == (64, 32) and image.mode == "RGB"
        assert (out / "label" / f"dream_{seed:06d}_gtFine_labelIds.png").exists()
    from tfsem.runs import load_run

    _, model = load_run(str(runs["semgan"]))
    raw = read_label(str(out / "label" / "dream_000004_gtFine_labelIds.png"))
    np.testing.assert_array_equal(raw, raw_label_ids(model.sample_seeds([4]).numpy()[0],
                                                     load_label_space("cityscapes")))


def test_cli_errors(runs, tmp_path):
    cases = [
        (("tfsem.generate", "--model", str(runs["semgan"]), "--labels", str(tmp_path),
          "--out", str(tmp_path / "x")), "samples label maps from noise; pass --num"),
        (("tfsem.generate", "--model", str(runs["semgan"]), "--out", str(tmp_path / "x")),
         "pass one of --labels (label-to-photo models), --images (photo-to-photo models) or "
         "--num (SemGAN), not none"),
        (("tfsem.generate", "--model", str(runs["renderer"]), "--num", "2",
          "--out", str(tmp_path / "x")), "pass --labels PNG_or_FOLDER instead of --num"),
        (("tfsem.dream", "--semgan", str(runs["renderer"]), "--renderer", str(runs["semgan"]),
          "--out", str(tmp_path / "x")), "not a SemGAN"),
        (("tfsem.dream", "--semgan", str(runs["semgan"]), "--renderer", str(runs["baseline"]),
          "--out", str(tmp_path / "x")), "must be a label-to-photo run"),
        (("tfsem.evaluate", "--model", str(runs["semgan"]), str(runs["renderer"])),
         "only SemGAN and baseline runs can be compared"),
    ]
    for args, message in cases:
        result = run_module(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr[-2000:])


def test_headline_config_without_data_says_where_to_put_it(tmp_path):
    config = load_config(f"{REPO}/configs/semgan.json")
    assert config.model.type == "semgan" and config.image_size() == (256, 512)
    result = run_module("tfsem.train", "--config", f"{REPO}/configs/semgan.json",
                        "--out", str(tmp_path / "run"), cwd=str(tmp_path))
    assert result.returncode == 2
    assert f"put Cityscapes in {tmp_path}/datasets/cityscapes" in result.stderr
    assert "python -m tfsem.train --config configs/quickstart_semgan.json" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing written before the data check


def test_raw_label_ids_follow_the_labelids_format():
    space = load_label_space("cityscapes")
    raw = raw_label_ids(np.array([[LICENSE_PLATE, 7], [0, 33]]), space)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, [[0, 7], [0, 33]])  # license plate (-1) -> 0


def test_generate_truncation_and_mixing_from_the_command_line(tmp_path):
    from tests.testing import save_untrained_run

    run = save_untrained_run("semgan_style", tmp_path / "style")
    out = tmp_path / "gen"
    result = run_module("tfsem.generate", "--model", str(run), "--num", "3", "--truncation",
                        "0", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    maps = [np.asarray(Image.open(p)) for p in sorted((out / "label").glob("*.png"))]
    assert len(maps) == 3 and all((m == maps[0]).all() for m in maps)  # the average style
    result = run_module("tfsem.generate", "--model", str(run), "--num", "2", "--mix-seed", "5",
                        "--mix-layer", "1", "--out", str(tmp_path / "mixed"))
    assert result.returncode == 0, result.stderr[-3000:]
    renderer = save_untrained_run("gaugan", tmp_path / "renderer")
    result = run_module("tfsem.dream", "--semgan", str(run), "--renderer", str(renderer),
                        "--num", "2", "--truncation", "0", "--out", str(tmp_path / "dream"))
    assert result.returncode == 0, result.stderr[-3000:]
    dreamed = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "dream" / "label").glob("*"))]
    assert len(dreamed) == 2 and (dreamed[0] == maps[0]).all() and (dreamed[1] == maps[0]).all()
    conv = save_untrained_run("semgan", tmp_path / "conv")
    result = run_module("tfsem.generate", "--model", str(conv), "--num", "2", "--mix-seed", "5",
                        "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "--mix-seed: only a style generator (model.semgan.block: style)" in result.stderr
