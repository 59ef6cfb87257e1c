#!/usr/bin/env bash
# Device-side wrapper of benchmarks/gpu/parrot_moe_reduced.py (a reduced GPU check of parrot-moe-gpu
# on one H200, reached through the session's device `run` tool; not a CI step).
#
# The packages the device image lacks travel in two calls of one warm machine (together they exceed
# the 64 MiB a call may carry; see device_setup.sh): first `bash benchmarks/gpu/device_setup.sh .whlA`
# (carry .whlA), then this script at once (carry .whlB), which installs .whlB, checks the imports
# (exit 3/4 at once if anything is missing), samples nvidia-smi every 5 s into $OUT/smi.csv and runs
# the driver under a hard timeout; everything it prints goes to $OUT/log.txt.
#
#   bash benchmarks/gpu/run_on_device.sh        # env: OUT, DEADLINE_S (driver, default 500), HARD_S (530)
set -o pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MMDATA_CACHE=/tmp/mmcache \
  TOKENIZERS_PARALLELISM=false DEADLINE_S=${DEADLINE_S:-500} WORK=/tmp/gpu-check OUT
REPO=$PWD
{
  echo "== setup $(date -u +%FT%TZ)"
  [ -d /tmp/site/polars ] && [ -d /tmp/site/pyarrow ] || { echo "no /tmp/site/polars or pyarrow: run 'bash benchmarks/gpu/device_setup.sh .whlA' first on this warm machine"; exit 3; }
  bash benchmarks/gpu/device_setup.sh .whlB
} 2>&1 | tee "$OUT/log.txt" || { echo "setup failed"; exit 3; }
export PYTHONPATH=/tmp/site:$REPO
{
  echo "== machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  nproc; free -g | head -2; df -h /dev/shm /tmp | tail -2
  echo "== imports"
  python3 -c "
import importlib.metadata as m, sys
import torch, transformers, tokenizers, polars, duckdb, pydantic, orjson, typer, pyarrow.parquet
import mmdata.cli, mmdata.ablate.runner, mmdata.model.train, mmdata.bench.run, mmdata.recipe.build, mmdata.world.generate, mmdata.ablate.report
print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), 'bf16', torch.cuda.is_bf16_supported())
print({p: m.version(p) for p in ('transformers', 'tokenizers', 'polars', 'duckdb', 'pydantic', 'typer', 'jinja2', 'datasets', 'pyarrow', 'numpy', 'pillow')})
" || { echo "IMPORT CHECK FAILED"; exit 4; }
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu,power.draw --format=csv -l 5 > "$OUT/smi.csv" 2>&1 &
  SMI=$!
  timeout -k 10 "${HARD_S:-530}" python3 benchmarks/gpu/parrot_moe_reduced.py
  rc=$?
  kill "$SMI" 2>/dev/null
  for n in moe both; do [ -f "/tmp/gpu-check/$n/report.md" ] && cp "/tmp/gpu-check/$n/report.md" "$OUT/report-$n.md"; done
  [ -f /tmp/gpu-check/moe/rows.json ] && cp /tmp/gpu-check/moe/rows.json "$OUT/rows-moe.json"
  echo "== driver rc $rc"
  exit $rc
} 2>&1 | tee -a "$OUT/log.txt"
