"""One worker of the multi-worker test: trains a tiny GauGAN and saves its weights.

Usage: TF_CONFIG=... python tests/multiworker_task.py CONFIG.json RUN_DIR WEIGHTS.npz
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfsem.config import load_config  # noqa: E402
from tfsem.train.trainer import Trainer  # noqa: E402


def main():
    config_path, run_dir, weights_path = sys.argv[1:4]
    trainer = Trainer(load_config(config_path), run_dir)
    assert isinstance(trainer.strategy, tf.distribute.MultiWorkerMirroredStrategy)
    trainer.train()
    np.savez(weights_path, *[np.asarray(w) for w in trainer.model.get_weights()])
    print(f"worker done, chief={trainer.chief}, resumed_from={trainer.resumed_from}, "
          f"step={int(trainer.step.numpy())}")


if __name__ == "__main__":
    main()
