#!/usr/bin/env bash
# Issue 20's checks on a lent GPU, in one call of the device tool (about 6 minutes on an H100):
#   run(command="bash scripts/gpu_checks.sh", timeout_s=540)
# The device image's python3 holds a CUDA torch; a package it lacks (gradio, plotly) is carried
# as wheels (../.library/device/README.md). Results come back in $OUT.
set -u
export GRADIO_ANALYTICS_ENABLED=False PYTHONPATH=. EXPLORER_MODELS_DIR=/tmp/gpu-models EXPLORER_CACHE_DIR=/tmp/gpu-cache
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())" >> "$OUT/gpu.txt" 2>&1
# every run's answer on cuda against the CPU's, a seed's samples on both (tests/test_devices.py), and
# CUDA-graph replays against eager samples (tests/test_graphs.py)
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_devices.py tests/test_graphs.py > "$OUT/test-devices.txt" 2>&1
# sampling throughput, eager and as CUDA graphs, against the network's forward cost; the Reverse tab's default run
timeout 150 python3 -m benchmarks.sample --device cuda --graphs > "$OUT/sample.txt" 2>&1
# a Reverse run beside a training job on the GPU, with and without the job giving way
timeout 120 python3 -m benchmarks.beside_training > "$OUT/beside-training.txt" 2>&1
# mixed precision: quality and speed of bf16 and fp16 against float32
timeout 150 python3 -m benchmarks.precision > "$OUT/precision.txt" 2>&1
# the default spiral recipe's training time and quality
timeout 120 python3 -m benchmarks.train --device cuda --quick > "$OUT/train.txt" 2>&1
cp benchmarks/results/*cuda*.json "$OUT/" 2>/dev/null
tail -n 3 "$OUT"/*.txt
