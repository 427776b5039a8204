import json
import subprocess
import sys

import pytest
from PIL import Image

from tests.testing import REPO


def test_plot_oracle_reads_eval_jsonl_last_entry_wins(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"step": 100, "oracle_miou": 0.2, "oracle_pixel_accuracy": 0.5},
             {"step": 200, "oracle_miou": 0.6, "oracle_pixel_accuracy": 0.8},
             {"step": 200, "oracle_miou": 0.7, "oracle_pixel_accuracy": 0.9}]
    (run / "eval.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "plot.png"
    result = subprocess.run([sys.executable, f"{REPO}/dev/plot_oracle.py", "--run", str(run),
                             "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| 200 | 0.700 | 0.900 |" in result.stdout and "0.600" not in result.stdout
    assert Image.open(out).size == (640, 400)


@pytest.mark.slow  # seven tiny runs through every comparison (~65 s alone)
def test_report_scores_every_comparison_on_untrained_runs(tmp_path):
    """dev/report.py end to end on tiny untrained runs (--run for each), 2 maps
    per score: the three tables, the targets, the budgets and both pictures
    are written."""
    from tests.testing import save_untrained_run

    report = _dev_module("report")

    cases = {"semgan": "semgan", "semgan_style": "semgan_style", "baseline": "semgan_colors",
             "photogan": "photogan", "spade": "gaugan", "pix2pixhd": "pix2pixhd_features",
             "pix2pix": "pix2pix"}
    runs = [f"{name}={save_untrained_run(case, tmp_path / name)}" for name, case in cases.items()]
    runs.append("pix2pixhd_local=" + str(save_untrained_run(
        "pix2pixhd_features", tmp_path / "pix2pixhd_local", n_local_enhancers=1)))
    argv = ["--num", "2", "--docs", str(tmp_path / "docs")]
    for run in runs:
        argv += ["--run", run]
    assert report.main(argv) == 0
    text = (tmp_path / "docs" / "report.md").read_text()
    for heading in ("## (a) SemGAN vs the colour-GAN baseline", "## (b) Two stages",
                    "## (c) Renderers on the same validation label maps"):
        assert heading in text
    assert "-> pix2pix" in text and "photogan (one stage)" in text
    assert "| pix2pixhd_local (" in text and "real photos: mIoU" in text
    assert "error on label edges" in text and "## Quality targets" in text
    assert "| pix2pixHD quickstart (stage 2) toy-oracle mIoU >= 0.9 | " in text
    assert (tmp_path / "pix2pixhd" / "features.npz").exists()  # its clusters were made
    for picture in ("report_two_stage.png", "report_renderers.png"):
        assert Image.open(tmp_path / "docs" / picture).size[0] > 64


def test_benchmark_compare_parses_cases_and_prints_ratios():
    bench = _benchmark_module()
    assert bench.parse_case("spade_fwd_256x128") == ("spade", "fwd", 128, 256)
    with pytest.raises(ValueError, match="unknown"):
        bench.parse_case("spade_back_256x128")
    rows = [{"case": "spade_fwd_256x128", "batch": 1, "sides": {
        "official": bench._summary([{"median_s": 2.0}, {"median_s": 2.2}]),
        "tfsem": bench._summary([{"median_s": 1.0}, {"median_s": 1.0}]),
        "tfsem_bf16": bench._summary([{"error": "exit 1: boom"}])}}]
    table = bench.markdown_table(rows)
    assert "2.10 s (2.00-2.20)" in table and "2.10x" in table and "failed" in table


def _dev_module(name):
    """A script of dev/ as a module (dev/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, f"{REPO}/dev/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _benchmark_module():
    return _dev_module("benchmark")


def test_benchmark_profile_groups_ops_into_blocks_with_flops():
    """The profile of a tiny pix2pixHD generator: every block timed, the conv
    blocks with their direct-conv FLOPs (the same count as by hand)."""
    import tensorflow as tf

    from tfsem.networks.pix2pixhd import Pix2PixHDGenerator

    bench = _benchmark_module()
    assert bench._block_of("gau_gan_1/generator_1/up_3_1/norm_s_1/mul", 2) == "generator/up_3"
    generator = Pix2PixHDGenerator(ngf=4, n_downsample_global=1, n_blocks_global=1)
    x = tf.random.uniform([1, 16, 32, 5], seed=0)
    generator(x)
    flops = bench._flops_by_op(lambda v: generator(v, training=False), (x,))
    blocks = {}
    for name, count in flops.items():
        block = bench._block_of(name, 9)  # the whole layer path
        blocks[block] = blocks.get(block, 0) + count
    # conv_in: 7x7, 5 -> 4 channels at 16x32; the ResNet block: two 3x3 8 -> 8 at 8x16
    conv_in = sum(v for k, v in blocks.items() if "conv_in/conv/" in k)
    assert conv_in == 2 * 16 * 32 * 7 * 7 * 5 * 4, sorted(blocks)
    block = sum(v for k, v in blocks.items() if "block_0/Conv2D" in k)
    assert 2 * (2 * 8 * 16 * 9 * 8 * 8) <= block < 1.1 * 2 * (2 * 8 * 16 * 9 * 8 * 8)
    table = bench.profile_table({
        "case": "p2phd_global_32x16", "precision": "float32", "batch": 1,
        "wall": {"median_s": 0.01}, "op_ms_total": 9.0, "gflop_total": 0.1,
        "blocks": [{"block": "global_generator/block_0", "ms": 4.0, "share": 0.44,
                    "gflop": 0.05, "gflop_per_s": 12}],
        "op_types": {"Conv2D": 5.0}})
    assert "| global_generator/block_0 | 4.0 | 44.0% | 0.05 | 12 |" in table


def test_benchmark_compare_runs_scripts_that_exist():
    """Every side of every default case starts a script of this repository or
    the reference's ref_bench.py (a moved script would fail only in compare)."""
    import argparse
    import os

    bench = _benchmark_module()
    args = argparse.Namespace(torch_python=sys.executable, ref_bench="REF/ref_bench.py",
                              ref="REF")
    for case, batch in bench.COMPARE_CASES:
        bench.parse_case(case)
        for side in bench.SIDES:
            command, _ = bench._side_command(side, case, batch, 1, args)
            script = command[1]
            assert script == "REF/ref_bench.py" or os.path.isfile(script), (side, case, script)
    command, _ = bench._side_command("official", "quickstart_train", 1, 1, args)
    assert command[1].endswith("dev/bench_official.py")  # ref_bench.py has no such case
    # the GPU run: both codes on CUDA, tfsem in each precision / XLA / MirroredStrategy
    args.device = "gpu"
    for case, batch in bench.GPU_CASES:
        bench.parse_case(case)
        for side in bench.GPU_SIDES:
            command, _ = bench._side_command(side, case, batch, 1, args)
            assert os.path.isfile(command[1]), (side, case)
            if side.startswith("official"):
                assert command[-2:] == ["--device", "cuda"] or "float16" in command
    assert not bench._applies("tfsem_mirrored", "spade_fwd_512x256", 4)
    assert bench._applies("tfsem_mirrored", "spade_train_512x256", 1)
    rows = [{"case": "spade_train_512x256", "batch": 1, "sides": {
        "official": bench._summary([{"median_s": 0.3}]),
        "tfsem_fp16": bench._summary([{"median_s": 0.1}])}}]
    assert "| spade_train_512x256 | 1 | 0.30 s | 0.10 s (3.00x) | - |" in \
        bench.gpu_table(rows, ["official", "tfsem_fp16", "tfsem_xla"])


@pytest.mark.slow  # the benchmark's full-width SPADE (~1 min here)
def test_benchmark_training_case_runs_under_mirrored_strategy():
    """The GPU run's MirroredStrategy side, on this machine's CPU at a tiny size."""
    import math

    bench = _benchmark_module()
    step, _, _ = bench.build_case("spade_train_64x32", "float32", strategy="mirrored")
    assert math.isfinite(step())
    with pytest.raises(ValueError, match="mirrored for a training case"):
        bench.build_case("spade_fwd_64x32", "float32", strategy="mirrored")


@pytest.mark.slow
def test_benchmark_quickstart_case_builds_the_same_networks_on_both_sides():
    """The official side of ``quickstart_train`` (its options from
    configs/quickstart.json, SPADE's hidden width set by rebuilding its convs)
    has exactly the parameters of tfsem's quickstart G and D."""
    import os

    from tests.testing import reference_dir

    pytest.importorskip("torch")
    reference = reference_dir()
    script = f"""
import sys
sys.path.insert(0, {REPO + '/dev'!r})
import bench_official as b
ref = b.load_ref_bench({reference + '/tools/ref_bench.py'!r})
iteration = b.quickstart(ref, ref.torch, {REPO + '/configs/quickstart.json'!r})
trainer = next(c.cell_contents for c in iteration.__closure__
               if type(c.cell_contents).__name__ == "Pix2PixTrainer")
model = trainer.pix2pix_model
print(sum(p.numel() for p in model.netG.parameters()),
      sum(p.numel() for p in model.netD.parameters()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=dict(os.environ, REF=os.path.join(reference, "code")), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = tuple(int(v) for v in out.stdout.split()[-2:])
    bench = _benchmark_module()
    step, body, _ = bench.build_quickstart("float32")
    step()  # one training step: every variable exists
    model = body.__self__
    ours = tuple(sum(int(v.shape.num_elements()) for v in net.trainable_variables)
                 for net in (model.generator, model.discriminator))
    assert ours == theirs


def test_semgan_report_target_checks_read_the_bands_both_ways():
    """dev/semgan_report.py --targets: diversity from below, TV from above,
    regions and isolated pixels within 1.5x of the data's either way."""
    report = _dev_module("semgan_report")
    data = {"data_pairwise_difference": 0.4, "data_regions_per_map": 24.0,
            "data_isolated_pixel_fraction": 0.0002}
    good = dict(data, pairwise_difference=0.361, class_tv_distance=0.05, regions_per_map=16.1,
                isolated_pixel_fraction=0.0003)
    assert all(met for *_, met in report.target_checks(good))
    bad = dict(data, pairwise_difference=0.35, class_tv_distance=0.051, regions_per_map=15.9,
               isolated_pixel_fraction=0.00031)
    assert [met for *_, met in report.target_checks(bad)] == [False] * 4
    assert not report.target_checks(dict(good, regions_per_map=36.1))[2][-1]
    assert not report.target_checks(dict(good, isolated_pixel_fraction=0.00013))[3][-1]
    text = report.targets_text([{"kind": "a", "label_maps": good},
                                {"kind": "b", "label_maps": bad}])
    assert "a: meets all targets" in text
    assert "b: misses diversity, class TV, regions per map, isolated pixels" in text
    assert "regions per map: 15.9 (target 16..36) MISSED" in text
