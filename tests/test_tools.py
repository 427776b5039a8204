import json
import subprocess
import sys

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
    result = subprocess.run([sys.executable, f"{REPO}/tools/plot_oracle.py", "--run", str(run),
                             "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| 200 | 0.700 | 0.900 |" in result.stdout and "0.600" not in result.stdout
    assert Image.open(out).size == (640, 400)
