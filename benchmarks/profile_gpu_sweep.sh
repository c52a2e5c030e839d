#!/usr/bin/env bash
# GPU sweep of the profiler (issue 5). Run from the repository root on a CUDA machine:
#     bash benchmarks/profile_gpu_sweep.sh            # about 5-7 minutes on one H100
#     COMPILE=1 bash benchmarks/profile_gpu_sweep.sh  # adds torch.compile rows (several minutes more)
# Steps run most important first. Each configuration is appended the moment it
# finishes; re-running the script skips (--resume) what is already recorded on this GPU.
# Writes:
#   reports/gpu/networks.csv                   googlenet, inception_v3, inception_v4 x batch 1..256:
#                                              fp32 eager, tf32 eager, bf16+channels_last eager,
#                                              bf16+channels_last CUDA graphs (+ compile with COMPILE=1)
#   reports/gpu/timer_check.csv              profile median / torch.utils.benchmark.Timer median
#   reports/gpu/naive_vs_reduced.csv           the GoogLeNet Fig. 2 module pair, fp32 and bf16
#   reports/gpu/per_layer.csv, per_layer.layers.csv
#                                              per-layer self times on the roofline, batch 64
#   reports/gpu/summary.md                     speed-ups, MAC vs time ratios, layers furthest
#                                              from their roofline
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=reports/gpu
mkdir -p "$DEST"
NETS="googlenet inception_v3 inception_v4"
BATCHES=1,8,32,64,128,256
P="python -m inception_cost profile --device cuda --format csv --resume"
stamp() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

python - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("error: no CUDA device visible")
print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version(), file=sys.stderr)
PY

stamp "networks: fp32 eager (TF32 off)"
$P $NETS --batch $BATCHES --dtype fp32 -o $DEST/networks.csv
stamp "networks: bf16 + channels_last, eager"
$P $NETS --batch $BATCHES --dtype bf16 --channels-last -o $DEST/networks.csv
stamp "networks: bf16 + channels_last, CUDA graphs"
$P $NETS --batch $BATCHES --dtype bf16 --channels-last --cuda-graphs -o $DEST/networks.csv
stamp "whole-model median vs torch.utils.benchmark.Timer"
python -m inception_cost.profiling.timer_check googlenet inception_v4 --device cuda --batch-size 1 \
  --dtype fp32 -o $DEST/timer_check.csv
python -m inception_cost.profiling.timer_check googlenet inception_v4 --device cuda --batch-size 64 \
  --dtype bf16 --channels-last -o $DEST/timer_check.csv
stamp "naive vs reduced Inception module (256x28x28)"
$P inception_naive inception_reduced --batch $BATCHES --dtype fp32,bf16 -o $DEST/naive_vs_reduced.csv
stamp "per-layer, batch 64: fp32 NCHW and bf16 channels_last"
$P $NETS --batch 64 --dtype fp32 --per-layer -o $DEST/per_layer.csv
$P $NETS --batch 64 --dtype bf16 --channels-last --per-layer -o $DEST/per_layer.csv
stamp "networks: tf32 eager"
$P $NETS --batch $BATCHES --dtype tf32 -o $DEST/networks.csv
if [ "${COMPILE:-0}" = "1" ]; then
  stamp "networks: bf16 + channels_last, torch.compile"
  $P $NETS --batch 1,32,256 --dtype bf16 --channels-last --compile -o $DEST/networks.csv
fi
stamp "summary"
python -m inception_cost.report.profile_summary $DEST/networks.csv --compare $DEST/naive_vs_reduced.csv \
  --layers $DEST/per_layer.layers.csv -o $DEST/summary.md
stamp "done"
ls -l $DEST >&2
