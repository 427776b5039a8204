#!/usr/bin/env bash
# The GPU measurement, prepared to run as one command on a machine with one
# CUDA GPU (the device tool's machines): tfsem against the official code on the
# same GPU, at the papers' sizes (SPADE training and forward at 512x256,
# pix2pixHD's G1 at 1024x512 and its local enhancer at 2048x1024), tfsem in
# float32, mixed_float16, XLA (jit_compile) and float32 under MirroredStrategy
# on the one GPU; the official code in fp32 and under torch.autocast float16.
#
#   bash dev/gpu_benchmark.sh [OUT_DIR]      (default: $OUT, else runs/bench_gpu)
#
# Needs TensorFlow with CUDA (pip install "tensorflow[and-cuda]==2.21.0") and a
# CUDA build of torch 2.13 in the same Python (or TORCH_PYTHON=...), and the
# official code in ../shared/reference (REF_DIR=...). About 25 processes of
# 20-40 s each: split it with SIDES=... or CASES=... where one command is
# limited (e.g. SIDES=official,tfsem,tfsem_fp16 then SIDES=tfsem_xla,...).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-runs/bench_gpu}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" || true
args=(compare --device gpu --rounds "${ROUNDS:-1}" --repeats "${REPEATS:-5}"
      --timeout "${TIMEOUT:-600}" --out "$out/bench_gpu.json")
[ -n "${SIDES:-}" ] && args+=(--sides "$SIDES")
[ -n "${CASES:-}" ] && args+=(--cases "$CASES")
[ -n "${TORCH_PYTHON:-}" ] && args+=(--torch-python "$TORCH_PYTHON")
[ -n "${REF_DIR:-}" ] && args+=(--ref "$REF_DIR/code" --ref-bench "$REF_DIR/tools/ref_bench.py")
python dev/benchmark.py "${args[@]}" 2> "$out/bench_gpu.log" | tee "$out/bench_gpu.md"
